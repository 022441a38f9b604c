"""A tick plans again only when the day or what planning reads has changed, and then misses nothing.

Between the day's first tick and the next change, a tick reads one row. A change made anywhere (here: a session
of its own, as the bot, `duban web` or a second instance would make it) is planned on the next tick, not the next
day; a change planning does not read (a report, an acknowledgement, DingTalk's wait for a report) costs no
re-planning.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, delete, event, insert
from sqlmodel import Session, col, select

from duban.config import Settings
from duban.services.invites import create_invite, deactivate_contact, redeem_invite, resolve_department
from duban.services.oversight import pause_escalation
from duban.services.progress import record_report, undo_report
from duban.services.recipients import lead_department_names
from duban.services.reminders import acknowledge, await_report
from models import (
    Contact,
    ContactRole,
    Department,
    DepartmentRole,
    Milestone,
    MilestoneStatus,
    Notification,
    Plan,
    ReportStatus,
    Task,
    TaskDepartment,
)
from models.planning import PlanningChange, inputs_version
from scheduler.jobs import Jobs
from scheduler.planner import plan_reminders
from scheduler.policy import ReminderPolicy
from tests.scheduler.conftest import joined_in, local, own_county
from tests.zones import DEFAULT_TZ


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _reminders_to(engine: Engine, contact_id: int) -> set[str]:
    """The keys of what will be sent to the contact (a restart also records stale ones, never sent, as skipped)."""
    with Session(engine) as session:
        return set(
            session.exec(
                select(Notification.idempotency_key).where(
                    Notification.contact_id == contact_id, col(Notification.last_error).is_(None)
                )
            ).all()
        )


def _join_elsewhere(engine: Engine, department: str, user_id: int, now: dt.datetime) -> int:
    """An invitation redeemed in a session of its own, as the bot process does it."""
    with Session(engine) as session:
        dept = resolve_department(session=session, name=department)
        issued = create_invite(
            session=session, department=dept, role=ContactRole.contact, now=now, ttl=dt.timedelta(days=7)
        )
        contact = redeem_invite(
            session=session, token=issued.token, telegram_user_id=user_id, language="zh_CN", now=now
        )
        return contact.id or 0


def test_a_second_tick_on_the_same_day_reads_one_row_when_nothing_changed(
    engine: Engine, seeded: Session, join: Callable[..., Contact]
) -> None:
    join("区教体局", 1001)
    clock = [local("2025-12-24", 9)]
    jobs = Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0])
    jobs.plan()
    queued = seeded.exec(select(Notification.idempotency_key)).all()
    assert queued  # the 7-day step of the 2025-12-31 milestones
    clock[0] = local("2025-12-24", 9, 5)
    with statements(engine) as seen:
        jobs.plan()
    assert len(seen) == 1 and "planning_inputs" in seen[0]
    assert seeded.exec(select(Notification.idempotency_key)).all() == queued


@pytest.mark.parametrize(
    ("joins", "next_tick"),
    [
        # after the day's first tick: the next tick plans what the change touched
        (("2025-12-24", 10, 0), ("2025-12-24", 10, 5)),
        # after the day's last tick: the next day's first tick reads in full only its own send day, and the
        # catch-up window for what changed
        (("2025-12-24", 23, 58), ("2025-12-25", 0, 3)),
    ],
)
def test_a_contact_who_joins_between_ticks_gets_the_days_reminders_on_the_next_tick(
    engine: Engine, seeded: Session, joins: tuple[str, int, int], next_tick: tuple[str, int, int]
) -> None:
    clock = [local("2025-12-24", 9)]
    jobs = Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0])
    jobs.plan()
    clock[0] = local(*joins)
    contact_id = _join_elsewhere(engine, "区教体局", 1001, clock[0])
    clock[0] = local(*next_tick)
    jobs.plan()
    got = _reminders_to(engine, contact_id)
    # the 24th's reminders (the 7-day step of 2025-12-31), late on the 25th, are owed to the newcomer all the same
    assert any(key.endswith(":d7:2025-12-31") for key in got)
    # everything a process started now would queue for them: a fresh start finds nothing more owed
    Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0]).plan()
    assert _reminders_to(engine, contact_id) == got


def _reminders_by_send_day(engine: Engine, first: dt.date, last: dt.date) -> set[str]:
    """Keys of the reminders and co-department notices whose send day (due date less the step) is in range."""
    with Session(engine) as session:
        keys = session.exec(
            select(Notification.idempotency_key).where(col(Notification.kind).in_(["reminder", "co_notice"]))
        ).all()
    found = set()
    for key in keys:  # "reminder:m42:c7:d30:2025-12-31"
        *_, days, due = key.split(":")
        if first <= dt.date.fromisoformat(due) - dt.timedelta(days=int(days[1:])) <= last:
            found.add(key)
    return found


def test_a_running_process_plans_each_new_day_as_starts_would(
    engine: Engine, seeded: Session, join: Callable[..., Contact]
) -> None:
    join("区教体局", 1001)
    join("区教育体育局", 1002)  # 济南市长清区
    clock = [local("2025-12-20", 9)]
    running = Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0])
    day = dt.date(2025, 12, 20)
    asleep = {dt.date(2025, 12, 21), dt.date(2025, 12, 30)}  # send days without a tick (a suspended VM)
    while day <= dt.date(2026, 1, 10):  # a new day reads in full only the send days since the last it planned
        if day not in asleep:
            clock[0] = local(day.isoformat(), 9)
            running.plan()
        day += dt.timedelta(days=1)
    first, last = dt.date(2025, 12, 21), dt.date(2026, 1, 10)
    kept = _reminders_by_send_day(engine, first, last)
    with Session(engine) as session:
        session.execute(delete(Notification).where(col(Notification.kind).in_(["reminder", "co_notice"])))
        session.commit()
    # starts a week apart: each reads its catch-up window of 7 days and today in full
    for start in ("2025-12-28", "2026-01-05", "2026-01-10"):
        clock[0] = local(start, 9)
        Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0]).plan()
    assert len({key.split(":")[-1] for key in kept}) > 1  # several due dates, on several send days
    assert _reminders_by_send_day(engine, first, last) == kept


def test_a_milestone_reopened_in_another_session_climbs_the_ladder_on_the_next_tick(
    engine: Engine, seeded: Session, join: Callable[..., Contact]
) -> None:
    contact = join("区教体局", 1001)
    due = seeded.exec(
        select(Milestone.id).where(Milestone.due_on == dt.date(2025, 12, 31), Milestone.recurrence == "none")
    ).all()
    leads = lead_department_names(session=seeded, milestone_ids=[m or 0 for m in due])
    milestone = seeded.get(Milestone, next(m for m in due if "区教体局" in leads.get(m or 0, [])))
    assert milestone is not None
    milestone.status = "done"  # type: ignore[assignment]
    seeded.add(milestone)
    seeded.commit()
    clock = [local("2026-01-01", 9)]  # day one of the ladder for the milestones due 2025-12-31
    jobs = Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0])
    jobs.plan()

    def told(milestone_id: int) -> bool:
        with Session(engine) as session:
            rows = session.exec(
                select(Notification).where(
                    Notification.kind == "overdue", Notification.contact_id == contact.id
                )
            ).all()
            return any(item["m"] == milestone_id for row in rows for item in row.payload["items"])

    assert not told(milestone.id or 0)
    with Session(engine) as session:  # a 销号 taken back, as an operator would
        reopened = session.get(Milestone, milestone.id)
        assert reopened is not None
        reopened.status = "open"  # type: ignore[assignment]
        session.add(reopened)
        session.commit()
    clock[0] = local("2026-01-01", 9, 5)
    jobs.plan()
    assert told(milestone.id or 0)


def _version(engine: Engine) -> int:
    with Session(engine) as session:
        version = inputs_version(session)
        assert version is not None
        return version


def test_what_planning_reads_moves_the_counter_and_what_it_does_not_read_leaves_it(
    engine: Engine, seeded: Session, join: Callable[..., Contact]
) -> None:
    now = dt.datetime(2025, 12, 24, 2, tzinfo=dt.UTC)
    coordinator = join("区教体局", 2001, role=ContactRole.coordinator)
    contact = join("区教体局", 1001)
    Jobs(engine=engine, settings=Settings(), clock=lambda: now).plan()
    # any of the contact's rows about one milestone (the overdue notice names several: its milestone_id is NULL)
    reminder = seeded.exec(
        select(Notification)
        .where(Notification.contact_id == contact.id, col(Notification.milestone_id).is_not(None))
        .order_by(col(Notification.id))
    ).first()
    assert reminder is not None and reminder.milestone_id is not None
    milestone_id = reminder.milestone_id

    def moved(change: Callable[[], object]) -> bool:
        before = _version(engine)
        change()
        return _version(engine) != before

    # read by the planner or the ladder: each may make something owed that was not
    assert moved(
        lambda: pause_escalation(
            session=seeded,
            coordinator=coordinator,
            milestone_id=milestone_id,
            days=3,
            reason="等批复",
            now=now,
            today=now.date(),
        )
    )
    assert moved(lambda: _join_elsewhere(engine, "区教体局", 1002, now))
    outcome = record_report(
        session=seeded,
        contact=contact,
        milestone_id=milestone_id,
        status=ReportStatus.on_track,
        percent=40,
        note="进行中",
        now=now,
        tz=DEFAULT_TZ,
    )
    assert moved(
        lambda: undo_report(session=seeded, contact=contact, report_id=outcome.report.id or 0, now=now)
    )
    assert moved(
        lambda: deactivate_contact(session=seeded, by=coordinator, contact_id=contact.id or 0, now=now)
    )
    task = seeded.exec(select(Task)).first()
    assert task is not None
    task.title = task.title + "（修订）"
    assert moved(lambda: (seeded.add(task), seeded.commit()))

    # not read by planning: a report only answers, an acknowledgement and a report wait change no plan
    other = join("区教体局", 1003)
    assert not moved(
        lambda: record_report(
            session=seeded,
            contact=other,
            milestone_id=milestone_id,
            status=ReportStatus.on_track,
            percent=60,
            note="过半",
            now=now,
            tz=DEFAULT_TZ,
        )
    )
    theirs = Notification(
        idempotency_key="t:1",
        kind="reminder",
        milestone_id=milestone_id,
        contact_id=other.id,
        department_id=other.department_id,
        payload={"days": 7},
        due_at=now,
    )
    seeded.add(theirs)
    seeded.commit()
    assert not moved(
        lambda: acknowledge(session=seeded, contact=other, notification_id=theirs.id or 0, now=now)
    )
    assert not moved(
        lambda: await_report(
            session=seeded,
            contact=other,
            notification_id=theirs.id or 0,
            until=now + dt.timedelta(minutes=30),
        )
    )


def test_a_transaction_moves_the_counter_once_however_often_it_flushes(
    engine: Engine, seeded: Session
) -> None:
    before = _version(engine)
    tasks = list(seeded.exec(select(Task).order_by(col(Task.id)).limit(3)))
    for task in tasks:  # an import flushes like this, hundreds of times in one transaction
        task.title = task.title + "（修订）"
        seeded.add(task)
        seeded.flush()
    seeded.commit()
    assert _version(engine) == before + 1
    logged = seeded.exec(select(PlanningChange).where(col(PlanningChange.version) > before)).all()
    assert {(change.version, change.row_id) for change in logged} == {(before + 1, task.id) for task in tasks}

    tasks[0].title = tasks[0].title + "（再修订）"
    seeded.add(tasks[0])
    seeded.flush()
    seeded.rollback()  # the counter's move is undone with it: the next transaction must move it again
    tasks[1].title = tasks[1].title + "（再修订）"
    seeded.add(tasks[1])
    seeded.commit()
    assert _version(engine) == before + 2


def _department_owed_a_reminder_on(session: Session, day: dt.date, besides: str) -> Department:
    """A department other than `besides` whose tasks give a reminder on `day`."""
    due = plan_reminders(session=session, start=day, end=day, policy=ReminderPolicy())
    skip = resolve_department(session=session, name=besides).id
    department = session.get(Department, next(d for r in due for d in r.department_ids if d != skip))
    assert department is not None
    return department


def _joined_behind_the_counter(engine: Engine, department: Department, user_id: int) -> int:
    """A contact written with a Core INSERT, which no ORM flush sees: only a plan of everything finds them."""
    with Session(engine) as session:
        inserted = session.execute(
            insert(Contact).values(
                department_id=department.id, name="旁路", telegram_user_id=user_id, role=ContactRole.contact
            )
        )
        session.commit()
        return int(inserted.inserted_primary_key[0])


def test_the_tick_after_a_change_plans_what_the_change_touched_and_a_plan_edit_plans_everything(
    engine: Engine, seeded: Session
) -> None:
    day = dt.date(2025, 12, 24)
    clock = [local(day.isoformat(), 9)]
    jobs = Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0])
    jobs.plan()
    elsewhere = _department_owed_a_reminder_on(seeded, day, besides="区教体局")
    unseen = _joined_behind_the_counter(engine, elsewhere, 3001)

    clock[0] = local(day.isoformat(), 10)
    joined = _join_elsewhere(engine, "区教体局", 1001, clock[0])
    clock[0] = local(day.isoformat(), 10, 5)
    jobs.plan()
    assert _reminders_to(engine, joined)  # what the change touched: the newcomer's department's milestones
    assert not _reminders_to(engine, unseen)  # another department's were not read again

    with Session(engine) as session:  # an edit to a plan may change who hears about anything in it
        plan = session.exec(select(Plan)).first()
        assert plan is not None
        plan.title = plan.title + "（修订）"
        session.add(plan)
        session.commit()
    clock[0] = local(day.isoformat(), 10, 10)
    jobs.plan()
    assert _reminders_to(engine, unseen)


def test_a_department_added_to_a_task_hears_about_it_on_the_next_tick(
    engine: Engine, seeded: Session, join: Callable[..., Contact]
) -> None:
    day = dt.date(2025, 12, 24)
    owed = plan_reminders(session=seeded, start=day, end=day, policy=ReminderPolicy())
    task_id = seeded.get(Milestone, owed[0].milestone_id).task_id  # type: ignore[union-attr]
    on_task = {d for r in owed if r.milestone_id == owed[0].milestone_id for d in r.department_ids}
    newcomer = seeded.exec(select(Department).where(col(Department.id).not_in(on_task))).first()
    assert newcomer is not None and newcomer.id is not None
    contact = join(newcomer.name, 1001, region=newcomer.region)
    clock = [local(day.isoformat(), 9)]
    jobs = Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0])
    jobs.plan()
    assert not _reminders_to(engine, contact.id or 0)
    with Session(engine) as session:  # a second 牵头单位 added to the task, in a session of its own
        session.add(
            TaskDepartment(
                task_id=task_id,
                department_id=newcomer.id,
                role=DepartmentRole.lead,
                printed_as=newcomer.name,
                position=9,
            )
        )
        session.commit()
    clock[0] = local(day.isoformat(), 9, 5)
    jobs.plan()
    assert {key.split(":")[1] for key in _reminders_to(engine, contact.id or 0)} == {
        f"m{owed[0].milestone_id}"
    }


def test_a_coordinator_who_joins_mid_day_is_told_of_the_countys_overdue_milestones_on_the_next_tick(
    engine: Engine, seeded: Session
) -> None:
    clock = [local("2026-01-01", 9)]  # day one of the ladder for the milestones due 2025-12-31
    jobs = Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0])
    jobs.plan()
    with Session(engine) as session:
        dept = resolve_department(session=session, name="区教体局")
        issued = create_invite(
            session=session,
            department=dept,
            role=ContactRole.coordinator,
            now=clock[0],
            ttl=dt.timedelta(days=7),
        )
        coordinator = redeem_invite(
            session=session, token=issued.token, telegram_user_id=2001, language="zh_CN", now=clock[0]
        ).id
    clock[0] = local("2026-01-01", 9, 5)
    jobs.plan()

    def told() -> set[tuple[int, str]]:
        with Session(engine) as session:
            rows = session.exec(
                select(Notification).where(
                    Notification.kind == "overdue", Notification.contact_id == coordinator
                )
            ).all()
            return {(item["m"], item["due"]) for row in rows for item in row.payload["items"]}

    got = told()
    assert "2025-12-31" in {due for _, due in got}
    # all a process started now would tell them: a fresh start finds nothing more owed
    Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0]).plan()
    assert told() == got


def test_a_contact_who_joins_mid_day_hears_of_every_rung_reached_today_and_of_nothing_closed(
    engine: Engine, session: Session
) -> None:
    """The tick after the join reads the milestones the newcomer must hear about by id, 500 to a query: a
    department leading 520 tasks due 2025-12-31, one of them closed, and a yearly duty whose 2025 report is
    missing. On day one they are told of every open one, each on its instance, as a start would tell them."""
    tasks = [(dt.date(2025, 12, 31), "教体局", None, "none")] * 521 + [
        (dt.date(2024, 12, 31), "教体局", None, "yearly")
    ]
    *dated, closed, duty = own_county(session, "丙县", tasks)
    closed.status = MilestoneStatus.done  # type: ignore[assignment]
    session.add(closed)
    session.commit()
    clock = [local("2026-01-01", 9)]
    jobs = Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0])
    jobs.plan()  # nobody of 丙县 has joined yet
    clock[0] = local("2026-01-01", 10)
    with Session(engine) as elsewhere:
        contact = joined_in(elsewhere, "丙县", "教体局", ContactRole.contact, 1001).id
    clock[0] = local("2026-01-01", 10, 5)
    jobs.plan()

    def told() -> set[tuple[int, str, int]]:
        with Session(engine) as reader:
            rows = reader.exec(
                select(Notification).where(Notification.kind == "overdue", Notification.contact_id == contact)
            ).all()
            return {(item["m"], item["due"], item["days"]) for row in rows for item in row.payload["items"]}

    got = told()
    assert got == {(m.id, "2025-12-31", 1) for m in [*dated, duty]}
    Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0]).plan()  # a start finds nothing more owed
    assert told() == got


def test_a_contact_who_joins_between_rungs_first_hears_at_the_next_rung(
    engine: Engine, session: Session
) -> None:
    """The ladder is told on day one and every seventh day; someone joining on day ten waits for day fourteen, as
    everyone else does, for a dated milestone and a recurring duty alike."""
    dated, duty = own_county(
        session,
        "丙县",
        [(dt.date(2025, 12, 31), "教体局", None, "none"), (dt.date(2024, 12, 31), "教体局", None, "yearly")],
    )
    clock = [local("2026-01-10", 9)]  # day 10 of both (the duty's 2025 instance)
    jobs = Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0])
    jobs.plan()
    clock[0] = local("2026-01-10", 10)
    with Session(engine) as elsewhere:
        contact = joined_in(elsewhere, "丙县", "教体局", ContactRole.contact, 1001).id

    def told() -> set[tuple[int, int]]:
        with Session(engine) as reader:
            rows = reader.exec(
                select(Notification).where(Notification.kind == "overdue", Notification.contact_id == contact)
            ).all()
            return {(item["m"], item["days"]) for row in rows for item in row.payload["items"]}

    day = dt.date(2026, 1, 10)
    while day <= dt.date(2026, 1, 14):
        clock[0] = local(day.isoformat(), 10, 5)
        jobs.plan()
        assert told() == (set() if day.day < 14 else {(dated.id, 14), (duty.id, 14)}), day
        day += dt.timedelta(days=1)
