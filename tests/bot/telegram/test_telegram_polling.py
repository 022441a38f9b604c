"""Telegram lost and back, said once each by the running process, not once per failed getUpdates."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import pytest
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest

from bot.i18n import gettext_for
from bot.telegram.polling import Connection, WatchedRequest
from duban.operations import TranslatingFormatter


class Scripted(BaseRequest):
    """getUpdates answering as scripted: an exception to raise, or a success."""

    def __init__(self, outcomes: list[Exception | None]) -> None:
        self.outcomes = outcomes

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(self, *args: object, **kwargs: object) -> tuple[int, bytes]:  # type: ignore[override]
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return 200, b'{"ok": true, "result": []}'


class Said(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(TranslatingFormatter("%(message)s", gettext_for("zh_CN")))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def said() -> Iterator[Said]:
    handler = Said()
    logger = logging.getLogger("tests.process")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)


def test_an_outage_is_said_when_it_begins_and_when_it_ends(said: Said) -> None:
    down = NetworkError("httpx.ConnectError: All connection attempts failed")
    connection = Connection(logging.getLogger("tests.process"))
    connection.announce = True
    request = WatchedRequest(
        Scripted([None, down, down, TimedOut(), down, None, None, TimedOut(), None]), connection
    )

    async def poll(times: int) -> None:
        for _ in range(times):
            with contextlib.suppress(NetworkError):
                await request.do_request("https://api.telegram.org/bot1:x/getUpdates", "POST")

    asyncio.run(poll(9))

    assert said.lines == [
        "Telegram：与 Bot API 的连接中断（httpx.ConnectError: All connection attempts failed），正在重试",
        "Telegram：已重新连接",
    ]


def test_nothing_is_said_before_the_start_lines(said: Said) -> None:
    connection = Connection(logging.getLogger("tests.process"))
    request = WatchedRequest(Scripted([NetworkError("down"), None]), connection)

    async def poll() -> None:
        with pytest.raises(NetworkError):
            await request.do_request("u", "POST")
        await request.do_request("u", "POST")

    asyncio.run(poll())
    assert said.lines == []
