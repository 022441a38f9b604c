"""The dispatcher over the Telegram channel: one message per contact and kind, paced per chat, a 429 waited out
without stalling others, 5xx retried later in working hours, 403 stops and tells, 400 kept visible."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, select
from telegram import Bot

from bot.telegram.channel import TelegramChannel
from duban.services.outbox import enqueue, undelivered_for
from models import Contact, ContactRole, Milestone, Notification
from scheduler.delivery import TransientFailure
from scheduler.dispatcher import MAX_ATTEMPTS, Dispatcher, backoff
from scheduler.escalation import tell_coordinators_blocked
from scheduler.pacing import SendPacer
from tests.scheduler.conftest import SHANGHAI, FakeTime, local
from tests.telegram_fakes import blocked_by_user, server_error, too_many_requests

NOW = dt.datetime(2025, 6, 3, 2, 0, tzinfo=dt.UTC)  # Tuesday 10:00 in Shanghai, a working day


def _queue(
    session: Session, contact: Contact, count: int, kind: str = "reminder", at: dt.datetime = NOW
) -> list[int]:
    milestones = session.exec(select(Milestone).order_by(Milestone.id).limit(count)).all()
    ids = []
    for n, milestone in enumerate(milestones):
        row = enqueue(
            session=session,
            key=f"t:{contact.id}:{kind}:{n}",
            kind=kind,
            contact=contact,
            payload={"days": 30},
            due_at=at,
            milestone_id=milestone.id,
            instance_due_on=milestone.due_on,
            for_department=True,
            tz=SHANGHAI,
        )
        assert row is not None
        ids.append(row.id)
    session.commit()
    return ids


def _dispatcher(
    engine: Engine, bot: Bot, fake_time: FakeTime, clock: dt.datetime = NOW, **kwargs: Any
) -> Dispatcher:
    channel = TelegramChannel(bot, pacer=SendPacer(clock=fake_time.clock, sleep=fake_time.sleep), tz=SHANGHAI)
    return Dispatcher(
        engine=engine, deliver=channel, clock=lambda: clock, sleep=fake_time.sleep, **kwargs, tz=SHANGHAI
    )


def _sent(bot: Bot) -> list[dict[str, Any]]:
    return [params for endpoint, params in bot.request.calls if endpoint == "sendMessage"]  # type: ignore[attr-defined]


async def test_a_contacts_due_reminders_go_out_as_one_message_with_buttons_per_item(
    seeded: Session, engine: Engine, join: Any, fake_bot: Bot, fake_time: FakeTime
) -> None:
    contact = join("区教体局", 1001)
    ids = _queue(seeded, contact, 2)
    result = await _dispatcher(engine, fake_bot, fake_time).run_once()
    assert result.sent == 1
    [message] = _sent(fake_bot)
    assert message["text"].startswith("<b>⏰ 督办提醒</b>")
    assert message["text"].count("到期，还有") == 2 and "1. " in message["text"] and "2. " in message["text"]
    buttons = [b["callback_data"] for row in message["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == [
        f"/ackall {ids[0]}",
        f"/rep {ids[0]}",
        f"/rep {ids[1]}",
        f"/snz {ids[0]} 1",
        f"/snz {ids[0]} 3",
        f"/snz {ids[0]} 7",
    ]
    with Session(engine) as session:
        rows = [session.get(Notification, i) for i in ids]
        assert len({(r.sent_at, r.platform_message_id, r.bundle_id) for r in rows if r}) == 1
        assert rows[0] is not None and (rows[0].sent_at, rows[0].bundle_id) == (NOW, ids[0])
        assert rows[0].platform_message_id and rows[0].platform_message_id.isdigit()
    assert (await _dispatcher(engine, fake_bot, fake_time).run_once()).sent == 0  # nothing left


async def test_a_claim_pages_through_the_backlog_yet_sends_each_contacts_rows_as_one_message(
    seeded: Session,
    engine: Engine,
    join: Any,
    fake_bot: Bot,
    fake_time: FakeTime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("scheduler.dispatcher.SCAN_ROWS", 1)  # one owed row a page: every claim turns pages
    first, second, third = (join("区教体局", 1001 + n) for n in range(3))
    # due in this order: first, second, first again, third
    _queue(seeded, first, 1, at=NOW - dt.timedelta(minutes=5))
    _queue(seeded, second, 1, at=NOW - dt.timedelta(minutes=4))
    milestone = seeded.exec(select(Milestone).order_by(Milestone.id).offset(1)).first()
    assert milestone is not None
    enqueue(
        session=seeded,
        key="t:first:later",
        kind="reminder",
        contact=first,
        payload={"days": 30},
        due_at=NOW - dt.timedelta(minutes=3),
        milestone_id=milestone.id,
        instance_due_on=milestone.due_on,
        tz=SHANGHAI,
    )
    _queue(seeded, third, 1, at=NOW - dt.timedelta(minutes=2))

    result = await _dispatcher(engine, fake_bot, fake_time).run_once(limit=2)
    assert result.sent == 2  # the first two recipients in due order, each in one message
    to_first, to_second = _sent(fake_bot)
    assert (to_first["chat_id"], to_second["chat_id"]) == (1001, 1002)
    assert to_first["text"].count("到期，还有") == 2  # its later row, found by no page read, went along
    assert (await _dispatcher(engine, fake_bot, fake_time).run_once(limit=2)).sent == 1
    assert _sent(fake_bot)[-1]["chat_id"] == 1003


async def test_messages_to_one_chat_are_paced_one_per_second(
    seeded: Session, engine: Engine, join: Any, fake_bot: Bot, fake_time: FakeTime
) -> None:
    contact = join("区教体局", 1001)
    for kind in ("reminder", "co_notice", "rechase"):
        _queue(seeded, contact, 1, kind)
    assert (await _dispatcher(engine, fake_bot, fake_time).run_once()).sent == 3
    assert fake_time.sleeps == [1.0, 1.0]


async def test_two_dispatchers_racing_send_each_message_once(
    seeded: Session, engine: Engine, join: Any, fake_bot: Bot
) -> None:
    contacts = [join("区教体局", 1000 + n) for n in range(5)]
    for contact in contacts:
        _queue(seeded, contact, 4)
    results = await asyncio.gather(
        _dispatcher(engine, fake_bot, FakeTime()).run_once(),
        _dispatcher(engine, fake_bot, FakeTime()).run_once(),
    )
    assert sorted(p["chat_id"] for p in _sent(fake_bot)) == [1000, 1001, 1002, 1003, 1004]
    assert sum(r.sent for r in results) == 5
    with Session(engine) as session:
        assert all(r.sent_at == NOW for r in session.exec(select(Notification)).all())


async def test_retry_after_makes_the_row_wait_without_stalling_the_others(
    seeded: Session, engine: Engine, join: Any, fake_bot: Bot, fake_time: FakeTime
) -> None:
    first, second = join("区教体局", 1001), join("区教体局", 1002)
    [waiting] = _queue(seeded, first, 1)
    _queue(seeded, second, 1)
    fake_bot.request.failures["sendMessage"] = [too_many_requests(7)]  # type: ignore[attr-defined]
    result = await _dispatcher(engine, fake_bot, fake_time).run_once()
    assert (result.sent, result.retried) == (1, 1)
    assert 7.0 not in fake_time.sleeps  # nobody waited inline
    with Session(engine) as session:
        row = session.get(Notification, waiting)
        assert row is not None and row.due_at == NOW + dt.timedelta(seconds=7) and row.attempts == 0
    later = _dispatcher(engine, fake_bot, fake_time, clock=NOW + dt.timedelta(seconds=7))
    assert (await later.run_once()).sent == 1


async def test_a_server_error_is_retried_later_with_backoff_and_nothing_is_lost(
    seeded: Session, engine: Engine, join: Any, fake_bot: Bot, fake_time: FakeTime
) -> None:
    contact = join("区教体局", 1001)
    [row_id] = _queue(seeded, contact, 1)
    fake_bot.request.failures["sendMessage"] = [server_error(), server_error()]  # type: ignore[attr-defined]
    result = await _dispatcher(engine, fake_bot, fake_time).run_once()
    assert (result.sent, result.retried) == (0, 1)
    with Session(engine) as session:
        row = session.get(Notification, row_id)
        assert row is not None and row.sent_at is None and row.due_at == NOW + backoff(1)
        assert "Bad Gateway" in (row.last_error or "")
    # the second failure waits twice as long: the wait follows the attempts counted so far
    later = NOW + dt.timedelta(minutes=1)
    assert (await _dispatcher(engine, fake_bot, fake_time, clock=later).run_once()).retried == 1
    with Session(engine) as session:
        row = session.get(Notification, row_id)
        assert (
            row is not None and row.sent_at is None and row.due_at == later + backoff(2) != later + backoff(1)
        )
    last = _dispatcher(engine, fake_bot, fake_time, clock=later + dt.timedelta(minutes=2))
    assert (await last.run_once()).sent == 1


async def test_a_retry_that_would_fall_at_night_waits_for_the_next_working_morning(
    seeded: Session, engine: Engine, join: Any, fake_bot: Bot, fake_time: FakeTime
) -> None:
    contact = join("区教体局", 1001)
    evening = local("2025-06-06", 21, 59) + dt.timedelta(seconds=45)  # a Friday; the first backoff is 30 s
    [row_id] = _queue(seeded, contact, 1, at=evening)
    fake_bot.request.failures["sendMessage"] = [server_error()]  # type: ignore[attr-defined]
    await _dispatcher(engine, fake_bot, fake_time, clock=evening).run_once()
    with Session(engine) as session:
        row = session.get(Notification, row_id)
        assert row is not None and row.due_at == local("2025-06-09", 8, 0)  # Monday 08:00, not Friday 22:00


async def test_a_user_who_blocked_the_bot_is_marked_inactive_and_the_coordinator_told(
    seeded: Session, engine: Engine, join: Any, fake_bot: Bot, fake_time: FakeTime
) -> None:
    contact = join("区教体局", 1001)
    join("区教体局", 2002, ContactRole.coordinator)
    [row_id] = _queue(seeded, contact, 1)
    fake_bot.request.failures["sendMessage"] = [blocked_by_user()]  # type: ignore[attr-defined]
    dispatcher = _dispatcher(
        engine,
        fake_bot,
        fake_time,
        on_blocked=lambda s, c, now: tell_coordinators_blocked(s, c, now, SHANGHAI),
    )
    result = await dispatcher.run_once()
    assert result.blocked_contacts == [contact.id]
    with Session(engine) as session:
        assert session.get(Contact, contact.id).active is False  # type: ignore[union-attr]
    await dispatcher.run_once()
    sent = _sent(fake_bot)
    assert [p["chat_id"] for p in sent] == [1001, 2002]
    assert "已屏蔽机器人" in sent[1]["text"]
    with Session(engine) as session:
        assert session.get(Notification, row_id).sent_at is None  # type: ignore[union-attr]


async def test_a_message_telegram_refuses_is_kept_visible_to_coordinators(
    seeded: Session, engine: Engine, join: Any, fake_bot: Bot, fake_time: FakeTime
) -> None:
    contact = join("区教体局", 1001)
    coordinator = join("区教体局", 2002, ContactRole.coordinator)
    [row_id] = _queue(seeded, contact, 1)
    refused = 400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
    fake_bot.request.failures["sendMessage"] = [refused]  # type: ignore[attr-defined]
    result = await _dispatcher(engine, fake_bot, fake_time).run_once()
    assert (result.failed, result.rejected) == (1, 1)
    with Session(engine) as session:
        row = session.get(Notification, row_id)
        assert row is not None and row.attempts == MAX_ATTEMPTS and row.sent_at is None
        [(shown, name)] = undelivered_for(session=session, coordinator=coordinator)
        assert shown.id == row_id and "Message is too long" in (shown.last_error or "")


def test_rows_take_turns_across_chats() -> None:
    from scheduler.dispatcher import take_turns

    assert take_turns([(1, 10), (2, 10), (3, 10), (4, 20), (5, 30), (6, 20)]) == [1, 4, 5, 2, 6, 3]


async def test_a_bundle_whose_claim_was_taken_over_is_not_sent_again(
    seeded: Session, engine: Engine, join: Any, fake_bot: Bot, fake_time: FakeTime
) -> None:
    contact = join("区教体局", 1001)
    [row_id] = _queue(seeded, contact, 1)
    slow = _dispatcher(engine, fake_bot, fake_time, claim_seconds=3)
    assert slow.claim(10) == [row_id]
    # the slow dispatcher's claim expires; another claims the row and sends it
    later = _dispatcher(engine, fake_bot, fake_time, clock=NOW + dt.timedelta(seconds=5))
    assert (await later.run_once()).sent == 1
    with Session(engine) as session:
        rows = list(session.exec(select(Notification)).all())
        from scheduler.dispatcher import DispatchResult

        result = DispatchResult()
        await slow._send(session, rows, result)
    assert result.sent == 0 and len(_sent(fake_bot)) == 1


async def test_messages_queued_for_a_department_follow_its_current_contact(
    seeded: Session, engine: Engine, join: Any, fake_bot: Bot, fake_time: FakeTime
) -> None:
    old = join("区教体局", 1001)
    ids = _queue(seeded, old, 2)
    old.active = False  # replaced: the department has a new contact now
    seeded.add(old)
    seeded.commit()
    new = join("区教体局", 1003)
    assert (await _dispatcher(engine, fake_bot, fake_time).run_once()).sent == 1
    assert [p["chat_id"] for p in _sent(fake_bot)] == [1003]
    with Session(engine) as session:
        assert {session.get(Notification, i).contact_id for i in ids} == {new.id}  # type: ignore[union-attr]


async def test_a_locked_database_after_a_send_does_not_send_the_message_again(
    seeded: Session, engine: Engine, join: Any, database_url: str
) -> None:
    """Issue 11 #8: the write that records the send waits for the lock instead of leaving the row to be resent."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's single write lock")
    contact = join("区教体局", 1001)
    _queue(seeded, contact, 1)
    event.listen(engine, "connect", lambda conn, _record: conn.execute("PRAGMA busy_timeout=50"))
    engine.dispose()
    blocker = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    deliveries: list[int] = []

    async def deliver(session: Session, rows: Sequence[Notification]) -> str:
        deliveries.append(rows[0].id or 0)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock while the send is recorded
        return "77"

    async def release(seconds: float) -> None:
        if blocker.in_transaction:
            blocker.execute("COMMIT")

    clock = [NOW]
    dispatcher = Dispatcher(
        engine=engine, deliver=deliver, clock=lambda: clock[0], sleep=release, tz=SHANGHAI
    )
    assert (await dispatcher.run_once()).sent == 1
    clock[0] = NOW + dt.timedelta(hours=1)  # any claim has long expired
    await dispatcher.run_once()
    assert len(deliveries) == 1
    with Session(engine) as session:
        [row] = session.exec(select(Notification)).all()
        assert row.sent_at == NOW and row.platform_message_id == "77"
    blocker.close()


async def test_an_unexpected_error_while_rendering_is_retried_not_lost(
    seeded: Session, engine: Engine, join: Any
) -> None:
    contact = join("区教体局", 1001)
    [row_id] = _queue(seeded, contact, 1)

    async def broken(session: Session, rows: Sequence[Notification]) -> str:
        raise TransientFailure("timed out")

    result = await Dispatcher(engine=engine, deliver=broken, clock=lambda: NOW, tz=SHANGHAI).run_once()
    assert result.retried == 1
    with Session(engine) as session:
        row = session.get(Notification, row_id)
        assert row is not None and row.sent_at is None and row.attempts == 1 and row.due_at > NOW


async def test_a_contact_never_gets_two_messages_of_one_kind_within_a_minute(
    seeded: Session, engine: Engine, join: Any, fake_bot: Bot, fake_time: FakeTime
) -> None:
    contact = join("区教体局", 1001)
    _queue(seeded, contact, 1)
    assert (await _dispatcher(engine, fake_bot, fake_time).run_once()).sent == 1
    late = enqueue(
        session=seeded,
        key="late",
        kind="reminder",
        contact=contact,
        payload={"days": 7},
        due_at=NOW + dt.timedelta(seconds=20),
        milestone_id=2,
        tz=SHANGHAI,
    )
    seeded.commit()
    assert late is not None
    soon = _dispatcher(engine, fake_bot, fake_time, clock=NOW + dt.timedelta(seconds=30))
    assert (await soon.run_once()).sent == 0  # it waits out the minute
    later = _dispatcher(engine, fake_bot, fake_time, clock=NOW + dt.timedelta(seconds=61))
    assert (await later.run_once()).sent == 1
    assert [p["chat_id"] for p in _sent(fake_bot)] == [1001, 1001]


@pytest.mark.parametrize(
    ("back_at", "sends"),
    [
        (local("2025-06-04", 2), False),  # a restart at 02:00: the evening's rows wait for the morning
        (local("2025-06-07", 10), False),  # a Saturday
        (local("2025-06-04", 8), True),  # 08:00, the end of the quiet hours
    ],
)
async def test_a_dispatcher_back_at_night_or_on_a_day_off_sends_nothing_until_it_may(
    seeded: Session,
    engine: Engine,
    join: Any,
    fake_bot: Bot,
    fake_time: FakeTime,
    back_at: dt.datetime,
    sends: bool,
) -> None:
    contact = join("区教体局", 1001)
    _queue(seeded, contact, 1, at=local("2025-06-03", 21))  # due at 21:00, while no dispatcher ran
    result = await _dispatcher(engine, fake_bot, fake_time, clock=back_at).run_once()
    assert (result.sent, len(_sent(fake_bot))) == ((1, 1) if sends else (0, 0))


async def test_a_row_written_due_inside_the_night_goes_out_as_its_writer_asked(
    seeded: Session, engine: Engine, join: Any, fake_bot: Bot, fake_time: FakeTime
) -> None:
    """enqueue never writes one (it moves a due moment out of the night); a bench or a test inserting "due now"
    at 02:00 means now."""
    contact = join("区教体局", 1001)
    [row_id] = _queue(seeded, contact, 1)
    row = seeded.get(Notification, row_id)
    assert row is not None
    row.due_at = local("2025-06-04", 2)
    seeded.add(row)
    seeded.commit()
    result = await _dispatcher(engine, fake_bot, fake_time, clock=local("2025-06-04", 2, 5)).run_once()
    assert result.sent == 1
