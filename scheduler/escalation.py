"""Silence is noticed: re-chase unacknowledged reminders, escalate overdue milestones, and name laggards (通报)."""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from duban.services.access import coordinators_for_plan
from duban.services.outbox import enqueue, is_queued
from duban.status import MilestoneState, milestone_views
from models import (
    Contact,
    ContactRole,
    Department,
    DepartmentRole,
    EscalationStep,
    Milestone,
    Notification,
    Plan,
    ProgressReport,
    Task,
    TaskDepartment,
)
from models.people import reachable
from scheduler.workdays import add_working_days


@dataclass(frozen=True)
class EscalationPolicy:
    rechase_after_working_days: int = 2
    repeat_every_days: int = 7  # after the first overdue notice (the day after the due date)
    department_lead_after_days: int = 14  # 催办: the department's own lead is told too
    tongbao_after_days: int = 30  # the milestone goes on the coordinators' weekly 通报 list


def plan_rechases(*, session: Session, now: dt.datetime, tz: ZoneInfo, policy: EscalationPolicy) -> int:
    """A reminder neither acknowledged nor answered within N working days is sent once more."""
    today = now.astimezone(tz).date()
    sent = session.exec(
        select(Notification).where(
            Notification.kind == "reminder",
            col(Notification.sent_at).is_not(None),
            col(Notification.acknowledged_at).is_(None),
        )
    ).all()
    queued = 0
    for reminder in sent:
        assert reminder.sent_at is not None
        if (
            add_working_days(reminder.sent_at.astimezone(tz).date(), policy.rechase_after_working_days)
            > today
        ):
            continue
        if _answered_since(session, reminder):
            continue
        contact = session.get(Contact, reminder.contact_id)
        if contact is None or not contact.active:
            continue
        if enqueue(
            session=session,
            key=f"rechase:n{reminder.id}",
            kind="rechase",
            contact=contact,
            payload={"of": reminder.id, "days": reminder.payload.get("days")},
            due_at=now,
            tz=tz,
            milestone_id=reminder.milestone_id,
            instance_due_on=reminder.instance_due_on,
            for_department=True,
        ):
            queued += 1
    session.commit()
    return queued


def _answered_since(session: Session, reminder: Notification) -> bool:
    """Any report on the milestone from the reminded contact's department since the reminder went out."""
    contact = session.get(Contact, reminder.contact_id)
    if contact is None or reminder.milestone_id is None:
        return False
    count = session.exec(
        select(func.count())
        .select_from(ProgressReport)
        .join(Contact, col(Contact.id) == ProgressReport.contact_id)
        .where(
            ProgressReport.milestone_id == reminder.milestone_id,
            Contact.department_id == contact.department_id,
        )
        .where(col(ProgressReport.reported_at) >= reminder.sent_at)
    ).one()
    return count > 0


def plan_escalations(*, session: Session, now: dt.datetime, tz: ZoneInfo, policy: EscalationPolicy) -> int:
    """The ladder for each overdue milestone: day 1, then weekly; the department's lead joins after 14 days.

    Each rung reached is recorded once per recipient (EscalationStep); a recipient gets one bundled message listing
    the milestones that reached a rung in this run, so a county with fifty late items is not sent fifty messages.
    """
    today = now.astimezone(tz).date()
    newly: dict[int, list[dict[str, object]]] = {}
    steps: dict[int, list[EscalationStep]] = {}
    recipients_by_id: dict[int, Contact] = {}
    for view in milestone_views(session=session, today=today):
        if view.state != MilestoneState.overdue:
            continue
        milestone = session.get(Milestone, view.milestone_id)
        assert milestone is not None
        if milestone.escalation_paused_until is not None and milestone.escalation_paused_until >= today:
            continue
        days = (today - view.due_on).days
        if days < 1:
            continue
        step = days // policy.repeat_every_days
        urge = days >= policy.department_lead_after_days
        task = session.get(Task, milestone.task_id)
        assert task is not None
        recipients = _lead_contacts(session, task, ContactRole.contact)
        recipients += coordinators_for_plan(session=session, plan=task.plan)
        if urge:
            recipients += _lead_contacts(session, task, ContactRole.lead)
        for contact in recipients:
            assert contact.id is not None and milestone.id is not None
            if _step_exists(session, milestone.id, view.due_on, step, contact.id):
                continue
            rung = EscalationStep(
                milestone_id=milestone.id,
                instance_due_on=view.due_on,
                step=step,
                contact_id=contact.id,
                at=now,
            )
            session.add(rung)
            steps.setdefault(contact.id, []).append(rung)
            recipients_by_id[contact.id] = contact
            newly.setdefault(contact.id, []).append(
                {"m": milestone.id, "due": view.due_on.isoformat(), "days": days, "urge": urge}
            )
    for contact_id, items in newly.items():
        contact = recipients_by_id[contact_id]
        notice = enqueue(
            session=session,
            key=f"overdue:{today.isoformat()}:c{contact_id}:{now.isoformat()}",
            kind="overdue",
            contact=contact,
            payload={"items": items},
            due_at=now,
            tz=tz,
            for_department=contact.role == ContactRole.contact,
        )
        for rung in steps[contact_id]:  # the rung is recorded with the message that tells it, in one commit
            rung.notification_id = notice.id if notice else None
    session.commit()
    return len(newly)


def _step_exists(session: Session, milestone_id: int, due: dt.date, step: int, contact_id: int) -> bool:
    return (
        session.exec(
            select(EscalationStep.id).where(
                EscalationStep.milestone_id == milestone_id,
                EscalationStep.instance_due_on == due,
                EscalationStep.step == step,
                EscalationStep.contact_id == contact_id,
            )
        ).first()
        is not None
    )


def _lead_contacts(session: Session, task: Task, role: ContactRole) -> list[Contact]:
    return list(
        session.exec(
            select(Contact)
            .join(TaskDepartment, col(TaskDepartment.department_id) == Contact.department_id)
            .where(TaskDepartment.task_id == task.id, TaskDepartment.role == DepartmentRole.lead)
            .where(Contact.role == role, reachable())
        ).all()
    )


def plan_tongbao(*, session: Session, now: dt.datetime, tz: ZoneInfo, policy: EscalationPolicy) -> int:
    """Once a week, each coordinator gets the list of departments with milestones overdue 30 days or more."""
    today = now.astimezone(tz).date()
    year, week, _weekday = today.isocalendar()
    queued = 0
    for plan in session.exec(select(Plan)).all():
        coordinators = coordinators_for_plan(session=session, plan=plan)
        keys = {c.id: f"tongbao:{plan.key}:{year}-W{week:02d}:c{c.id}" for c in coordinators}
        waiting = [c for c in coordinators if not is_queued(session, keys[c.id])]
        if not waiting:  # this week's 通报 is out: skip the status computation on every later tick
            continue
        laggards: dict[str, list[int]] = {}
        for view in milestone_views(session=session, today=today, plan_ids=[plan.id or 0]):
            if view.state != MilestoneState.overdue or (today - view.due_on).days < policy.tongbao_after_days:
                continue
            milestone = session.get(Milestone, view.milestone_id)
            if milestone and milestone.escalation_paused_until and milestone.escalation_paused_until >= today:
                continue
            for name in _lead_department_names(session, view.milestone_id):
                laggards.setdefault(name, []).append(view.milestone_id)
        if not laggards:
            continue
        for coordinator in waiting:
            if enqueue(
                session=session,
                key=keys[coordinator.id],
                kind="tongbao",
                contact=coordinator,
                payload={"plan_id": plan.id, "departments": laggards},
                due_at=now,
                tz=tz,
            ):
                queued += 1
    session.commit()
    return queued


def _lead_department_names(session: Session, milestone_id: int) -> list[str]:
    return list(
        session.exec(
            select(Department.name)
            .join(TaskDepartment, col(TaskDepartment.department_id) == Department.id)
            .join(Milestone, col(Milestone.task_id) == TaskDepartment.task_id)
            .where(Milestone.id == milestone_id, TaskDepartment.role == DepartmentRole.lead)
        ).all()
    )


def tell_coordinators_blocked(session: Session, contact: Contact, now: dt.datetime) -> None:
    """A contact who blocked the bot gets nothing more; their county's coordinators are told once."""
    department = session.get(Department, contact.department_id)
    if department is None:
        return
    coordinators = session.exec(
        select(Contact)
        .join(Department, col(Department.id) == Contact.department_id)
        .where(Department.region == department.region, Contact.role == ContactRole.coordinator)
        .where(reachable())
    ).all()
    for coordinator in coordinators:
        enqueue(
            session=session,
            key=f"blocked:c{contact.id}:to{coordinator.id}",
            kind="blocked",
            contact=coordinator,
            payload={"contact_id": contact.id},
            due_at=now,
        )
