"""Silence is noticed: re-chase unacknowledged reminders, escalate overdue milestones, and name laggards (通报)."""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, cast, exists, literal
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from duban.services.access import coordinators_for_plan
from duban.services.outbox import enqueue, is_queued
from duban.services.recipients import Because, who_must_hear
from duban.status import MilestoneState, milestone_views
from models import (
    Contact,
    ContactRole,
    Department,
    DepartmentRole,
    EscalationStep,
    Milestone,
    MilestoneStatus,
    Notification,
    Plan,
    ProgressReport,
    Recurrence,
    Task,
    TaskDepartment,
)
from models.people import reachable
from scheduler.workdays import add_working_days

RECHASE_WINDOW = dt.timedelta(
    days=30
)  # 2 working days after a sent reminder, even across the longest holiday
FULL_LOOKBACK_DAYS = 7  # one whole week: every overdue milestone reached a rung in it
CHUNK = 500


@dataclass(frozen=True)
class EscalationPolicy:
    rechase_after_working_days: int = 2
    repeat_every_days: int = 7  # after the first overdue notice (the day after the due date)
    department_lead_after_days: int = 14  # 催办: the department's own lead is told too
    tongbao_after_days: int = 30  # the milestone goes on the coordinators' weekly 通报 list


def plan_rechases(*, session: Session, now: dt.datetime, tz: ZoneInfo, policy: EscalationPolicy) -> int:
    """A reminder neither acknowledged nor answered within N working days is sent once more.

    Reads only reminders of the last RECHASE_WINDOW not chased yet, and answers them with one query per batch.
    """
    today = now.astimezone(tz).date()
    chase = aliased(Notification)
    sent = session.exec(
        select(Notification)
        .where(
            Notification.kind == "reminder",
            col(Notification.sent_at) >= now - RECHASE_WINDOW,  # older ones were settled long ago
            col(Notification.acknowledged_at).is_(None),
        )
        .where(
            ~exists().where(
                col(chase.idempotency_key) == literal("rechase:n") + cast(col(Notification.id), String)
            )
        )
    ).all()
    waited = [
        reminder
        for reminder in sent
        if reminder.sent_at is not None
        and add_working_days(reminder.sent_at.astimezone(tz).date(), policy.rechase_after_working_days)
        <= today
    ]
    contacts = _contacts(session, {r.contact_id for r in waited if r.contact_id is not None})
    answered = _latest_reports(session, {r.milestone_id for r in waited if r.milestone_id is not None})
    queued = 0
    for reminder in waited:
        contact = contacts.get(reminder.contact_id or 0)
        if contact is None or not contact.active:
            continue
        latest = answered.get((reminder.milestone_id or 0, contact.department_id))
        if latest is not None and reminder.sent_at is not None and latest >= reminder.sent_at:
            continue  # the department reported on it since: no need to chase
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


def _contacts(session: Session, ids: set[int]) -> dict[int, Contact]:
    found: dict[int, Contact] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        for contact in session.exec(
            select(Contact).where(col(Contact.id).in_(ordered[start : start + CHUNK]))
        ):
            found[contact.id or 0] = contact
    return found


def _latest_reports(session: Session, milestone_ids: set[int]) -> dict[tuple[int, int], dt.datetime]:
    """(milestone, department) -> when that department last reported on it."""
    latest: dict[tuple[int, int], dt.datetime] = {}
    ordered = sorted(milestone_ids)
    for start in range(0, len(ordered), CHUNK):
        for milestone_id, department_id, at in session.exec(
            select(
                col(ProgressReport.milestone_id),
                col(Contact.department_id),
                func.max(ProgressReport.reported_at),
            )
            .join(Contact, col(Contact.id) == ProgressReport.contact_id)
            .where(col(ProgressReport.milestone_id).in_(ordered[start : start + CHUNK]))
            .group_by(col(ProgressReport.milestone_id), col(Contact.department_id))
        ).all():
            latest[(milestone_id, department_id)] = at
    return latest


def plan_escalations(
    *,
    session: Session,
    now: dt.datetime,
    tz: ZoneInfo,
    policy: EscalationPolicy,
    lookback_days: int = FULL_LOOKBACK_DAYS,
) -> int:
    """The ladder for each overdue milestone: day 1, then weekly; the department's lead joins after 14 days.

    Only milestones that reached a rung in the last `lookback_days` days are read: a running process passes a short
    look-back, the first tick after a start the full week, so a rung missed while the service was down still
    happens. Each rung reached is recorded once per recipient (EscalationStep) in the same commit as the message
    that tells it; a recipient gets one bundled message listing the milestones that reached a rung in this run.
    """
    today = now.astimezone(tz).date()
    overdue = _crossed_a_rung(session, today, lookback_days, policy)
    if not overdue:
        return 0
    ids = sorted({milestone_id for milestone_id, _due in overdue})
    paused = _paused(session, ids, today)
    hearers = who_must_hear(session=session, milestone_ids=ids)
    done = _rungs_recorded(session, ids)
    newly: dict[int, list[dict[str, object]]] = {}
    steps: dict[int, list[EscalationStep]] = {}
    recipients_by_id: dict[int, Contact] = {}
    for milestone_id, due in overdue:
        if milestone_id in paused:
            continue
        days = (today - due).days
        step = days // policy.repeat_every_days
        urge = days >= policy.department_lead_after_days
        for contact, because in hearers.get(milestone_id, []):
            assert contact.id is not None
            if (because == Because.lead and not urge) or (milestone_id, due, step, contact.id) in done:
                continue
            rung = EscalationStep(
                milestone_id=milestone_id, instance_due_on=due, step=step, contact_id=contact.id, at=now
            )
            session.add(rung)
            steps.setdefault(contact.id, []).append(rung)
            recipients_by_id[contact.id] = contact
            newly.setdefault(contact.id, []).append(
                {"m": milestone_id, "due": due.isoformat(), "days": days, "urge": urge}
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


def _reached_a_rung(days: int, lookback_days: int, policy: EscalationPolicy) -> bool:
    """Did a milestone `days` overdue reach a rung (day 1, then every week) within the last `lookback_days` days?"""
    window = range(max(1, days - lookback_days + 1), days + 1)
    return any(d == 1 or d % policy.repeat_every_days == 0 for d in window)


def _crossed_a_rung(
    session: Session, today: dt.date, lookback_days: int, policy: EscalationPolicy
) -> list[tuple[int, dt.date]]:
    """(milestone, instance due date) of the overdue milestones that reached a rung lately, oldest first.

    A dated milestone is overdue when it is open and past its date, so an indexed query over the due dates on which
    a rung falls finds them; a recurring duty's state depends on its reports, so those are judged by milestone_views.
    """
    is_open_dated = and_(
        col(Milestone.status) == MilestoneStatus.open,
        col(Milestone.recurrence) == Recurrence.none,
        col(Milestone.due_on) < today,
    )
    found: list[tuple[int, dt.date]] = []
    first = session.exec(select(func.min(Milestone.due_on)).where(is_open_dated)).one()
    if first is not None:
        dates = [
            today - dt.timedelta(days=days)
            for days in range(1, (today - first).days + 1)
            if _reached_a_rung(days, lookback_days, policy)
        ]
        for start in range(0, len(dates), CHUNK):
            found += [
                (milestone_id or 0, due)
                for milestone_id, due in session.exec(
                    select(col(Milestone.id), col(Milestone.due_on))
                    .where(is_open_dated, col(Milestone.due_on).in_(dates[start : start + CHUNK]))
                    .order_by(col(Milestone.due_on), col(Milestone.id))
                ).all()
            ]
    recurring_plans = session.exec(
        select(Task.plan_id)
        .join(Milestone, col(Milestone.task_id) == Task.id)
        .where(col(Milestone.status) == MilestoneStatus.open, col(Milestone.recurrence) != Recurrence.none)
        .distinct()
    ).all()
    if recurring_plans:
        found += [
            (view.milestone_id, view.due_on)
            for view in milestone_views(session=session, today=today, plan_ids=list(recurring_plans))
            if view.recurrence != Recurrence.none
            and view.state == MilestoneState.overdue
            and (today - view.due_on).days >= 1
            and _reached_a_rung((today - view.due_on).days, lookback_days, policy)
        ]
    return found


def _paused(session: Session, ids: list[int], today: dt.date) -> set[int]:
    paused: set[int] = set()
    for start in range(0, len(ids), CHUNK):
        paused.update(
            m or 0
            for m in session.exec(
                select(Milestone.id).where(
                    col(Milestone.id).in_(ids[start : start + CHUNK]),
                    col(Milestone.escalation_paused_until) >= today,
                )
            ).all()
        )
    return paused


def _rungs_recorded(session: Session, ids: list[int]) -> set[tuple[int, dt.date, int, int]]:
    recorded: set[tuple[int, dt.date, int, int]] = set()
    for start in range(0, len(ids), CHUNK):
        recorded.update(
            session.exec(
                select(
                    col(EscalationStep.milestone_id),
                    col(EscalationStep.instance_due_on),
                    col(EscalationStep.step),
                    col(EscalationStep.contact_id),
                ).where(col(EscalationStep.milestone_id).in_(ids[start : start + CHUNK]))
            ).all()
        )
    return recorded


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
