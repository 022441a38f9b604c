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
    ContactRole,
    Department,
    DepartmentRole,
    Milestone,
    MilestoneStatus,
    Notification,
    ProgressReport,
    Task,
    TaskDepartment,
    limits,
)
from models.people import reachable


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


@dataclass(frozen=True)
class UnreachedDepartment:
    """A department leading open milestones of the reader's plans with no contact a reminder can reach: it was
    never asked, so its silence is no answer either way. (Cooperating departments are asked for their input
    to the lead, not for an answer here.)"""

    department: str
    open_milestones: int  # open milestones it leads
    overdue: int  # of those, overdue today


@dataclass(frozen=True)
class Unanswered:
    """未回复部门: who stayed silent after a reminder, and apart from them who no reminder can reach."""

    silent: list[SilentDepartment]
    unreached: list[UnreachedDepartment]


def unanswered(*, session: Session, reader: Contact, now: dt.datetime, today: dt.date) -> Unanswered:
    """The silent departments and, as their own group, the departments nobody has joined for."""
    silent = silent_departments(session=session, reader=reader, now=now)
    return Unanswered(
        silent=silent, unreached=unreached_departments(session=session, reader=reader, today=today)
    )


def unreached_departments(*, session: Session, reader: Contact, today: dt.date) -> list[UnreachedDepartment]:
    """Departments leading open milestones of the plans the reader sees that have no reachable contact, so no
    reminder reaches them: most overdue first."""
    require_reader(reader)
    plan_ids = visible_plan_ids(session=session, contact=reader)
    named = session.exec(
        select(Department.id, Department.name, Milestone.id)
        .join(TaskDepartment, col(TaskDepartment.department_id) == Department.id)
        .join(Task, col(Task.id) == TaskDepartment.task_id)
        .join(Milestone, col(Milestone.task_id) == Task.id)
        .where(col(Task.plan_id).in_(plan_ids), col(Milestone.status) == MilestoneStatus.open)
        .where(col(TaskDepartment.role) == DepartmentRole.lead)
    ).all()
    reached = set(
        session.exec(
            select(Contact.department_id)
            .where(col(Contact.department_id).in_({department_id for department_id, _n, _m in named}))
            .where(col(Contact.role) == ContactRole.contact, reachable())
            .distinct()
        ).all()
    )
    late = {view.milestone_id for view in overdue_views(session=session, today=today, plan_ids=plan_ids)}
    milestones: dict[tuple[int, str], set[int]] = {}
    for department_id, name, milestone_id in named:
        if department_id not in reached:
            milestones.setdefault((department_id or 0, name), set()).add(milestone_id or 0)
    found = [UnreachedDepartment(name, len(ids), len(ids & late)) for (_id, name), ids in milestones.items()]
    return sorted(found, key=lambda u: (-u.overdue, -u.open_milestones, u.department))


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
