"""What coordinators ask: who is overdue, who stayed silent, what one department has on its plate."""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import exists
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from duban.services import audit
from duban.services.access import (
    region_of,
    require_coordinator,
    require_reader,
    visible_milestone,
    visible_plan_ids,
)
from duban.services.errors import InvalidInput, NotFound
from duban.services.text import storable
from duban.status import (
    MilestoneView,
    StatusReport,
    UnknownDepartment,
    overdue_views,
    status_report,
)
from models import (
    Contact,
    Department,
    DepartmentRole,
    Milestone,
    Notification,
    ProgressReport,
    Task,
    TaskDepartment,
    limits,
)


def status_for(
    *, session: Session, reader: Contact, today: dt.date, department: str | None = None
) -> StatusReport:
    require_reader(reader)
    return status_report(
        session=session,
        today=today,
        department=storable(department) if department is not None else None,
        plan_ids=visible_plan_ids(session=session, contact=reader),
        region=region_of(session=session, contact=reader),
        with_milestones=False,  # /status shows counts
    )


@dataclass(frozen=True)
class OverdueLine:
    view: MilestoneView
    lead_departments: list[str]
    days_overdue: int


def overdue(*, session: Session, reader: Contact, today: dt.date) -> list[OverdueLine]:
    require_reader(reader)
    late = overdue_views(
        session=session, today=today, plan_ids=visible_plan_ids(session=session, contact=reader)
    )
    leads = _lead_names(session, [v.milestone_id for v in late])
    lines = [OverdueLine(v, leads.get(v.milestone_id, []), (today - v.due_on).days) for v in late]
    return sorted(lines, key=lambda line: (-line.days_overdue, line.view.plan_key, line.view.task_ref))


def _lead_names(session: Session, milestone_ids: list[int]) -> dict[int, list[str]]:
    rows = session.exec(
        select(Milestone.id, Department.name)
        .join(TaskDepartment, col(TaskDepartment.task_id) == Milestone.task_id)
        .join(Department, col(Department.id) == TaskDepartment.department_id)
        .where(col(Milestone.id).in_(milestone_ids), TaskDepartment.role == DepartmentRole.lead)
        .order_by(col(TaskDepartment.position))
    ).all()
    names: dict[int, list[str]] = {}
    for milestone_id, name in rows:
        names.setdefault(milestone_id or 0, []).append(name)
    return names


@dataclass(frozen=True)
class SilentDepartment:
    department: str
    last_reminder_at: dt.datetime
    days_silent: int


def silent_departments(*, session: Session, reader: Contact, now: dt.datetime) -> list[SilentDepartment]:
    """Departments whose contacts have not reported since the last reminder sent to them (one query)."""
    require_reader(reader)
    plan_ids = visible_plan_ids(session=session, contact=reader)
    last_sent = (
        select(
            col(Contact.department_id).label("department_id"),
            func.max(Notification.sent_at).label("sent_at"),
        )
        .join(Contact, col(Contact.id) == Notification.contact_id)
        .join(Milestone, col(Milestone.id) == Notification.milestone_id)
        .join(Task, col(Task.id) == Milestone.task_id)
        .where(col(Notification.sent_at).is_not(None), Notification.kind == "reminder")
        .where(col(Task.plan_id).in_(plan_ids))
        .group_by(col(Contact.department_id))
        .subquery("last_sent")
    )
    reporter = aliased(Contact, name="reporter")
    answered = (
        exists()
        .where(col(ProgressReport.contact_id) == col(reporter.id))
        .where(col(reporter.department_id) == last_sent.c.department_id)
        .where(col(ProgressReport.reported_at) >= last_sent.c.sent_at)
    )
    if reader.plan_id is not None:
        # a department answers this reader by reporting on their plan: its contact limited to another plan
        # reporting there has not answered this plan's reminders
        answered = answered.where(
            col(ProgressReport.milestone_id).in_(
                select(Milestone.id)
                .join(Task, col(Task.id) == Milestone.task_id)
                .where(col(Task.plan_id).in_(plan_ids))
                .correlate(None)
            )
        )
    rows = session.exec(
        select(Department.name, last_sent.c.sent_at)
        .join(last_sent, last_sent.c.department_id == Department.id)
        .where(~answered)
    ).all()
    result = [SilentDepartment(name, sent_at, (now - sent_at).days) for name, sent_at in rows]
    return sorted(result, key=lambda s: (s.last_reminder_at, s.department))


def department_milestones(
    *, session: Session, reader: Contact, name: str, today: dt.date
) -> list[MilestoneView]:
    require_reader(reader)
    region = region_of(session=session, contact=reader)
    try:
        report = status_report(
            session=session,
            today=today,
            department=storable(name),
            region=region,
            plan_ids=visible_plan_ids(session=session, contact=reader),
        )
    except UnknownDepartment as exc:
        raise NotFound(name) from exc
    return report.milestones


MAX_PAUSE_DAYS = 90


def pause_escalation(
    *,
    session: Session,
    coordinator: Contact,
    milestone_id: int,
    days: int,
    reason: str,
    now: dt.datetime,
    today: dt.date,
) -> tuple[Milestone, dt.date]:
    """A coordinator stops the overdue ladder for a while, with a reason that is kept."""
    require_coordinator(coordinator)
    reason = storable(reason).strip()
    if not 1 <= days <= MAX_PAUSE_DAYS or not reason:
        raise InvalidInput("usage_snooze")
    if len(reason) > limits.PAUSE_REASON:
        raise InvalidInput("reason_too_long")
    milestone, task = visible_milestone(session=session, reader=coordinator, milestone_id=milestone_id)
    until = today + dt.timedelta(days=days)
    milestone.escalation_paused_until = until
    milestone.escalation_pause_reason = reason
    session.add(milestone)
    audit.record(
        session,
        now=now,
        contact_id=coordinator.id,
        action="pause_escalation",
        milestone_id=milestone.id,
        detail=f"until={until} reason={reason}",
    )
    session.commit()
    return milestone, until


def department_for_reader(*, session: Session, reader: Contact, name: str) -> Department:
    """A department of the reader's own county, by the name or an alias the plans print."""
    from duban.status import find_departments

    require_reader(reader)
    region = region_of(session=session, contact=reader)
    found = [d for d in find_departments(session=session, name=storable(name)) if d.region == region]
    if not found:
        raise NotFound(name)
    return found[0]


def department_by_id(*, session: Session, reader: Contact, department_id: int) -> Department:
    require_reader(reader)
    department = session.get(Department, department_id)
    if department is None or department.region != region_of(session=session, contact=reader):
        raise NotFound(str(department_id))  # another county's department does not exist for this reader
    return department
