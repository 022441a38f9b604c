"""Which reminders fall due in a window: plain Python over the database, no Telegram, no APScheduler."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, select

from duban.recurrence import instance_dates
from models import DepartmentRole, Milestone, MilestoneStatus, Plan, Recurrence, Task, TaskDepartment
from models.query import rel
from scheduler.policy import ReminderPolicy
from seed_data.schema import MONTHLY_DAY, SEMESTER_ENDS

PERIOD_DAYS = {Recurrence.yearly: 365, Recurrence.semester: 170, Recurrence.monthly: 28}


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
    plan_key: str
    plan_title: str
    task_ref: str
    task_title: str
    target: str
    departments: tuple[str, ...]
    department_ids: tuple[int, ...]


def plan_reminders(
    *, session: Session, start: dt.date, end: dt.date, policy: ReminderPolicy
) -> list[PlannedReminder]:
    """Reminders whose send date lies in [start, end], ordered by send date."""
    horizon = end + dt.timedelta(days=policy.horizon_days)
    statement = (
        select(Milestone)
        # only milestones that can give a reminder inside the window: the cost follows what is due
        .where(candidate_filter(start, end, policy))
        .options(
            selectinload(rel(Milestone.task)).selectinload(rel(Task.plan)),
            selectinload(rel(Milestone.task))
            .selectinload(rel(Task.department_links))
            .selectinload(rel(TaskDepartment.department)),
        )
    )
    planned: list[PlannedReminder] = []
    for milestone in session.exec(statement).all():
        task = milestone.task
        plan = task.plan
        for due in instance_dates(milestone, through=horizon):
            if due < start:
                continue
            planned.extend(_reminders_for_instance(milestone, task, plan, due, start, end, policy))
    planned.sort(key=lambda r: (r.send_on, r.plan_key, r.task_ref, r.kind, r.instance_due, r.milestone_id))
    return planned


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
    milestone: Milestone,
    task: Task,
    plan: Plan,
    due: dt.date,
    start: dt.date,
    end: dt.date,
    policy: ReminderPolicy,
) -> list[PlannedReminder]:
    # a step as long as the period itself would remind of the next instance before the current one is due
    period = PERIOD_DAYS.get(milestone.recurrence)
    steps = [
        (ReminderKind.reminder, d) for d in policy.lead_days_for(plan.key) if period is None or d < period
    ]
    if period is None or policy.co_notice_days < period:
        steps.append((ReminderKind.co_notice, policy.co_notice_days))
    result = []
    for kind, days in steps:
        send_on = due - dt.timedelta(days=days)
        # nothing is sent before the plan was issued, nor outside the window asked for
        if not start <= send_on <= end or send_on < plan.issued_on:
            continue
        role = DepartmentRole.lead if kind == ReminderKind.reminder else DepartmentRole.co
        responsible = task.departments(role)
        departments = tuple(d.name for d in responsible)
        if not departments:
            continue
        result.append(
            PlannedReminder(
                send_on=send_on,
                kind=kind,
                days_before=days,
                milestone_id=milestone.id or 0,
                instance_due=due,
                recurrence=milestone.recurrence,
                plan_key=plan.key,
                plan_title=plan.title,
                task_ref=task.ref,
                task_title=task.title,
                target=milestone.target,
                departments=departments,
                department_ids=tuple(d.id or 0 for d in responsible),
            )
        )
    return result
