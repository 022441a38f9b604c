"""A contact's own tasks: the open milestones of their department, and a task's full story."""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import selectinload
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
    ProgressReport,
    Task,
    TaskDepartment,
    limits,
)
from models.query import rel


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
    rows = session.exec(
        select(Milestone, TaskDepartment)
        .join(TaskDepartment, col(TaskDepartment.task_id) == Milestone.task_id)
        .where(TaskDepartment.department_id == contact.department_id)
        .where(Milestone.status == MilestoneStatus.open)
        .options(selectinload(rel(Milestone.task)).selectinload(rel(Task.plan)))
    ).all()
    lines = []
    for milestone, link in rows:
        _, due = current_instance(milestone, today=today)
        lines.append(
            (0 if link.role == DepartmentRole.lead else 1, due, milestone.task.position, milestone, link)
        )
    lines.sort(key=lambda item: (item[0], item[1], item[3].task.plan.key, item[2]))
    return [
        TaskLine(
            number=index,
            milestone_id=m.id or 0,
            task_id=m.task_id,
            task_ref=m.task.ref,
            task_title=m.task.title,
            plan_title=m.task.plan.title,
            due_on=due,
            recurrence=m.recurrence,
            role=DepartmentRole(link.role),
        )
        for index, (_, due, _, m, link) in enumerate(lines, start=1)
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
