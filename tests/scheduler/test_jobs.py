"""The plan job: the first tick of a process looks back for stale reminders, later ticks only catch up."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from duban.config import Settings
from models import Contact, InboundMessage, Notification
from scheduler import jobs as jobs_module
from scheduler.dispatcher import MAX_ATTEMPTS
from scheduler.jobs import Jobs
from scheduler.outbox_planner import STALE_LOOKBACK_DAYS
from tests.scheduler.conftest import local


def test_only_the_first_tick_looks_back_for_stale_reminders(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    real = jobs_module.plan_outbox

    def recording(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(jobs_module, "plan_outbox", recording)
    clock = [dt.datetime(2026, 1, 5, 2, tzinfo=dt.UTC)]
    jobs = Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0])
    jobs.plan()
    clock[0] += dt.timedelta(days=1)
    jobs.plan()
    assert [c["stale_lookback_days"] for c in calls] == [STALE_LOOKBACK_DAYS, 0]


def test_later_ticks_read_only_recent_rungs_and_the_tongbao_once_a_week(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ladder: list[int] = []
    tongbao: list[dt.datetime] = []
    monkeypatch.setattr(jobs_module, "plan_escalations", lambda **kw: ladder.append(kw["lookback_days"]) or 0)
    monkeypatch.setattr(jobs_module, "plan_tongbao", lambda **kw: tongbao.append(kw["now"]) or 0)
    clock = [dt.datetime(2026, 1, 5, 2, tzinfo=dt.UTC)]  # a Monday
    jobs = Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0])
    for hours in (0, 1, 30, 24 * 7):  # Monday twice, Tuesday, the next Monday
        clock[0] = dt.datetime(2026, 1, 5, 2, tzinfo=dt.UTC) + dt.timedelta(hours=hours)
        jobs.plan()
    # the second tick on Monday finds nothing changed since the first and does not climb the ladder again
    assert ladder == [jobs_module.FULL_LOOKBACK_DAYS] + [jobs_module.STEADY_LOOKBACK_DAYS] * 2
    assert [t.date() for t in tongbao] == [dt.date(2026, 1, 5), dt.date(2026, 1, 12)]


def test_a_start_looks_back_only_to_the_last_day_any_instance_planned(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_back: list[tuple[int, int]] = []
    outbox, ladder = jobs_module.plan_outbox, jobs_module.plan_escalations

    def recording_outbox(**kwargs: Any) -> Any:
        looked_back.append((kwargs["stale_lookback_days"], -1))
        return outbox(**kwargs)

    def recording_ladder(**kwargs: Any) -> Any:
        looked_back[-1] = (looked_back[-1][0], kwargs["lookback_days"])
        return ladder(**kwargs)

    monkeypatch.setattr(jobs_module, "plan_outbox", recording_outbox)
    monkeypatch.setattr(jobs_module, "plan_escalations", recording_ladder)
    for day in (
        "2026-01-05",
        "2026-01-05",
        "2026-01-06",
        "2026-01-26",
        "2026-01-30",
        "2026-01-28",
        "2026-02-20",
    ):
        # each a new process: a start on that day, after the previous one stopped
        Jobs(engine=engine, settings=Settings(), clock=lambda d=day: local(d)).plan()
    assert looked_back == [
        (
            STALE_LOOKBACK_DAYS,
            jobs_module.FULL_LOOKBACK_DAYS,
        ),  # nothing on record: as far as anything is owed
        (0, jobs_module.STEADY_LOOKBACK_DAYS),  # a restart the same day: what a running process reads
        (0, jobs_module.STEADY_LOOKBACK_DAYS),  # the next morning
        (20 - 1 - 7, jobs_module.FULL_LOOKBACK_DAYS),  # 20 days down: the send dates since, past catch-up
        (0, 4 + 1),  # 4 days down: inside the catch-up window; the ladder's rungs of those days
        (0, jobs_module.STEADY_LOOKBACK_DAYS),  # a clock set back two days ...
        (
            21 - 1 - 7,
            jobs_module.FULL_LOOKBACK_DAYS,
        ),  # ... did not move the day on record back: 21 days since
    ]


def test_after_a_stop_the_reminders_gone_stale_since_the_last_planned_day_are_recorded_not_sent(
    engine: Engine, seeded: Session, join: Callable[..., Contact]
) -> None:
    join("区教体局", 1001)
    Jobs(engine=engine, settings=Settings(), clock=lambda: local("2025-11-30")).plan()
    assert not _thirty_days_before_new_year(seeded)  # their day (12-01) has not come
    # stopped the next day, back on 12-22: the 30-day reminders of 2025-12-31, due on 12-01, are 21 days stale
    Jobs(engine=engine, settings=Settings(), clock=lambda: local("2025-12-22")).plan()
    stale = _thirty_days_before_new_year(seeded)
    assert stale and all(row.last_error and row.last_error.startswith("skipped") for row in stale)
    assert all(row.sent_at is None and row.attempts >= MAX_ATTEMPTS for row in stale)


def _thirty_days_before_new_year(session: Session) -> list[Notification]:
    session.expire_all()
    rows = session.exec(select(Notification).where(col(Notification.kind) == "reminder")).all()
    return [row for row in rows if ":d30:2025-12-31" in row.idempotency_key]


def test_the_days_first_tick_forgets_the_ids_of_messages_older_than_a_week(engine: Engine) -> None:
    monday = dt.datetime(2026, 1, 5, 2, tzinfo=dt.UTC)

    def received(*ages: dt.timedelta) -> None:
        with Session(engine) as session:
            for age in ages:
                session.add(InboundMessage(channel="dingtalk", message_id=f"{age}", received_at=monday - age))
            session.commit()

    def kept() -> set[str]:
        with Session(engine) as session:
            return set(session.exec(select(InboundMessage.message_id)).all())

    week, hour = dt.timedelta(days=7), dt.timedelta(hours=1)
    received(week + hour, week - hour)
    clock = [monday]
    jobs = Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0])
    jobs.plan()
    assert kept() == {f"{week - hour}"}

    received(week + 2 * hour)  # older, but the day's forgetting is done
    clock[0] = monday + hour
    jobs.plan()
    assert kept() == {f"{week + 2 * hour}", f"{week - hour}"}

    clock[0] = monday + dt.timedelta(days=1)  # Tuesday's first tick: both are over a week old now
    jobs.plan()
    assert kept() == set()
