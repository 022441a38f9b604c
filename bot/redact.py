"""The bot token never reaches a log: httpx writes every request URL (which carries it) at INFO, and PTB's repr of
the bot names it.

Two fences: httpx and httpcore log at WARNING at most (their INFO and DEBUG lines are request URLs), and every log
record created in this process has the token replaced before any handler sees it. The second is a record factory,
not a handler or logger filter, because a filter on "telegram" does not see records of "telegram.ext.…" and a
handler filter does not protect handlers added later (pytest's caplog, a library's own).
"""

import logging
from typing import Any

REDACTED = "<bot-token>"
_tokens: set[str] = set()
_installed: list[bool] = []


def _redacting_factory(make: Any) -> Any:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = make(*args, **kwargs)
        if _tokens:
            message = record.getMessage()
            if any(token in message for token in _tokens):
                for token in _tokens:
                    message = message.replace(token, REDACTED)
                record.msg, record.args = message, None
        return record

    return factory


def keep_token_out_of_logs(token: str) -> None:
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if token:
        _tokens.add(token)
    if not _installed:
        logging.setLogRecordFactory(_redacting_factory(logging.getLogRecordFactory()))
        _installed.append(True)
