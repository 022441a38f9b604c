"""Secrets never reach a log, whichever process and channel writes it.

httpx writes every request URL at INFO, and URLs carry credentials: the Telegram token (/bot<token>/…), DingTalk's
legacy access_token query, a group robot's access_token, key or hook id and its signature, a sign-in link's token,
an invitation's start= code. Two fences, installed by the CLI's logging set-up for every command:
- httpx and httpcore log at WARNING at most (their INFO and DEBUG lines are request URLs);
- every log record created in this process has its message (and its exception text) cleaned before any handler
  sees it: each secret registered here replaced, and the credential parts of such URLs masked by pattern.
A record factory, not a handler or logger filter: a filter on one logger does not see its children's records, and a
handler filter does not protect handlers added later (pytest's caplog, a library's own).
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "<redacted>"
# (pattern, replacement): the credential part of the URLs and texts duban and its libraries log
_PATTERNS = (
    (re.compile(r"(/bot)\d+:[\w-]+"), r"\1<bot-token>"),  # Telegram's Bot API and file URLs
    (re.compile(r"([?&](?:access_token|sign|key|token|ticket)=)[^&\s\"'<>]+"), rf"\1{REDACTED}"),
    (re.compile(r"(/hook/)[\w-]+"), rf"\1{REDACTED}"),  # a Feishu webhook's id is its credential
    (re.compile(r"(/login/)[\w-]{16,}"), rf"\1{REDACTED}"),  # a dashboard sign-in link
    (re.compile(r"(start=)[\w-]{16,}"), rf"\1{REDACTED}"),  # an invitation link
)
_secrets: set[str] = set()
_installed: list[bool] = []


def clean(text: str) -> str:
    """The text with every registered secret and every credential-bearing URL part masked."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def database_url(url: str) -> str:
    """A database URL to show the operator: the password masked (SQLAlchemy's own rendering)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # the settings accepted it, so this is only for safety
        return clean(url)


def keep_out_of_logs(*secrets: str | None) -> None:
    """Register values no log line may show (a token, a client secret, an access token fetched at run time)."""
    _secrets.update(s for s in secrets if s and len(s) >= 6)  # a short value would mask ordinary words
    install()


def install() -> None:
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if not _installed:
        logging.setLogRecordFactory(_cleaning_factory(logging.getLogRecordFactory()))
        _installed.append(True)


def _cleaning_factory(make: Any) -> Any:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except (
            TypeError,
            ValueError,
        ):  # a call with the wrong arguments: logging reports it, we change nothing
            return record
        cleaned = clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[0] is not None:
            # a failed request's exception names its URL: the traceback is formatted now, cleaned, and kept
            record.exc_text = clean(logging.Formatter().formatException(record.exc_info))
        return record

    return factory
