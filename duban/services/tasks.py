"""A contact's own tasks: the open milestones of their department, and a task's full story."""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as select_columns  # sqlmodel's select is typed for at most four columns
from sqlmodel import Session, col, or_, select

from duban.recurrence import current_instance
from duban.services.access import require_role, visible_task_ids
from duban.services.errors import InvalidInput, NotFound, NumberNoLongerOpen, NumberNotListed
from duban.services.text import storable
from models import (
    Contact,
    ContactRole,
    DepartmentRole,
    ListedMilestone,
    Milestone,
    MilestoneStatus,
    Plan,
    ProgressReport,
    Task,
    TaskDepartment,
    limits,
)


@dataclass(frozen=True)
class TaskLine:
    number: int
    milestone_id: int
    task_id: int
    task_ref: str
    task_title: str
    plan_title: str
    due_on: dt.date
    recurrence: str
    role: DepartmentRole


@dataclass(frozen=True)
class TaskDetail:
    task: Task
    lead: list[str]
    co: list[str]
    milestones: list[tuple[Milestone, dt.date]]  # with the due date in force
    reports: list[ProgressReport]


def _open_rows(*, session: Session, contact: Contact, milestone_id: int | None = None) -> Sequence[Any]:
    """The open milestones of the contact's department (of their one plan, if they were invited for one), with
    what a list line shows (one milestone's alone)."""
    # plain columns, not ORM objects: a department that leads hundreds of tasks made every few /tasks pay a full
    # garbage collection of the process for the objects its identity map kept alive (p95 3x the median)
    one = () if milestone_id is None else (col(Milestone.id) == milestone_id,)
    scope = () if contact.plan_id is None else (col(Task.plan_id) == contact.plan_id,)
    return (
        session.connection()
        .execute(
            select_columns(
                col(Milestone.id),
                col(Milestone.task_id),
                col(Milestone.due_on),
                col(Milestone.recurrence),
                col(Milestone.until),
                col(Task.position),
                col(Task.ref),
                col(Task.title),
                col(Plan.key),
                col(Plan.title).label("plan_title"),
                col(TaskDepartment.role),
            )
            .join(TaskDepartment, col(TaskDepartment.task_id) == Milestone.task_id)
            .join(Task, col(Task.id) == Milestone.task_id)
            .join(Plan, col(Plan.id) == Task.plan_id)
            .where(
                col(TaskDepartment.department_id) == contact.department_id,
                col(Milestone.status) == MilestoneStatus.open,
                *one,
                *scope,
            )
        )
        .all()
    )


def _line(row: Any, *, number: int, today: dt.date) -> TaskLine:
    return TaskLine(
        number=number,
        milestone_id=row.id,
        task_id=row.task_id,
        task_ref=row.ref,
        task_title=row.title,
        plan_title=row.plan_title,
        due_on=current_instance(row, today=today)[1],
        recurrence=row.recurrence,
        role=DepartmentRole(row.role),
    )


def open_task_lines(*, session: Session, contact: Contact, today: dt.date) -> list[TaskLine]:
    """Open milestones of the contact's department (of their plan, if limited to one), lead tasks first, then co,
    nearest due first, each under the number it was first shown to this contact with (a new one takes the next
    number never used for them).

    Numbers given here are committed before the list is shown: a number on the person's screen is in the database.
    """
    require_role(contact, ContactRole.contact)
    rows = sorted(
        _open_rows(session=session, contact=contact),
        key=lambda row: (
            0 if row.role == DepartmentRole.lead else 1,
            current_instance(row, today=today)[1],
            row.key,
            row.position,
        ),
    )
    numbers = _numbers(session=session, contact=contact, milestone_ids=[row.id for row in rows])
    return [_line(row, number=numbers[row.id], today=today) for row in rows]


def _numbers(*, session: Session, contact: Contact, milestone_ids: list[int]) -> dict[int, int]:
    """milestone id -> the contact's number for it; milestones never listed to them get the next unused numbers,
    in list order, so a first list reads 1, 2, 3 and a number once shown never changes its meaning."""
    listed = dict(
        session.connection()
        .execute(
            select_columns(col(ListedMilestone.milestone_id), col(ListedMilestone.number)).where(
                col(ListedMilestone.contact_id) == contact.id
            )
        )
        .all()
    )
    new = [milestone_id for milestone_id in milestone_ids if milestone_id not in listed]
    if new:
        assert contact.id is not None
        highest = (
            session.connection()
            .execute(
                select_columns(func.max(ListedMilestone.number)).where(
                    col(ListedMilestone.contact_id) == contact.id
                )
            )
            .scalar_one()
        )
        for number, milestone_id in enumerate(new, start=(highest or 0) + 1):
            session.add(ListedMilestone(contact_id=contact.id, number=number, milestone_id=milestone_id))
            listed[milestone_id] = number
        session.commit()
    return {milestone_id: listed[milestone_id] for milestone_id in milestone_ids}


def line_by_number(*, session: Session, contact: Contact, number: int, today: dt.date) -> TaskLine:
    """The open milestone this contact was shown as `number`. A number never shown to them, or one whose
    milestone has since been closed out, withdrawn or taken from their department, is refused, never read as
    whatever the list holds at that place now."""
    require_role(contact, ContactRole.contact)
    listed = session.get(ListedMilestone, (contact.id, number))
    if listed is None or listed.milestone_id is None:
        raise NumberNotListed(number)
    rows = _open_rows(session=session, contact=contact, milestone_id=listed.milestone_id)
    if rows:
        return _line(rows[0], number=number, today=today)
    milestone = session.get(Milestone, listed.milestone_id)
    assert milestone is not None  # a foreign key
    task = session.get(Task, milestone.task_id)
    assert task is not None
    reason = "not_yours" if milestone.status == MilestoneStatus.open else str(milestone.status.value)
    raise NumberNoLongerOpen(
        number,
        task_ref=task.ref,
        task_title=task.title,
        due_on=current_instance(milestone, today=today)[1],
        reason=reason,
    )


def task_detail(*, session: Session, contact: Contact, task_id: int, today: dt.date) -> TaskDetail:
    require_role(contact, *ContactRole)
    if task_id not in visible_task_ids(session=session, contact=contact):
        raise NotFound(str(task_id))
    task = session.get(Task, task_id)
    assert task is not None
    reports = session.exec(
        select(ProgressReport)
        .join(Milestone, col(Milestone.id) == ProgressReport.milestone_id)
        .where(Milestone.task_id == task_id)
        .order_by(col(ProgressReport.reported_at))
    ).all()
    return TaskDetail(
        task=task,
        lead=[d.name for d in task.departments(DepartmentRole.lead)],
        co=[d.name for d in task.departments(DepartmentRole.co)],
        milestones=[(m, current_instance(m, today=today)[1]) for m in task.milestones],
        reports=list(reports),
    )


MAX_FIND_RESULTS = 30


def find_tasks(*, session: Session, contact: Contact, keyword: str) -> list[Task]:
    """Tasks whose title or text contains the keyword, among those the user may see."""
    require_role(contact, *ContactRole)
    if len(keyword) > limits.SEARCH_KEYWORD:
        raise InvalidInput("too_long")
    needle = storable(keyword).replace("%", "").replace("_", "")
    if not needle:  # nothing left to look for must not match everything
        return []
    pattern = f"%{needle}%"
    statement = (
        select(Task)
        .where(col(Task.id).in_(visible_task_ids(session=session, contact=contact)))
        .where(or_(col(Task.title).like(pattern), col(Task.text).like(pattern)))
        .order_by(col(Task.plan_id), col(Task.position))
        .limit(MAX_FIND_RESULTS)
    )
    return list(session.exec(statement).all())
