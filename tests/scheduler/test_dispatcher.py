"""The dispatcher: each row once, paced per chat, 429 waited out, 5xx retried later, 403 stops and tells."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import Engine
from sqlmodel import Session, select
from telegram import Bot

from bot.keyboards import reminder_markup
from duban.services.outbox import enqueue
from models import Contact, ContactRole, Milestone, Notification
from scheduler.dispatcher import Dispatcher, DispatchResult, backoff
from scheduler.escalation import tell_coordinators_blocked
from scheduler.pacing import SendPacer
from tests.scheduler.conftest import FakeTime
from tests.telegram_fakes import blocked_by_user, server_error, too_many_requests

NOW = dt.datetime(2025, 6, 2, 2, 0, tzinfo=dt.UTC)


def _queue(session: Session, contact: Contact, count: int, kind: str = "reminder") -> list[int]:
    milestone = session.exec(select(Milestone)).first()
    assert milestone is not None
    ids = []
    for n in range(count):
        row = enqueue(
            session=session,
            key=f"t:{contact.id}:{n}",
            kind=kind,
            contact=contact,
            text=f"提醒 {n}",
            due_at=NOW,
            milestone_id=milestone.id,
        )
        assert row is not None
        ids.append(row.id)
    session.commit()
    return ids


def _dispatcher(engine: Engine, bot: Bot, fake_time: FakeTime, **kwargs) -> Dispatcher:  # type: ignore[no-untyped-def]
    return Dispatcher(
        engine=engine,
        bot=bot,
        clock=lambda: NOW,
        pacer=SendPacer(clock=fake_time.clock, sleep=fake_time.sleep),
        markup_for=reminder_markup,
        **kwargs,
    )


def _sent_texts(bot: Bot) -> list[str]:
    return [params["text"] for endpoint, params in bot.request.calls if endpoint == "sendMessage"]  # type: ignore[attr-defined]


async def test_sends_due_rows_records_message_ids_and_attaches_reminder_buttons(
    seeded: Session,
    engine: Engine,
    join,
    fake_bot: Bot,
    fake_time: FakeTime,  # type: ignore[no-untyped-def]
) -> None:
    contact = join("区教体局", 1001)
    ids = _queue(seeded, contact, 2)
    result = await _dispatcher(engine, fake_bot, fake_time).run_once()
    assert result.sent == 2
    assert _sent_texts(fake_bot) == ["提醒 0", "提醒 1"]
    with Session(engine) as session:
        rows = [session.get(Notification, i) for i in ids]
        assert all(r is not None and r.sent_at == NOW and r.telegram_message_id for r in rows)
    first_markup = fake_bot.request.calls[1][1]["reply_markup"]  # type: ignore[attr-defined]
    buttons = [b["callback_data"] for row in first_markup["inline_keyboard"] for b in row]
    assert buttons == [
        f"rm:ack:{ids[0]}",
        f"rm:rep:{ids[0]}",
        f"rm:snz:{ids[0]}:1",
        f"rm:snz:{ids[0]}:3",
        f"rm:snz:{ids[0]}:7",
    ]
    # a second run finds nothing left to send
    assert (await _dispatcher(engine, fake_bot, fake_time).run_once()).sent == 0


async def test_messages_to_one_chat_are_paced_one_per_second(
    seeded: Session,
    engine: Engine,
    join,
    fake_bot: Bot,
    fake_time: FakeTime,  # type: ignore[no-untyped-def]
) -> None:
    contact = join("区教体局", 1001)
    _queue(seeded, contact, 3)
    await _dispatcher(engine, fake_bot, fake_time).run_once()
    assert fake_time.sleeps == [1.0, 1.0]


async def test_two_dispatchers_racing_send_each_row_once(
    seeded: Session,
    engine: Engine,
    join,
    fake_bot: Bot,  # type: ignore[no-untyped-def]
) -> None:
    contacts = [join("区教体局", 1000 + n) for n in range(5)]
    for contact in contacts:
        _queue(seeded, contact, 4)
    first, second = FakeTime(), FakeTime()
    results = await asyncio.gather(
        _dispatcher(engine, fake_bot, first).run_once(), _dispatcher(engine, fake_bot, second).run_once()
    )
    texts = [(p["chat_id"], p["text"]) for e, p in fake_bot.request.calls if e == "sendMessage"]  # type: ignore[attr-defined]
    assert len(texts) == len(set(texts)) == 20
    assert sum(r.sent for r in results) == 20


async def test_retry_after_is_waited_out_exactly_then_the_message_goes(
    seeded: Session,
    engine: Engine,
    join,
    fake_bot: Bot,
    fake_time: FakeTime,  # type: ignore[no-untyped-def]
) -> None:
    contact = join("区教体局", 1001)
    _queue(seeded, contact, 1)
    fake_bot.request.failures["sendMessage"] = [too_many_requests(7)]  # type: ignore[attr-defined]
    result = await _dispatcher(engine, fake_bot, fake_time, sleep=fake_time.sleep).run_once()
    assert result.sent == 1
    assert 7.0 in fake_time.sleeps
    assert _sent_texts(fake_bot) == ["提醒 0", "提醒 0"]  # the refused attempt, then the delivered one


async def test_a_server_error_is_retried_later_with_backoff_and_nothing_is_lost(
    seeded: Session,
    engine: Engine,
    join,
    fake_bot: Bot,
    fake_time: FakeTime,  # type: ignore[no-untyped-def]
) -> None:
    contact = join("区教体局", 1001)
    [row_id] = _queue(seeded, contact, 1)
    fake_bot.request.failures["sendMessage"] = [server_error()]  # type: ignore[attr-defined]
    result = await _dispatcher(engine, fake_bot, fake_time).run_once()
    assert (result.sent, result.retried) == (0, 1)
    with Session(engine) as session:
        row = session.get(Notification, row_id)
        assert row is not None and row.sent_at is None and row.due_at == NOW + backoff(1)
        assert "Bad Gateway" in (row.last_error or "")
    later = Dispatcher(
        engine=engine,
        bot=fake_bot,
        clock=lambda: NOW + dt.timedelta(minutes=1),
        pacer=SendPacer(clock=fake_time.clock, sleep=fake_time.sleep),
    )
    assert (await later.run_once()).sent == 1


async def test_a_user_who_blocked_the_bot_is_marked_inactive_and_the_coordinator_told(
    seeded: Session,
    engine: Engine,
    join,
    fake_bot: Bot,
    fake_time: FakeTime,  # type: ignore[no-untyped-def]
) -> None:
    contact = join("区教体局", 1001)
    coordinator = join("区教体局", 2002, ContactRole.coordinator)
    [row_id] = _queue(seeded, contact, 1)
    fake_bot.request.failures["sendMessage"] = [blocked_by_user()]  # type: ignore[attr-defined]
    dispatcher = _dispatcher(engine, fake_bot, fake_time, on_blocked=tell_coordinators_blocked)
    result = await dispatcher.run_once()
    assert result.blocked_contacts == [contact.id]
    with Session(engine) as session:
        assert session.get(Contact, contact.id).active is False  # type: ignore[union-attr]
        notices = session.exec(select(Notification).where(Notification.contact_id == coordinator.id)).all()
        assert [n.kind for n in notices] == ["blocked"]
        assert "已屏蔽机器人" in notices[0].text
    # the coordinator's notice goes out; the blocked contact is never tried again
    await dispatcher.run_once()
    assert [p["chat_id"] for e, p in fake_bot.request.calls if e == "sendMessage"] == [1001, 2002]  # type: ignore[attr-defined]
    with Session(engine) as session:
        assert session.get(Notification, row_id).sent_at is None  # type: ignore[union-attr]


def test_rows_take_turns_across_chats() -> None:
    from scheduler.dispatcher import take_turns

    assert take_turns([(1, 10), (2, 10), (3, 10), (4, 20), (5, 30), (6, 20)]) == [1, 4, 5, 2, 6, 3]


async def test_a_batch_takes_at_most_five_rows_of_one_chat_and_interleaves_chats(
    seeded: Session,
    engine: Engine,
    join,
    fake_bot: Bot,
    fake_time: FakeTime,  # type: ignore[no-untyped-def]
) -> None:
    busy, quiet = join("区教体局", 1001), join("区教体局", 1002)
    _queue(seeded, busy, 8)
    _queue(seeded, quiet, 2)
    result = await _dispatcher(engine, fake_bot, fake_time).run_once()
    chats = [p["chat_id"] for e, p in fake_bot.request.calls if e == "sendMessage"]  # type: ignore[attr-defined]
    assert result.sent == 7 and chats == [1001, 1002, 1001, 1002, 1001, 1001, 1001]


async def test_after_a_403_the_blocked_users_other_rows_are_given_up_without_asking_telegram(
    seeded: Session,
    engine: Engine,
    join,
    fake_bot: Bot,
    fake_time: FakeTime,  # type: ignore[no-untyped-def]
) -> None:
    contact = join("区教体局", 1001)
    ids = _queue(seeded, contact, 3)
    fake_bot.request.failures["sendMessage"] = [blocked_by_user()]  # type: ignore[attr-defined]
    result = await _dispatcher(engine, fake_bot, fake_time).run_once()
    assert result.failed == 3
    assert len([e for e, _ in fake_bot.request.calls if e == "sendMessage"]) == 1  # type: ignore[attr-defined]
    with Session(engine) as session:
        assert all(session.get(Notification, i).sent_at is None for i in ids)  # type: ignore[union-attr]


async def test_a_row_whose_claim_was_taken_over_is_not_sent_again(
    seeded: Session,
    engine: Engine,
    join,
    fake_bot: Bot,
    fake_time: FakeTime,  # type: ignore[no-untyped-def]
) -> None:
    contact = join("区教体局", 1001)
    [row_id] = _queue(seeded, contact, 1)
    slow = _dispatcher(engine, fake_bot, fake_time, claim_seconds=3)
    assert slow.claim(10) == [row_id]
    # the slow dispatcher's claim expires; another claims the row and sends it
    later = Dispatcher(
        engine=engine,
        bot=fake_bot,
        clock=lambda: NOW + dt.timedelta(seconds=5),
        pacer=SendPacer(clock=fake_time.clock, sleep=fake_time.sleep),
    )
    assert (await later.run_once()).sent == 1
    with Session(engine) as session:
        row = session.get(Notification, row_id)
        assert row is not None
        result = DispatchResult()
        await slow._send_one(session, row, result)
    assert result.sent == 0
    assert _sent_texts(fake_bot) == ["提醒 0"]
