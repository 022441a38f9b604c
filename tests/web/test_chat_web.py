"""/web in chat: coordinators and leads get a sign-in link, contacts do not."""

from __future__ import annotations

import re

from models import ContactRole, WebLogin
from tests.bot.conftest import FakeUser, Harness

COORDINATOR = FakeUser(2002)
LEAD = FakeUser(3003)
CONTACT = FakeUser(1001)
LINK = re.compile(r"^http://127\.0\.0\.1:8080/login/([A-Za-z0-9_-]{43})$")


async def test_a_coordinator_and_a_lead_get_a_single_use_link(harness: Harness) -> None:
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    harness.join(LEAD, "区教体局", ContactRole.lead)
    for user in (COORDINATOR, LEAD):
        [answer] = await harness.say(user, "/web")
        first, link = answer.split("\n")
        assert first == "您的督办网页端登录链接（仅限本人，只能使用一次，10 分钟内有效）："
        assert LINK.match(link)
    sent = [p for endpoint, p in harness.request.calls if endpoint == "sendMessage"]
    # no link preview: a preview fetch must not be what opens the link first
    assert [p.get("link_preview_options") for p in sent[-2:]] == [{"is_disabled": True}] * 2
    assert len(harness.rows(WebLogin)) == 2


async def test_a_contact_gets_no_link(harness: Harness) -> None:
    harness.join(CONTACT, "区教体局")
    assert await harness.say(CONTACT, "/web") == ["抱歉，您无权使用此功能。"]
    assert harness.rows(WebLogin) == []


async def test_help_offers_web_to_readers_only(harness: Harness) -> None:
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    harness.join(CONTACT, "区教体局")
    assert "/web — 获取网页端登录链接（台账、通报）" in (await harness.say(COORDINATOR, "/help"))[0]
    assert "/web" not in (await harness.say(CONTACT, "/help"))[0]
