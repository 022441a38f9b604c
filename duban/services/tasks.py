"""A contact's own tasks: the open milestones of their department, and a task's full story."""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select as select_columns  # sqlmodel's select is typed for at most four columns
from sqlmodel import Session, col, or_, select

from duban.recurrence import current_instance
from duban.services.access import require_role, visible_task_ids
from duban.services.errors import InvalidInput, NotFound
from duban.services.text import storable
from models import (
    Contact,
    ContactRole,
    DepartmentRole,
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


def open_task_lines(*, session: Session, contact: Contact, today: dt.date) -> list[TaskLine]:
    """Open milestones of the contact's department: lead tasks first, then co, nearest due first."""
    require_role(contact, ContactRole.contact)
    # plain columns, not ORM objects: a department that leads hundreds of tasks made every few /tasks pay a full
    # garbage collection of the process for the objects its identity map kept alive (p95 3x the median)
    rows: Sequence[Any] = (
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
            )
        )
        .all()
    )
    lines = sorted(
        (
            (0 if row.role == DepartmentRole.lead else 1, current_instance(row, today=today)[1], row)
            for row in rows
        ),
        key=lambda line: (line[0], line[1], line[2].key, line[2].position),
    )
    return [
        TaskLine(
            number=index,
            milestone_id=row.id,
            task_id=row.task_id,
            task_ref=row.ref,
            task_title=row.title,
            plan_title=row.plan_title,
            due_on=due,
            recurrence=row.recurrence,
            role=DepartmentRole(row.role),
        )
        for index, (_, due, row) in enumerate(lines, start=1)
    ]


def line_by_number(*, session: Session, contact: Contact, number: int, today: dt.date) -> TaskLine:
    for line in open_task_lines(session=session, contact=contact, today=today):
        if line.number == number:
            return line
    raise NotFound(str(number))


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
