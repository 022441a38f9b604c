"""Reminders into the outbox: once per recipient and step, at allowed local times, late but once after downtime."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from duban.services.invites import create_invite, redeem_invite, resolve_department
from models import ContactRole, Notification
from scheduler.outbox_planner import plan_outbox
from scheduler.policy import ReminderPolicy
from scheduler.workdays import is_working_day

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _join(session: Session, department: str, user_id: int) -> None:
    dept = resolve_department(session=session, name=department)
    now = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    issued = create_invite(
        session=session, department=dept, role=ContactRole.contact, now=now, ttl=dt.timedelta(days=7)
    )
    redeem_invite(session=session, token=issued.token, telegram_user_id=user_id, language="zh_CN", now=now)


def _local(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=SHANGHAI)


def test_planning_twice_queues_each_reminder_once(seeded: Session) -> None:
    _join(seeded, "区教体局", 1001)
    now = _local("2025-12-24")
    first = plan_outbox(session=seeded, now=now, policy=ReminderPolicy(), tz=SHANGHAI)
    second = plan_outbox(session=seeded, now=now, policy=ReminderPolicy(), tz=SHANGHAI)
    assert first.queued > 0 and second.queued == 0
    rows = seeded.exec(select(Notification)).all()
    assert len({row.idempotency_key for row in rows}) == len(rows) == first.queued + first.skipped_stale
    # the row holds the facts, not text: the step it is for, and the day it was meant for if it goes out late
    assert all(row.payload["days"] == int(row.idempotency_key.split(":d")[1].split(":")[0]) for row in rows)
    assert {row.payload["late_since"] is None for row in rows} == {True, False}


def test_a_stepped_year_sends_every_reminder_at_allowed_times_and_none_on_national_day(
    seeded: Session,
) -> None:
    _join(seeded, "区教体局", 1001)
    day = dt.date(2025, 1, 1)
    while day <= dt.date(2025, 12, 31):
        plan_outbox(session=seeded, now=_local(day.isoformat(), 9), policy=ReminderPolicy(), tz=SHANGHAI)
        day += dt.timedelta(days=1)
    rows = seeded.exec(select(Notification)).all()
    local_times = [row.due_at.astimezone(SHANGHAI) for row in rows]
    assert rows
    assert all(is_working_day(t.date()) and 8 <= t.hour < 22 for t in local_times)
    assert not any(t.date() == dt.date(2025, 10, 1) for t in local_times)
    # the 1-day reminder of every 2025-12-31 milestone led by 区教体局 went out exactly once
    one_day = [r for r in rows if ":d1:2025-12-31" in r.idempotency_key and r.kind == "reminder"]
    assert len(one_day) == len({r.milestone_id for r in one_day}) > 0


def test_nobody_joined_means_nothing_is_queued(seeded: Session) -> None:
    result = plan_outbox(session=seeded, now=_local("2025-12-24"), policy=ReminderPolicy(), tz=SHANGHAI)
    assert result.queued == 0


def test_after_a_long_outage_old_reminders_are_skipped_and_recorded_not_sent_in_a_burst(
    seeded: Session,
) -> None:
    _join(seeded, "区教体局", 1001)
    # back after three weeks down: the 30-day reminders of 2025-12-31 (sent on 12-01) are 21 days stale
    result = plan_outbox(session=seeded, now=_local("2025-12-22"), policy=ReminderPolicy(), tz=SHANGHAI)
    rows = seeded.exec(select(Notification)).all()
    skipped = [r for r in rows if (r.last_error or "").startswith("skipped")]
    assert result.skipped_stale == len(skipped) > 0
    assert all(":d30:2025-12-31" in r.idempotency_key for r in skipped)
    assert all(r.attempts >= 8 and r.sent_at is None for r in skipped)
    again = plan_outbox(session=seeded, now=_local("2025-12-22", 11), policy=ReminderPolicy(), tz=SHANGHAI)
    assert (again.queued, again.skipped_stale) == (0, 0)
