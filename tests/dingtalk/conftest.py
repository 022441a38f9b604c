"""The DingTalk stand-in on loopback, with every proxy variable cleared (websockets and httpx honour them); and
every text a DingTalk test receives is checked for a Telegram command (DingTalk people type words, not /commands).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from bot.core.commands import Answer, CommandCore
from bot.core.message import Message
from bot.dingtalk import channel
from bot.dingtalk.api import DingTalkApi
from tests.standins.dingtalk import DingTalkStandIn

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


# a slash and a word, not inside a web address (http://host/login/…) or a path
TELEGRAM_COMMAND = re.compile(r"(?<![\w/:.<])/[A-Za-z]+")


def visible(message: Message) -> list[str]:
    """What a person reads of a message: title, headings, lines, footer and the labels of its links (a link's
    target is the command it sends back, which the person never types)."""
    lines = [message.title, *(message.footer or "",), *(action.label for action in message.actions)]
    for section in message.sections:
        lines += [section.heading or "", *section.lines]
    return lines


def telegram_commands(messages: list[Message]) -> list[str]:
    return [line for message in messages for line in visible(message) if TELEGRAM_COMMAND.search(line)]


@pytest.fixture(autouse=True)
def dingtalk_words_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Message]]:
    """Every answer of the command core and every message the DingTalk channel sends, checked after the test."""
    received: list[Message] = []
    answer, render = CommandCore.answer, channel.render

    def recording_answer(self: CommandCore, *args: Any, **kwargs: Any) -> Answer:
        result = answer(self, *args, **kwargs)
        received.extend(result.messages)
        return result

    def recording_render(message: Message) -> Any:
        received.append(message)
        return render(message)

    monkeypatch.setattr(CommandCore, "answer", recording_answer)
    monkeypatch.setattr(channel, "render", recording_render)
    yield received
    assert telegram_commands(received) == [], "a DingTalk text teaches a Telegram command"


@pytest.fixture
def standin() -> Iterator[DingTalkStandIn]:
    server = DingTalkStandIn(staff={"staff-001", "staff-002", "staff-003", "staff-999"})
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def api(standin: DingTalkStandIn) -> AsyncIterator[DingTalkApi]:
    client = DingTalkApi(
        client_id=standin.client_id,
        client_secret=standin.client_secret,
        base_url=standin.url,
        http=httpx.AsyncClient(timeout=5, trust_env=False),
    )
    yield client
    await client.aclose()
