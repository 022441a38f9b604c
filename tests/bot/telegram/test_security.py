"""What an attack on the bot found (issue 11), each as the user or operator would meet it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, select
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.telegram.app import build_application, conversation_persistence
from bot.telegram.runtime import Runtime
from bot.telegram.webhook import SECRET_HEADER, WEBHOOK_PATH, derive_secret, webhook_app
from duban.config import Settings
from duban.services.errors import InviteInvalid
from duban.services.invites import create_invite, redeem_invite, resolve_department
from models import AuditEntry, CloseoutRequest, Contact, ContactRole, Invite, Notification, ProgressReport
from tests.bot.conftest import FakeUser, Harness
from tests.telegram_fakes import TOKEN, RecordingRequest

CONTACT = FakeUser(1001)
COORDINATOR = FakeUser(2002)
OTHER_COORDINATOR = FakeUser(2003)
UNDO_HINT = "\n识别有误？请在 10 分钟内点击“撤销”。"


# ---------------------------------------------------------------- #3 revocation


async def test_a_coordinator_lists_and_revokes_and_the_next_update_is_refused(harness: Harness) -> None:
    contact = harness.join(CONTACT, "区教体局")
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    [listing] = await harness.say(COORDINATOR, "/contacts")
    assert listing.startswith("<b>有使用权限的人员</b>（用 /revoke 编号 撤销权限）")
    assert f"\n{contact.id}. 区教体局 · 联络员" in listing

    assert await harness.say(COORDINATOR, f"/revoke {contact.id}") == [
        f"已撤销 {contact.id}. 区教体局 · 联络员 的权限；未使用的邀请一并作废。"
    ]
    assert await harness.say(CONTACT, "/tasks") == [
        "您好！这里是督办工作方案提醒机器人。您还没有加入：请打开教育局发给您的邀请链接。"
    ]
    assert "deactivate" in [a.action for a in harness.rows(AuditEntry)]
    assert f"\n{contact.id}. " not in (await harness.say(COORDINATOR, "/contacts"))[0]


async def test_a_revoked_coordinator_can_no_longer_approve(harness: Harness) -> None:
    harness.join(CONTACT, "区教体局")
    leaving = harness.join(OTHER_COORDINATOR, "区教体局", ContactRole.coordinator)
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    harness.reminder_sent_to(
        harness.rows(Contact, Contact.telegram_user_id == CONTACT.id)[0], "zibo-zichuan-2023", "（二）", 777
    )
    await harness.say(CONTACT, "已完成", reply_to=777)
    await harness.say(COORDINATOR, f"/revoke {leaving.id}")
    assert await harness.say(OTHER_COORDINATOR, "/approve 1") == [
        "您好！这里是督办工作方案提醒机器人。您还没有加入：请打开教育局发给您的邀请链接。"
    ]
    assert harness.rows(CloseoutRequest)[0].status == "pending"


async def test_revoking_someone_not_yet_joined_cancels_the_invitation(harness: Harness) -> None:
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    token = harness.invite_token("区教体局")
    [listing] = await harness.say(COORDINATOR, "/contacts")
    [pending_line] = [line for line in listing.split("\n") if "已邀请，尚未加入" in line]
    number = pending_line.split(".")[0]
    await harness.say(COORDINATOR, f"/revoke {number}")
    assert await harness.say(CONTACT, f"/start {token}") == [
        "邀请链接无效：可能已过期或已被使用。请联系教育局重新获取。"
    ]


async def test_a_coordinator_cannot_revoke_another_county_or_themselves(harness: Harness) -> None:
    me = harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    far = harness.join(CONTACT, "区财政局", region="济南市长清区")
    assert await harness.say(COORDINATOR, f"/revoke {far.id}") == ["没有找到相应内容，请检查编号或名称。"]
    assert await harness.say(COORDINATOR, f"/revoke {me.id}") == ["不能撤销自己的权限，请联系其他督办人员。"]
    assert harness.rows(Contact, Contact.id == far.id)[0].active


# ---------------------------------------------------------------- #4 NUL, #6 limits


async def test_a_nul_in_a_done_report_still_reaches_the_coordinators(harness: Harness) -> None:
    """PostgreSQL refused the 销号 notice built from the raw note: the coordinators got nothing."""
    harness.set_now(dt.datetime(2025, 6, 3, 2, tzinfo=dt.UTC))  # a working morning: the notice goes at once
    contact = harness.join(CONTACT, "区教体局")
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（二）", telegram_message_id=777)
    answers = await harness.say(CONTACT, "已完成\x00，验收\x1b通过", reply_to=777)
    assert "已向督办人员提交销号申请（申请编号 1）。" in answers[0]
    [notice] = harness.request.sent(COORDINATOR.id)
    assert "备注：已完成，验收通过" in notice["text"]
    assert harness.rows(ProgressReport)[0].note == "已完成，验收通过"


async def test_a_reject_reason_as_long_as_validation_allows_is_stored(harness: Harness) -> None:
    """2,000 characters passed the check but not VARCHAR(500): on PostgreSQL every such /reject failed."""
    contact = harness.join(CONTACT, "区教体局")
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（二）", telegram_message_id=777)
    await harness.say(CONTACT, "已完成", reply_to=777)
    reason = "缺" * 2000
    assert await harness.say(COORDINATOR, f"/reject 1 {reason}") == [
        "申请 1（（二） 实施教育强镇筑基行动，2025-12-31到期）已驳回，将通知联络员。"
    ]
    assert harness.rows(CloseoutRequest)[0].reason == reason
    assert await harness.say(COORDINATOR, f"/reject 1 {reason}缺") == ["该销号申请已处理过。"]


# ---------------------------------------------------------------- #5 what was understood, and undo


def _buttons_sent_to(harness: Harness, user: FakeUser) -> list[str]:
    """callback_data under the last message the bot sent this user."""
    [*_, last] = harness.request.sent(user.id)
    markup = last.get("reply_markup")
    markup = json.loads(markup) if isinstance(markup, str) else markup
    return [b["callback_data"] for row in (markup or {}).get("inline_keyboard", []) for b in row]


async def test_an_ambiguous_reply_is_asked_about_and_saves_nothing(harness: Harness) -> None:
    contact = harness.join(CONTACT, "区教体局")
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（二）", telegram_message_id=777)
    assert await harness.say(CONTACT, "计划50%，实际40%", reply_to=777) == [
        "消息中有多个百分比，无法判断哪一个是当前进度。请只写一个进度重新发送，例如“完成60%”。本条未保存。"
    ]
    assert await harness.say(CONTACT, "已完成1100%", reply_to=777) == [
        "百分比应在 0 到 100 之间，未保存任何内容。"
    ]
    assert harness.rows(ProgressReport) == []


async def test_undo_takes_back_the_report_and_the_closeout_it_opened(harness: Harness) -> None:
    contact = harness.join(CONTACT, "区教体局")
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（二）", telegram_message_id=777)
    [confirmation] = await harness.say(CONTACT, "原计划100%，目前已完成", reply_to=777)
    assert confirmation.endswith("已向督办人员提交销号申请（申请编号 1）。" + UNDO_HINT)
    [report] = harness.rows(ProgressReport)
    assert _buttons_sent_to(harness, CONTACT) == [f"ud:{report.id}"]

    answers = await harness.press(CONTACT, f"ud:{report.id}")
    assert answers == ["已撤销这条汇报（已完成，100%），不作保留。请重新汇报。"]
    assert harness.rows(ProgressReport) == [] and harness.rows(CloseoutRequest) == []
    assert [a.action for a in harness.rows(AuditEntry)][-2:] == ["closeout_withdrawn", "report_undone"]
    assert await harness.say(COORDINATOR, "/approve 1") == ["没有找到相应内容，请检查编号或名称。"]


async def test_undo_is_refused_to_others_and_after_the_window(harness: Harness) -> None:
    contact = harness.join(CONTACT, "区教体局")
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（二）", telegram_message_id=777)
    await harness.say(CONTACT, "完成60%", reply_to=777)
    [report] = harness.rows(ProgressReport)
    assert await harness.press(COORDINATOR, f"ud:{report.id}") == ["没有找到相应内容，请检查编号或名称。"]
    harness.set_now(harness.clock_value[0] + dt.timedelta(minutes=11))
    assert await harness.press(CONTACT, f"ud:{report.id}") == ["这条汇报已超过可撤销时间，请重新汇报一次。"]
    assert len(harness.rows(ProgressReport)) == 1


async def test_undo_of_a_decided_closeout_is_refused(harness: Harness) -> None:
    contact = harness.join(CONTACT, "区教体局")
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（二）", telegram_message_id=777)
    await harness.say(CONTACT, "已完成", reply_to=777)
    await harness.say(COORDINATOR, "/approve 1")
    [report] = harness.rows(ProgressReport)
    assert await harness.press(CONTACT, f"ud:{report.id}") == ["该销号申请已处理过。"]
    assert len(harness.rows(ProgressReport)) == 1


# ---------------------------------------------------------------- #8 races and leaks


def test_two_simultaneous_starts_with_one_token_let_exactly_one_join(seeded: Session, engine: Engine) -> None:
    """Both requests read the invite as unused before either writes: only one conditional UPDATE may win."""
    now = dt.datetime(2025, 6, 2, 2, tzinfo=dt.UTC)
    department = resolve_department(session=seeded, name="区教体局")
    token = create_invite(
        session=seeded, department=department, role=ContactRole.coordinator, now=now, ttl=dt.timedelta(days=1)
    ).token
    # well under SQLite's busy_timeout (5 s): the winner also waits here alone before UPDATE CONTACT while it holds
    # the write lock, and a wait as long as the loser's busy_timeout made the loser fail "database is locked"
    both_read = threading.Barrier(2, timeout=1)

    @event.listens_for(engine, "before_cursor_execute")
    def meet_before_writing(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("UPDATE INVITE", "UPDATE CONTACT")):
            # SQLite: the other writer waits for the lock instead of meeting here, and the barrier breaks
            with contextlib.suppress(threading.BrokenBarrierError):
                both_read.wait()

    results: dict[int, str] = {}

    def start(user_id: int) -> None:
        with Session(engine) as session:
            try:
                redeem_invite(
                    session=session, token=token, telegram_user_id=user_id, language="zh_CN", now=now
                )
                results[user_id] = "joined"
            except InviteInvalid:
                results[user_id] = "refused"

    threads = [threading.Thread(target=start, args=(user_id,)) for user_id in (71, 72)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    event.remove(engine, "before_cursor_execute", meet_before_writing)
    assert sorted(results.values()) == ["joined", "refused"]
    with Session(engine) as session:
        joined = session.exec(select(Contact).where(Contact.telegram_user_id.in_([71, 72]))).all()  # type: ignore[union-attr]
        assert len(joined) == 1
        assert session.exec(select(Invite)).one().used_at is not None


async def test_snoozing_again_moves_the_waiting_copy_instead_of_chaining(harness: Harness) -> None:
    contact = harness.join(CONTACT, "区教体局")
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（三）", telegram_message_id=778)
    [original] = harness.rows(Notification)
    assert await harness.press(CONTACT, f"rm:snz:{original.id}:1") == ["将在 1 天后再次提醒您。"]
    [copy] = harness.rows(Notification, Notification.id != original.id)
    for _ in range(30):  # the copy's own buttons, pressed before it went out, and the original's again
        await harness.press(CONTACT, f"rm:snz:{copy.id}:7")
        await harness.press(CONTACT, f"rm:snz:{original.id}:3")
    await harness.press(CONTACT, f"rm:snz:{copy.id}:7")
    rows = harness.rows(Notification)
    assert len(rows) == 2
    [waiting] = [r for r in rows if r.id != original.id]
    assert waiting.idempotency_key == copy.idempotency_key and len(waiting.idempotency_key) < 60
    assert waiting.due_at.date() == (harness.clock_value[0] + dt.timedelta(days=7)).date()


async def test_after_the_copy_is_sent_a_new_snooze_waits_again(harness: Harness) -> None:
    contact = harness.join(CONTACT, "区教体局")
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（三）", telegram_message_id=778)
    [original] = harness.rows(Notification)
    await harness.press(CONTACT, f"rm:snz:{original.id}:1")
    with Session(harness.engine) as session:
        copy = session.exec(select(Notification).where(Notification.id != original.id)).one()
        copy.sent_at = harness.clock_value[0]
        session.add(copy)
        session.commit()
        copy_id = copy.id
    harness.set_now(harness.clock_value[0] + dt.timedelta(days=2))
    assert await harness.press(CONTACT, f"rm:snz:{copy_id}:3") == ["将在 3 天后再次提醒您。"]
    keys = sorted(n.idempotency_key for n in harness.rows(Notification))
    assert len(keys) == 3 and all(len(k) < 60 for k in keys)


@pytest.mark.parametrize("header", ["wrong", "密钥", "é" * 64, "", "\t"])
async def test_the_webhook_answers_403_to_any_bad_secret(harness: Harness, header: str) -> None:
    secret = derive_secret("123:abc")
    app = webhook_app(harness.app, secret=secret, health=lambda: {})
    raw_headers = [(SECRET_HEADER.lower().encode(), header.encode("utf-8"))] if header else []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        request = client.build_request("POST", WEBHOOK_PATH, content=b"{}")
        request.headers = httpx.Headers([*request.headers.raw, *raw_headers])
        response = await client.send(request)
    assert response.status_code == 403
    assert harness.app.update_queue.qsize() == 0


async def test_healthz_tells_strangers_only_ok_or_degraded(harness: Harness) -> None:
    secret = derive_secret("123:abc")
    state = {
        "database": "error: OperationalError at db.internal:5432",
        "scheduler": "running",
        "instance": "host-7:99",
    }
    app = webhook_app(harness.app, secret=secret, health=lambda: state)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as client:
        stranger = await client.get("/healthz")
        operator = await client.get("/healthz", headers={SECRET_HEADER: secret})
    assert (stranger.status_code, stranger.json()) == (503, {"status": "degraded"})
    assert (operator.status_code, operator.json()) == (503, state)


async def test_the_bot_token_never_reaches_a_log(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real HTTP request through httpx (which logs each URL, token included) to a local stand-in server."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"ok":true,"result":{"id":1,"is_bot":true,"first_name":"d","username":"duban_test_bot"}}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    caplog.set_level(logging.DEBUG)
    build_application(
        Runtime(engine=engine, settings=Settings()),
        token=TOKEN,
        request=RecordingRequest(),
        persistence=conversation_persistence(tmp_path / "c.pickle"),
        rate_limit=False,
    )
    async with server:
        bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=HTTPXRequest())
        async with bot:
            await bot.get_me()
        logging.getLogger("telegram.ext.Application").debug("bot is %r", bot)  # PTB's repr names the token
        logging.getLogger("httpx").warning("HTTP Request: POST %s", f"http://x/bot{TOKEN}/getMe")
    assert caplog.records, "the run logged nothing: the test would pass vacuously"
    assert TOKEN not in caplog.text
    assert "<redacted>" in caplog.text
