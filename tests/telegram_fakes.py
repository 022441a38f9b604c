"""A Bot API stand-in at the request layer: records every call and answers as Telegram would."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

from telegram.request import BaseRequest, RequestData

BOT_ID = 424242
TOKEN = f"{BOT_ID}:TEST-token-not-real"


def too_many_requests(retry_after: int) -> tuple[int, dict[str, Any]]:
    return 429, {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }


def server_error() -> tuple[int, dict[str, Any]]:
    return 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}


def blocked_by_user() -> tuple[int, dict[str, Any]]:
    return 403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}


class RecordingRequest(BaseRequest):
    """Answers like the Bot API and remembers every call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._message_ids = itertools.count(1000)
        # endpoint -> answers to give before answering normally again, e.g. a 429 then success
        self.failures: dict[str, list[tuple[int, dict[str, Any]]]] = {}

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        self.calls.append((endpoint, params))
        if self.failures.get(endpoint):
            status, body = self.failures[endpoint].pop(0)
            return status, json.dumps(body).encode()
        return 200, json.dumps({"ok": True, "result": self._result(endpoint, params)}).encode()

    def _result(self, endpoint: str, params: dict[str, Any]) -> Any:
        if endpoint == "getMe":
            return {"id": BOT_ID, "is_bot": True, "first_name": "督办", "username": "duban_test_bot"}
        if endpoint in ("sendMessage", "editMessageText", "sendPhoto"):
            return {
                "message_id": params.get("message_id") or next(self._message_ids),
                "date": int(dt.datetime.now(dt.UTC).timestamp()),
                "chat": {"id": int(params.get("chat_id", 0)), "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "督办"},
                "text": params.get("text", ""),
            }
        return True

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Messages the user would see: sent and edited texts, and popup answers."""
        shown = []
        for endpoint, params in self.calls:
            if endpoint in ("sendMessage", "editMessageText") and (
                chat_id is None or int(params.get("chat_id", chat_id)) == chat_id
            ):
                shown.append(params)
        return shown
