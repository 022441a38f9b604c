"""The DingTalk stand-in on loopback, with every proxy variable cleared (websockets and httpx honour them)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from bot.dingtalk.api import DingTalkApi
from tests.standins.dingtalk import DingTalkStandIn

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


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
