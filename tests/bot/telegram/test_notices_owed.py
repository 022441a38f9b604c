"""Issue 11 #1: a state change and the notices it owes are committed together before anyone is answered, so a
reply that fails (a 502, a timeout) loses nothing the other party is owed."""

from __future__ import annotations

from sqlmodel import Session, select

from models import CloseoutRequest, ContactRole, Notification
from tests.bot.conftest import FakeUser, Harness
from tests.telegram_fakes import server_error

CONTACT = FakeUser(1001)
COORDINATOR = FakeUser(2002)


async def test_a_failed_reply_to_approve_still_leaves_the_contacts_notice_queued(harness: Harness) -> None:
    contact = harness.join(CONTACT, "区教体局")
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（二）", telegram_message_id=777)
    await harness.say(CONTACT, "已完成", reply_to=777)
    [request_notice] = harness.rows(Notification, Notification.kind == "closeout_request")
    assert request_notice.sent_at is None  # 2025-06-02 is a holiday: it waits for the next working morning

    harness.request.failures["sendMessage"] = [server_error()]  # the reply to the coordinator fails
    await harness.say(COORDINATOR, "/reject 1 缺少佐证")
    assert len(harness.errors) == 1  # the handler's failure, reported to the error handler
    harness.errors.clear()

    [closeout] = harness.rows(CloseoutRequest)
    assert (closeout.status, closeout.reason) == ("rejected", "缺少佐证")
    [decision_notice] = harness.rows(Notification, Notification.kind == "closeout_decided")
    assert decision_notice.contact_id == contact.id and decision_notice.sent_at is None
    assert decision_notice.payload == {"closeout_id": closeout.id}


async def test_a_message_the_platform_refused_is_listed_for_coordinators_in_pending(harness: Harness) -> None:
    contact = harness.join(CONTACT, "区教体局")
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（二）", telegram_message_id=777)
    with Session(harness.engine) as session:
        row = session.exec(select(Notification)).one()
        row.sent_at, row.attempts, row.last_error = None, 8, "rejected: Bad Request: message is too long"
        session.add(row)
        session.commit()
    [answer] = await harness.say(COORDINATOR, "/pending")
    assert answer == (
        "没有待审批的销号申请。\n<b>以下消息未能送达</b>（请通过其他方式告知收件人）\n"
        "· 发给—，2025-06-03：Bad Request: message is too long"
    )
