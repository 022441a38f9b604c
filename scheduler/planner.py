"""Which reminders fall due in a window: plain Python over the database, no Telegram, no APScheduler."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy import select as sa_select  # more columns than sqlmodel.select types
from sqlmodel import Session, col, select

from duban.chunks import in_parts
from duban.recurrence import instance_dates
from models import (
    Department,
    DepartmentRole,
    Milestone,
    MilestoneStatus,
    Plan,
    Recurrence,
    Task,
    TaskDepartment,
)
from scheduler.policy import ReminderPolicy
from seed_data.schema import MONTHLY_DAY, SEMESTER_ENDS

PERIOD_DAYS: dict[str, int] = {Recurrence.yearly: 365, Recurrence.semester: 170, Recurrence.monthly: 28}


class ReminderKind(StrEnum):
    reminder = "reminder"  # to the lead department: the milestone is coming up
    co_notice = "co_notice"  # to cooperating departments: send your input to the lead


@dataclass(frozen=True)
class PlannedReminder:
    send_on: dt.date
    kind: ReminderKind
    days_before: int
    milestone_id: int
    instance_due: dt.date
    recurrence: str
    plan_id: int  # of a department's contacts limited to one plan, those limited to this one are reminded
    plan_key: str
    plan_title: str
    task_ref: str
    task_title: str
    target: str
    departments: tuple[str, ...]
    department_ids: tuple[int, ...]


@dataclass(frozen=True)
class _Candidate:
    """A milestone that may be reminded of in the window, with what a reminder names: plain columns, no ORM."""

    milestone_id: int
    due_on: dt.date
    recurrence: str
    until: dt.date | None
    target: str
    task_id: int
    task_ref: str
    task_title: str
    plan_id: int
    plan_key: str
    plan_title: str
    plan_issued_on: dt.date
    # role -> (id, name) of each department, in the order the task lists them
    departments: dict[str, tuple[tuple[int, str], ...]]


def plan_reminders(
    *,
    session: Session,
    start: dt.date,
    end: dt.date,
    policy: ReminderPolicy,
    milestone_ids: Sequence[int] | None = None,
) -> list[PlannedReminder]:
    """Reminders whose send date lies in [start, end], ordered by send date; of these milestones only, if given."""
    horizon = end + dt.timedelta(days=policy.horizon_days)
    planned: list[PlannedReminder] = []
    if milestone_ids is None:
        candidates = _candidates(session, candidate_filter(start, end, policy))
    else:
        candidates = [
            candidate
            for chunk in in_parts(milestone_ids)
            for candidate in _candidates(
                session,
                and_(
                    candidate_filter(start, end, policy),
                    col(Milestone.id).in_(chunk),
                ),
            )
        ]
    for candidate in candidates:
        for due in instance_dates(candidate, through=horizon):
            if due < start:
                continue
            planned.extend(_reminders_for_instance(candidate, due, start, end, policy))
    planned.sort(key=lambda r: (r.send_on, r.plan_key, r.task_ref, r.kind, r.instance_due, r.milestone_id))
    return planned


def _candidates(session: Session, where: ColumnElement[bool]) -> list[_Candidate]:
    """The milestones that can give a reminder inside the window (the cost follows what is due), as rows."""
    rows = session.execute(
        sa_select(
            col(Milestone.id).label("milestone_id"),
            col(Milestone.due_on),
            col(Milestone.recurrence),
            col(Milestone.until),
            col(Milestone.target),
            col(Task.id).label("task_id"),
            col(Task.ref).label("task_ref"),
            col(Task.title).label("task_title"),
            col(Plan.id).label("plan_id"),
            col(Plan.key).label("plan_key"),
            col(Plan.title).label("plan_title"),
            col(Plan.issued_on).label("plan_issued_on"),
        )
        .join(Task, col(Task.id) == Milestone.task_id)
        .join(Plan, col(Plan.id) == Task.plan_id)
        .where(where)
    ).all()
    # the columns are labelled as _Candidate's fields: a row is a candidate once its departments are added
    departments = _departments_of(session, sorted({row.task_id for row in rows}))
    return [_Candidate(**row._asdict(), departments=departments.get(row.task_id, {})) for row in rows]


def _departments_of(
    session: Session, task_ids: list[int]
) -> dict[int, dict[str, tuple[tuple[int, str], ...]]]:
    """task id -> role -> (department id, name), in the order the plan lists them."""
    found: dict[int, dict[str, list[tuple[int, str]]]] = {}
    for chunk in in_parts(task_ids):
        for task_id, role, department_id, name in session.exec(
            select(
                col(TaskDepartment.task_id),
                col(TaskDepartment.role),
                col(Department.id),
                col(Department.name),
            )
            .join(Department, col(Department.id) == TaskDepartment.department_id)
            .where(col(TaskDepartment.task_id).in_(chunk))
            .order_by(col(TaskDepartment.task_id), col(TaskDepartment.position))
        ).all():
            found.setdefault(task_id, {}).setdefault(role, []).append((department_id or 0, name))
    return {task: {role: tuple(ds) for role, ds in roles.items()} for task, roles in found.items()}


def candidate_filter(start: dt.date, end: dt.date, policy: ReminderPolicy) -> ColumnElement[bool]:
    """Each branch is one range of ix_milestone_status_recurrence_due_on.

    A dated milestone can only be reminded of `d` days ahead if it falls due in [start + d, end + d]; a recurring
    duty only if a step it uses lands on one of its calendar due dates (12-31; 01-20 and 07-10; the 25th, which
    the seed schema enforces). `status` sits inside every branch so the database can use the index for each.
    """
    lead_steps = {*policy.lead_days, *(d for days in policy.per_plan.values() for d in days)}
    is_open = col(Milestone.status) == MilestoneStatus.open
    branches = [
        and_(
            is_open,
            col(Milestone.recurrence) == Recurrence.none,
            col(Milestone.due_on).between(start + dt.timedelta(days=d), end + dt.timedelta(days=d)),
        )
        for d in sorted({*lead_steps, policy.co_notice_days})
    ]
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    for recurrence, period in PERIOD_DAYS.items():
        steps = {d for d in lead_steps if d < period}
        if policy.co_notice_days < period:
            steps.add(policy.co_notice_days)
        hits = [day + dt.timedelta(days=d) for day in days for d in steps]
        hits = [due for due in hits if _on_calendar(recurrence, due)]
        if hits:
            branches.append(
                and_(
                    is_open,
                    col(Milestone.recurrence) == recurrence,
                    col(Milestone.due_on) <= max(hits),
                    or_(col(Milestone.until).is_(None), col(Milestone.until) >= min(hits)),
                )
            )
    return or_(*branches)


def _on_calendar(recurrence: str, due: dt.date) -> bool:
    if recurrence == Recurrence.yearly:
        return (due.month, due.day) == (12, 31)
    if recurrence == Recurrence.semester:
        return (due.month, due.day) in SEMESTER_ENDS
    return due.day == MONTHLY_DAY


def _reminders_for_instance(
    candidate: _Candidate, due: dt.date, start: dt.date, end: dt.date, policy: ReminderPolicy
) -> list[PlannedReminder]:
    # a step as long as the period itself would remind of the next instance before the current one is due
    period = PERIOD_DAYS.get(candidate.recurrence)
    steps = [
        (ReminderKind.reminder, d)
        for d in policy.lead_days_for(candidate.plan_key)
        if period is None or d < period
    ]
    if period is None or policy.co_notice_days < period:
        steps.append((ReminderKind.co_notice, policy.co_notice_days))
    result = []
    for kind, days in steps:
        send_on = due - dt.timedelta(days=days)
        # nothing is sent before the plan was issued, nor outside the window asked for
        if not start <= send_on <= end or send_on < candidate.plan_issued_on:
            continue
        role = DepartmentRole.lead if kind == ReminderKind.reminder else DepartmentRole.co
        responsible = candidate.departments.get(role, ())
        if not responsible:
            continue
        result.append(
            PlannedReminder(
                send_on=send_on,
                kind=kind,
                days_before=days,
                milestone_id=candidate.milestone_id,
                instance_due=due,
                recurrence=candidate.recurrence,
                plan_id=candidate.plan_id,
                plan_key=candidate.plan_key,
                plan_title=candidate.plan_title,
                task_ref=candidate.task_ref,
                task_title=candidate.task_title,
                target=candidate.target,
                departments=tuple(name for _id, name in responsible),
                department_ids=tuple(department_id for department_id, _name in responsible),
            )
        )
    return result
