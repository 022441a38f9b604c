"""The plan job: the first tick of a process looks back for stale reminders, later ticks only catch up."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from duban.config import Settings
from duban.db import make_engine
from duban.services.invites import create_invite, redeem_invite, resolve_department
from models import (
    Contact,
    ContactRole,
    EscalationStep,
    InboundMessage,
    Milestone,
    Notification,
    Plan,
    PlanningGap,
    Task,
)
from scheduler import jobs as jobs_module
from scheduler.dispatcher import MAX_ATTEMPTS
from scheduler.jobs import Jobs
from scheduler.outbox_planner import STALE_LOOKBACK_DAYS, plan_outbox
from scheduler.policy import ReminderPolicy
from tests.conftest import DatabaseTemplates
from tests.scheduler.conftest import SHANGHAI, local


@pytest.fixture
def twin(database_templates: DatabaseTemplates, tmp_path: Path) -> Iterator[Engine]:
    """A second copy of the seeded database, for a process started afresh at every tick."""
    folder = tmp_path / "twin"
    folder.mkdir()
    url = database_templates.fresh(folder, "seeded")
    engine = make_engine(url)
    yield engine
    engine.dispose()
    database_templates.drop(url)


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


def test_the_tongbao_is_computed_once_a_week_and_once_after_a_start(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    tongbao: list[dt.datetime] = []
    monkeypatch.setattr(jobs_module, "plan_tongbao", lambda **kw: tongbao.append(kw["now"]) or 0)
    clock = [dt.datetime(2026, 1, 5, 2, tzinfo=dt.UTC)]  # a Monday
    jobs = Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0])
    for hours in (0, 1, 30, 24 * 7):  # Monday twice, Tuesday, the next Monday
        clock[0] = dt.datetime(2026, 1, 5, 2, tzinfo=dt.UTC) + dt.timedelta(hours=hours)
        jobs.plan()
    assert [t.date() for t in tongbao] == [dt.date(2026, 1, 5), dt.date(2026, 1, 12)]


PEOPLE = (  # department, county, user id, role: contacts, coordinators and leads in three counties
    ("区教体局", "淄博市淄川区", 1001, ContactRole.contact),
    ("区教体局", "淄博市淄川区", 2001, ContactRole.coordinator),
    ("区教体局", "淄博市淄川区", 3001, ContactRole.lead),
    ("市教体局", "安丘市", 1002, ContactRole.contact),
    ("市教体局", "安丘市", 2002, ContactRole.coordinator),
    ("区教育体育局", "济南市长清区", 1003, ContactRole.contact),
)


def _join_everyone(engine: Engine) -> None:
    with Session(engine) as session:
        for department, region, user_id, role in PEOPLE:
            dept = resolve_department(session=session, name=department, region=region)
            now = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
            issued = create_invite(
                session=session, department=dept, role=role, now=now, ttl=dt.timedelta(days=7)
            )
            redeem_invite(
                session=session, token=issued.token, telegram_user_id=user_id, language="zh_CN", now=now
            )


def _send_what_is_due(engine: Engine, now: dt.datetime) -> None:
    """The dispatcher's part, as far as planning reads it: what is due by now goes out (nobody acknowledges)."""
    with Session(engine) as session:
        session.execute(
            update(Notification)
            .where(
                col(Notification.sent_at).is_(None),
                col(Notification.last_error).is_(None),
                col(Notification.due_at) <= now,
            )
            .values(sent_at=Notification.due_at)
        )
        session.commit()


def _received(engine: Engine) -> set[tuple[object, ...]]:
    """What users were (or will be) sent, and the rungs and gaps recorded: recipient, kind, milestone, instance,
    when, what the message says (a re-chase by the reminder it repeats, not its id) and whether it was skipped as
    stale."""
    with Session(engine) as session:
        rows = session.exec(select(Notification)).all()
        steps = session.exec(select(EscalationStep)).all()
        gaps = session.exec(select(PlanningGap)).all()
    by_id = {row.id: row for row in rows}

    def said(row: Notification) -> str:
        payload = dict(row.payload)
        if "of" in payload:
            of = by_id[payload["of"]]
            payload["of"] = [of.contact_id, of.kind, of.milestone_id, str(of.instance_due_on), of.payload]
        return json.dumps(payload, sort_keys=True, ensure_ascii=False)

    told = {
        (
            row.kind,
            row.contact_id,
            row.milestone_id,
            row.instance_due_on,
            row.due_at,
            said(row),
            row.last_error,
        )
        for row in rows
    }
    rungs = {("rung", s.contact_id, s.milestone_id, s.instance_due_on, s.step, s.at) for s in steps}
    stops = {("gap", g.first_day, g.last_day, json.dumps(g.skipped, sort_keys=True)) for g in gaps}
    return told | rungs | stops


@pytest.mark.parametrize(
    "ticks",
    [
        pytest.param(
            # 4 days without a tick over New Year: the milestones due 2025-12-31 reach day one on 01-01
            [("2025-12-29", 9), ("2025-12-30", 9), ("2025-12-31", 9), ("2026-01-04", 9), ("2026-01-04", 15)],
            id="four-days-over-new-year",
        ),
        pytest.param(
            # back just after midnight China time (16:05 UTC the day before), after the 7th day's rung
            [("2026-01-04", 9), ("2026-01-05", 23, 55), ("2026-01-09", 0, 5), ("2026-01-09", 9)],
            id="back-just-after-midnight",
        ),
        pytest.param(
            # 12 days without a tick, longer than the catch-up window: 01-13's reminders are 9 days stale
            [("2026-01-08", 9), ("2026-01-09", 9), ("2026-01-22", 9), ("2026-01-23", 9)],
            id="longer-than-catch-up",
        ),
    ],
)
def test_a_running_process_after_a_gap_sends_what_a_restarted_one_would(
    engine: Engine, seeded: Session, twin: Engine, ticks: list[tuple[int | str, ...]]
) -> None:
    _join_everyone(engine)
    _join_everyone(twin)
    clock = [local(*ticks[0])]  # type: ignore[arg-type]
    running = Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0])
    for tick in ticks:
        clock[0] = local(*tick)  # type: ignore[arg-type]
        for database in (engine, twin):
            _send_what_is_due(database, clock[0])
        running.plan()
        Jobs(engine=twin, settings=Settings(), clock=lambda: clock[0]).plan()  # a new process every time
    got = _received(engine)
    assert {row[0] for row in got} >= {"reminder", "overdue", "rung"}
    assert got == _received(twin)


def _reminders_by_plan_and_send_day(engine: Engine, first: dt.date, last: dt.date) -> Counter[str]:
    """plan key -> the reminders and co-department notices in the outbox whose send day is in range."""
    with Session(engine) as session:
        rows = session.exec(
            select(Notification.idempotency_key, Plan.key)
            .join(Milestone, col(Milestone.id) == Notification.milestone_id)
            .join(Task, col(Task.id) == Milestone.task_id)
            .join(Plan, col(Plan.id) == Task.plan_id)
            .where(col(Notification.kind).in_(["reminder", "co_notice"]))
        ).all()
    found: Counter[str] = Counter()
    for key, plan in rows:  # "reminder:m42:c7:d30:2025-12-31"
        *_, days, due = key.split(":")
        if first <= dt.date.fromisoformat(due) - dt.timedelta(days=int(days[1:])) <= last:
            found[plan] += 1
    return found


@pytest.mark.parametrize("restarted", [False, True], ids=["running", "restarted"])
def test_a_stop_longer_than_the_catch_up_window_is_recorded_with_the_reminders_it_cost(
    engine: Engine, seeded: Session, twin: Engine, restarted: bool, caplog: pytest.LogCaptureFixture
) -> None:
    _join_everyone(engine)
    _join_everyone(twin)
    clock = [local("2025-11-20", 9)]
    jobs = Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0])
    jobs.plan()
    clock[0] = local("2026-01-20", 9)  # 60 days without a tick: send days 12-01 to 01-12 are over 7 days old
    (Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0]) if restarted else jobs).plan()
    # what a process that never stopped would have sent on those days
    with Session(twin) as session:
        plan_outbox(
            session=session,
            now=local("2026-01-12", 9),
            policy=ReminderPolicy(),
            tz=SHANGHAI,
            catch_up_days=60,
            stale_lookback_days=0,
        )
    owed = _reminders_by_plan_and_send_day(twin, dt.date(2025, 11, 21), dt.date(2026, 1, 12))
    assert len(owed) >= 2 and sum(owed.values()) > 100
    with Session(engine) as session:
        [gap] = session.exec(select(PlanningGap)).all()
        rows = session.exec(
            select(Notification).where(col(Notification.kind).in_(["reminder", "co_notice"]))
        ).all()
    assert (gap.first_day, gap.last_day, gap.skipped) == (dt.date(2025, 11, 21), dt.date(2026, 1, 19), owed)
    # of the stop's send days, those a start reads back to (30 days before the window) are recorded as skipped
    # and none is sent; 12-01's are only counted; 01-13's and 01-19's go out late
    since_stop = [
        row for row in rows if row.payload["late_since"] and row.payload["late_since"] > "2025-11-20"
    ]
    assert {r.payload["late_since"] for r in since_stop if r.last_error} == {
        "2025-12-21",
        "2025-12-24",
        "2025-12-30",
    }
    assert {r.payload["late_since"] for r in since_stop if not r.last_error} == {"2026-01-13", "2026-01-19"}
    assert (
        f"no tick planned 2025-11-21 to 2026-01-19 (60 days, more than the 7-day catch-up window): "
        f"{sum(owed.values())} reminders due before 2026-01-13 were not sent" in caplog.text
    )
    clock[0] = local("2026-01-20", 15)  # a later start finds the gap recorded
    Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0]).plan()
    with Session(engine) as session:
        assert len(session.exec(select(PlanningGap)).all()) == 1


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
