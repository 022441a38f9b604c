"""The OpenAPI client against the stand-in: one token shared and refreshed, DingTalk's errors as delivery errors."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import Session

from bot.core.message import Message, Section
from bot.dingtalk.api import REFRESH_MARGIN_SECONDS, DingTalkApi, delivery_error
from bot.dingtalk.channel import DingTalkSender, dingtalk_deliver
from bot.dingtalk.pacing import DingTalkPacer
from duban.services.invites import create_invite, redeem_invite, resolve_department
from duban.services.outbox import enqueue
from models import ContactRole
from scheduler.delivery import MessageRejected, RecipientUnreachable, RetryLater, TransientFailure
from tests.scheduler.conftest import FakeTime
from tests.standins.dingtalk import DingTalkStandIn

TZ = ZoneInfo("Asia/Shanghai")  # the settings' default

MARKDOWN = {"title": "督办", "text": "#### 督办提醒"}


def sender(api: DingTalkApi) -> DingTalkSender:
    """The DingTalk sender, its pacing on a clock that moves only when it waits."""
    time = FakeTime()
    return DingTalkSender(api, DingTalkPacer(clock=time.clock, sleep=time.sleep))


async def test_a_message_reaches_the_user_with_the_robot_code_and_markdown(
    api: DingTalkApi, standin: DingTalkStandIn
) -> None:
    receipt = await api.send_to_user("staff-001", "sampleMarkdown", MARKDOWN)

    sent = await standin.next_sent()
    assert sent["userIds"] == ["staff-001"]
    assert sent["robotCode"] == standin.robot_code
    assert sent["msgKey"] == "sampleMarkdown"
    assert sent["msgParam"] == MARKDOWN
    assert receipt.process_query_key


async def test_one_token_serves_many_sends(api: DingTalkApi, standin: DingTalkStandIn) -> None:
    for _ in range(3):
        await api.send_to_user("staff-001", "sampleMarkdown", MARKDOWN)
    assert standin.recorded.tokens_issued == 1


async def test_the_token_is_refreshed_before_dingtalk_says_it_expires(standin: DingTalkStandIn) -> None:
    now = [1000.0]
    api = DingTalkApi(
        client_id=standin.client_id,
        client_secret=standin.client_secret,
        base_url=standin.url,
        http=httpx.AsyncClient(timeout=5, trust_env=False),
        clock=lambda: now[0],
    )
    first = await api.access_token()
    now[0] += standin.token_ttl - REFRESH_MARGIN_SECONDS - 1
    assert await api.access_token() == first
    now[0] += 2  # inside the margin: fetched anew although DingTalk would still take the old one
    assert await api.access_token() != first
    assert standin.recorded.tokens_issued == 2
    await api.aclose()


async def test_a_token_dingtalk_refuses_is_dropped_and_the_send_made_once_more(
    api: DingTalkApi, standin: DingTalkStandIn
) -> None:
    await api.send_to_user("staff-001", "sampleMarkdown", MARKDOWN)
    standin.revoke_tokens()

    await api.send_to_user("staff-001", "sampleMarkdown", MARKDOWN)

    assert standin.recorded.tokens_issued == 2
    assert len(standin.recorded.sent) == 2


async def test_wrong_app_credentials_keep_the_message_for_later(standin: DingTalkStandIn) -> None:
    api = DingTalkApi(
        client_id=standin.client_id,
        client_secret="not-the-secret",
        base_url=standin.url,
        http=httpx.AsyncClient(timeout=5, trust_env=False),
    )
    with pytest.raises(TransientFailure):
        await api.send_to_user("staff-001", "sampleMarkdown", MARKDOWN)
    assert standin.recorded.sent == []
    await api.aclose()


async def test_a_user_dingtalk_does_not_know_is_unreachable(
    api: DingTalkApi, standin: DingTalkStandIn
) -> None:
    with pytest.raises(RecipientUnreachable):
        await api.send_to_user("left-the-county", "sampleMarkdown", MARKDOWN)


async def test_a_malformed_message_is_rejected_not_retried(api: DingTalkApi) -> None:
    with pytest.raises(MessageRejected, match="msgParam"):
        await api.send_to_user("staff-001", "sampleMarkdown", {"title": "no text"})


async def test_an_unreachable_dingtalk_is_a_transient_failure(standin: DingTalkStandIn) -> None:
    api = DingTalkApi(
        client_id="x",
        client_secret="y",
        base_url="http://127.0.0.1:9",  # the discard port: nothing listens
        http=httpx.AsyncClient(timeout=2, trust_env=False),
    )
    with pytest.raises(TransientFailure):
        await api.send_to_user("staff-001", "sampleMarkdown", MARKDOWN)
    await api.aclose()


async def test_throttling_on_send_asks_to_retry_later(api: DingTalkApi, standin: DingTalkStandIn) -> None:
    standin.send_faults.append((403, {"code": "Forbidden.AccessDenied.QpsLimitForApi", "message": "qps"}))
    with pytest.raises(RetryLater) as raised:
        await api.send_to_user("staff-001", "sampleMarkdown", MARKDOWN)
    assert raised.value.seconds == 2.0


@pytest.mark.parametrize(
    ("status", "body", "retry_after", "expected"),
    [
        (429, {}, "7", RetryLater),
        (403, {"code": "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"}, None, RetryLater),
        (500, {"code": "ServiceUnavailable"}, None, TransientFailure),
        (503, {}, None, TransientFailure),
        (403, {"code": "Forbidden.AccessDenied.AccessTokenPermissionDenied"}, None, TransientFailure),
        (400, {"code": "invalidParameter.msgKey.invalid"}, None, MessageRejected),
    ],
)
def test_dingtalk_answers_map_onto_the_dispatchers_failures(
    status: int, body: dict[str, str], retry_after: str | None, expected: type[Exception]
) -> None:
    error = delivery_error(status, body, retry_after)
    assert type(error) is expected
    if retry_after:
        assert isinstance(error, RetryLater) and error.seconds == 7.0


async def test_a_picture_the_user_sent_is_downloaded_by_its_code(
    api: DingTalkApi, standin: DingTalkStandIn
) -> None:
    standin.files["code-1"] = b"\x89PNG evidence"
    assert await api.download("code-1") == b"\x89PNG evidence"


async def test_the_digest_chart_follows_the_text_as_an_uploaded_image(
    api: DingTalkApi, standin: DingTalkStandIn
) -> None:
    chart = b"\x89PNG\r\n\x1a\n the chart"
    api.legacy_base_url = standin.url
    digest = Message(title="本周进度摘要", sections=(Section(lines=("🟢 12 · 🔴 3",)),), image=chart)

    await sender(api).deliver_to_dingtalk("staff-001", digest)

    text, image = standin.recorded.sent
    assert text["msgKey"] == "sampleMarkdown" and image["msgKey"] == "sampleImageMsg"
    assert standin.media[image["msgParam"]["photoURL"]] == chart


async def test_an_upload_with_a_refused_token_fetches_a_new_one(
    api: DingTalkApi, standin: DingTalkStandIn
) -> None:
    api.legacy_base_url = standin.url
    await api.access_token()
    standin.revoke_tokens()
    media_id = await api.upload_image(b"\x89PNG")
    assert standin.media[media_id] == b"\x89PNG"
    assert standin.recorded.tokens_issued == 2


async def test_an_outbox_row_for_a_dingtalk_contact_goes_to_their_dingtalk_id(
    api: DingTalkApi, standin: DingTalkStandIn, seeded: Session
) -> None:
    now = dt.datetime(2025, 6, 2, tzinfo=dt.UTC)
    department = resolve_department(session=seeded, name="区科技局")
    issued = create_invite(
        session=seeded, department=department, role=ContactRole.contact, now=now, ttl=dt.timedelta(days=7)
    )
    contact = redeem_invite(
        session=seeded, token=issued.token, dingtalk_user_id="staff-002", language="zh_CN", now=now
    )
    telegram_only = create_invite(
        session=seeded, department=department, role=ContactRole.contact, now=now, ttl=dt.timedelta(days=7)
    )
    redeem_invite(session=seeded, token=telegram_only.token, telegram_user_id=5, language="zh_CN", now=now)
    rows = [
        enqueue(session=seeded, key=f"k{c.id}", kind="reminder", contact=c, due_at=now, tz=TZ)
        for c in (contact, telegram_only.contact)
    ]
    assert rows[0] is not None and rows[1] is not None
    deliver = dingtalk_deliver(sender(api), lambda session, rows: Message(title="⏰ 提醒"))

    assert await deliver(seeded, [rows[0]]) is not None
    assert (await standin.next_sent())["userIds"] == ["staff-002"]
    with pytest.raises(RecipientUnreachable):
        await deliver(seeded, [rows[1]])
