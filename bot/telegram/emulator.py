"""Talk to the ``telegram-test-api`` 4.2.1 Bot API emulator (npm) as if it were Telegram.

The emulator is good enough for end-to-end tests, but some of its answers do not parse in
python-telegram-bot 22. :class:`EmulatorRequest` is an ``HTTPXRequest`` whose :meth:`do_request`
(the public hook every Bot API call goes through) rewrites those answers into what the real Bot
API would send. Each fix, and why it is needed:

* getMe has no ``is_bot``                     -> add ``is_bot: true`` (``User`` requires it).
* message dates are in milliseconds           -> seconds, anywhere in the answer (``date``,
                                                 ``edit_date``, ``forward_date``; also nested
                                                 ``reply_to_message``, ``callback_query.message``).
* editMessageText/editMessageReplyMarkup      -> build the edited ``Message`` from the request
  answer ``null``                                (PTB parses the result as a ``Message``;
                                                 ``True`` when edited by ``inline_message_id``).
* answerCallbackQuery, deleteMessage,         -> ``true``, as Telegram answers.
  setWebhook answer ``null``
* a failed call (e.g. deleteMessage of an     -> HTTP status := ``error_code`` so PTB raises
  unknown message) answers HTTP 200 ok:false     ``BadRequest`` (PTB would die on a KeyError).
* unsupported methods answer HTTP 500         -> carry the emulator's text into ``description``
  ``{"message": ...}``                           so the ``NetworkError`` says what went wrong.
* callback queries lack ``chat_instance``     -> add one (the chat id); PTB requires it.
* callback_query.message may lack ``date``    -> add it / drop a message without ``message_id``.
* sendMessage echoes the request fields back  -> decode the JSON strings PTB sent
  as the "sent" message                          (``link_preview_options`` & co.), else
                                                 ``Message.de_json`` fails; drop ``botToken``.
* getUpdates ignores ``offset``               -> drop updates with ``update_id < offset`` so PTB
                                                 never handles an update twice.
* deleteWebhook ignores                       -> fetch-and-discard the pending updates, as
  ``drop_pending_updates``                       Telegram does.
* setMyCommands, sendChatAction & other       -> answered locally (see ``LOCAL_RESULTS``)
  cosmetic methods are not implemented (500)     so a bot that sets its menu at start-up runs.

Still different from Telegram (not fixable here): getUpdates ignores ``timeout`` (no long
polling: use a short ``poll_interval``, e.g. 0.1 s) and ``limit``; ``allowed_updates`` is
ignored; anything else the emulator does not implement (sendPhoto, getFile ...) fails with a
``NetworkError``.

Use::

    base = "http://127.0.0.1:9000"          # where tests/e2e/emulator_server.js listens
    app = (
        Application.builder()
        .token(token)
        .base_url(f"{base}/bot")            # PTB appends the token: {base}/bot<token>/<method>
        .base_file_url(f"{base}/file/bot")  # the emulator serves no files; keeps PTB off Telegram
        .request(EmulatorRequest())
        .get_updates_request(EmulatorRequest())
        .build()
    )
    await app.updater.start_polling(poll_interval=0.1)
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import Any

from telegram.request import HTTPXRequest, RequestData

__all__ = ["LOCAL_RESULTS", "EmulatorRequest", "fix_response"]

_LOGGER = logging.getLogger(__name__)

#: Methods the emulator does not implement whose effect a test cannot see anyway: answered here.
LOCAL_RESULTS: dict[str, Any] = {
    "setMyCommands": True,
    "deleteMyCommands": True,
    "getMyCommands": [],
    "setMyDescription": True,
    "setMyShortDescription": True,
    "setMyName": True,
    "setChatMenuButton": True,
    "sendChatAction": True,
}

_MS_DATES_FROM = 10**11  # as seconds: year 5138; as milliseconds: 1973
_DATE_KEYS = frozenset({"date", "edit_date", "forward_date"})
# Object fields PTB sends as JSON strings (form encoding) which the emulator echoes back verbatim.
_JSON_STRING_KEYS = frozenset({"entities", "caption_entities", "reply_markup", "link_preview_options"})
_EDIT_METHODS = frozenset({"editMessageText", "editMessageReplyMarkup"})


class EmulatorRequest(HTTPXRequest):
    """``HTTPXRequest`` that makes telegram-test-api's answers look like the real Bot API's."""

    __slots__ = ()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        write_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        connect_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        pool_timeout: Any = HTTPXRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        endpoint = url.rstrip("/").rsplit("/", 1)[-1]
        params: dict[str, Any] = request_data.parameters if request_data else {}
        if method == "POST" and endpoint in LOCAL_RESULTS:
            return 200, json.dumps({"ok": True, "result": LOCAL_RESULTS[endpoint]}).encode()

        timeouts = {
            "read_timeout": read_timeout,
            "write_timeout": write_timeout,
            "connect_timeout": connect_timeout,
            "pool_timeout": pool_timeout,
        }
        status, payload = await super().do_request(url, method, request_data, **timeouts)
        if method != "POST":  # file downloads (GET) are not Bot API JSON
            return status, payload

        if endpoint == "deleteWebhook" and params.get("drop_pending_updates") and status < 300:
            # the emulator hands out each update once: reading them now drops them
            await super().do_request(url[: -len(endpoint)] + "getUpdates", "POST", None, **timeouts)

        try:
            body = json.loads(payload)
        except ValueError:
            return status, payload
        if not isinstance(body, dict):
            return status, payload
        status, body = fix_response(endpoint, params, status, body)
        return status, json.dumps(body).encode()


def fix_response(
    endpoint: str, params: dict[str, Any], status: int, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """The (HTTP status, JSON body) Telegram would have answered to ``endpoint`` with ``params``."""
    if status >= 300:
        if "description" not in body and "message" in body:
            body = {"ok": False, "error_code": status, "description": f"telegram-test-api: {body['message']}"}
        return status, body
    if body.get("ok") is False:
        return int(body.get("error_code") or 400), body

    result = body.get("result")
    if endpoint == "getMe" and isinstance(result, dict):
        result.setdefault("is_bot", True)
    elif endpoint in _EDIT_METHODS and result is None:
        result = _edited_message(params)
    elif endpoint == "getUpdates" and isinstance(result, list):
        result = _fix_updates(result, params.get("offset"))
    if result is None:
        result = True
    return status, {**body, "result": _normalize(result)}


def _fix_updates(updates: list[Any], offset: Any) -> list[Any]:
    if isinstance(offset, int) and offset > 0:
        dropped = [u.get("update_id") for u in updates if u.get("update_id", offset) < offset]
        if dropped:
            _LOGGER.debug("dropping already confirmed updates %s (offset %s)", dropped, offset)
        updates = [u for u in updates if u.get("update_id", offset) >= offset]
    for update in updates:
        query = update.get("callback_query")
        if not isinstance(query, dict):
            continue
        message = query.get("message")
        if isinstance(message, dict):
            if "message_id" not in message or "chat" not in message:
                query.pop("message")  # PTB cannot build a Message without them
                message = None
            else:
                message.setdefault("date", int(time.time()))
        chat_id = message["chat"].get("id") if message else None
        query.setdefault("chat_instance", f"emulator-{chat_id if chat_id is not None else 'inline'}")
    return updates


def _edited_message(params: dict[str, Any]) -> dict[str, Any] | bool:
    """Telegram answers an edit with the edited message, or ``True`` for inline messages."""
    chat_id, message_id = params.get("chat_id"), params.get("message_id")
    if chat_id is None or message_id is None:
        return True
    now = int(time.time())
    try:
        chat: dict[str, Any] = {"id": int(chat_id), "type": "private" if int(chat_id) > 0 else "group"}
    except (TypeError, ValueError):  # "@channelusername"
        chat = {"id": 0, "type": "channel", "username": str(chat_id).lstrip("@")}
    message: dict[str, Any] = {"message_id": int(message_id), "date": now, "edit_date": now, "chat": chat}
    for key in ("text", "entities", "reply_markup", "link_preview_options"):
        if params.get(key) is not None:
            message[key] = params[key]
    return message


def _normalize(value: Any) -> Any:
    """Recursively: millisecond dates -> seconds, echoed JSON strings -> objects, no ``botToken``."""
    if isinstance(value, list):
        return [_normalize(item) for item in value]
    if not isinstance(value, dict):
        return value
    fixed: dict[str, Any] = {}
    for key, item in value.items():
        if key == "botToken":
            continue
        if key in _DATE_KEYS and isinstance(item, int | float) and item >= _MS_DATES_FROM:
            item = int(item) // 1000
        elif key in _JSON_STRING_KEYS and isinstance(item, str) and item[:1] in ("{", "["):
            with contextlib.suppress(ValueError):  # not JSON after all: leave it
                item = json.loads(item)
        fixed[key] = _normalize(item)
    return fixed
