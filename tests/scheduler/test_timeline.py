"""Five years of the seed plans, stepped day by day: every dated milestone gets its reminders, once, in order."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlmodel import Session, col, select

from models import Department, DepartmentRole, Milestone, Notification, Plan, Recurrence, Task, TaskDepartment
from scheduler.outbox_planner import plan_outbox
from scheduler.policy import ReminderPolicy
from scheduler.workdays import is_working_day
from tests.scheduler.conftest import SHANGHAI

POLICY = ReminderPolicy()
DOWN = (dt.date(2025, 7, 2), dt.date(2025, 7, 6))  # the service is down; a new process starts on 07-07


def _lead_departments_of_dated_milestones(session: Session) -> set[tuple[str, str]]:
    rows = session.exec(
        select(Department.name, Department.region)
        .join(TaskDepartment, col(TaskDepartment.department_id) == Department.id)
        .join(Milestone, col(Milestone.task_id) == TaskDepartment.task_id)
        .where(TaskDepartment.role == DepartmentRole.lead, Milestone.recurrence == Recurrence.none)
    ).all()
    return set(rows)


def test_every_dated_milestone_gets_its_reminders_once_in_order_at_allowed_times(
    seeded: Session, join
) -> None:  # type: ignore[no-untyped-def]
    for user_id, (name, region) in enumerate(
        sorted(_lead_departments_of_dated_milestones(seeded)), start=10_000
    ):
        join(name, user_id, region=region)

    day = dt.date(2023, 1, 1)
    while day <= dt.date(2028, 1, 1):
        if not DOWN[0] <= day <= DOWN[1]:
            now = dt.datetime.combine(day, dt.time(9, 5), tzinfo=SHANGHAI)
            plan_outbox(session=seeded, now=now, policy=POLICY, tz=SHANGHAI, catch_up_days=7)
        day += dt.timedelta(days=1)

    reminders = seeded.exec(select(Notification).where(Notification.kind == "reminder")).all()
    by_milestone: dict[int, list[Notification]] = defaultdict(list)
    for row in reminders:
        by_milestone[row.milestone_id or 0].append(row)

    dated = seeded.exec(
        select(Milestone, Plan)
        .join(Task, col(Task.id) == Milestone.task_id)
        .join(Plan, col(Plan.id) == Task.plan_id)
        .where(Milestone.recurrence == Recurrence.none)
    ).all()
    checked = 0
    for milestone, plan in dated:
        if milestone.due_on.year not in (2023, 2025, 2027):
            continue
        expected_steps = [
            d for d in POLICY.lead_days if milestone.due_on - dt.timedelta(days=d) >= plan.issued_on
        ]
        rows = sorted(by_milestone[milestone.id or 0], key=lambda r: r.due_at)
        steps = [int(r.idempotency_key.split(":d")[1].split(":")[0]) for r in rows]
        leads = len({r.contact_id for r in rows}) or 1
        # every step once per lead contact, in order: 180 days before first, 1 day before last
        assert sorted(set(steps), reverse=True) == expected_steps, (plan.key, milestone.id)
        assert len(steps) == len(expected_steps) * leads
        assert [s for s in steps[::leads]] == expected_steps
        checked += 1
    assert checked == 6 + 37 + 26  # every 2023, 2025 and 2027 milestone of the seed data

    local_times = [r.due_at.astimezone(SHANGHAI) for r in reminders]
    assert all(is_working_day(t.date()) and 8 <= t.hour < 22 for t in local_times)
    assert not any(t.date() == dt.date(2025, 10, 1) for t in local_times)
    assert len({r.idempotency_key for r in reminders}) == len(reminders)
    late = [r for r in reminders if r.payload["late_since"]]
    assert late and all(r.due_at.astimezone(SHANGHAI).date() == dt.date(2025, 7, 7) for r in late)
