"""Silence is noticed: re-chase unacknowledged reminders, escalate overdue milestones, and name laggards (通报)."""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, and_, cast, exists, insert, literal
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from duban.chunks import in_parts
from duban.services.access import coordinators_by_plan
from duban.services.outbox import ContactRef, Owed, enqueue, enqueue_all, queued_keys
from duban.services.recipients import Because, lead_department_names, who_must_hear
from duban.status import overdue_recurring, overdue_views
from models import (
    Contact,
    ContactRole,
    Department,
    EscalationStep,
    Milestone,
    MilestoneStatus,
    Notification,
    Plan,
    ProgressReport,
    Recurrence,
    Task,
)
from models.people import reachable
from models.types import RECURRING
from scheduler.workdays import add_working_days

RECHASE_WINDOW = dt.timedelta(
    days=30
)  # 2 working days after a sent reminder, even across the longest holiday
FULL_LOOKBACK_DAYS = 7  # one whole week: every overdue milestone reached a rung in it
RECIPIENTS_PER_COMMIT = 500  # a recipient's message and its rungs are written together
MILESTONES_PER_PART = 2000  # overdue milestones whose hearers and recorded rungs are read at once
RECHASES_PER_PART = 5000  # unanswered reminders read, judged and re-chased at once
TONGBAO_PLANS_PER_COMMIT = 200  # plans whose overdue milestones are read, judged and queued at once


@dataclass(frozen=True)
class EscalationPolicy:
    rechase_after_working_days: int = 2
    repeat_every_days: int = 7  # after the first overdue notice (the day after the due date)
    department_lead_after_days: int = 14  # 催办: the department's own lead is told too
    tongbao_after_days: int = 30  # the milestone goes on the coordinators' weekly 通报 list


def plan_rechases(*, session: Session, now: dt.datetime, tz: ZoneInfo, policy: EscalationPolicy) -> int:
    """A reminder neither acknowledged nor answered within N working days is sent once more.

    Reads only reminders of the last RECHASE_WINDOW not chased yet, as plain columns and a part at a time (each
    part answered with one query and committed with its re-chases), so memory follows a part, not 31 December's
    tens of thousands of unanswered reminders.
    """
    today = now.astimezone(tz).date()
    # N working days are at least N days: one sent since the start of the day N-1 days ago cannot be due yet
    too_recent = dt.datetime.combine(
        today - dt.timedelta(days=policy.rechase_after_working_days - 1), dt.time(), tzinfo=tz
    )
    chase = aliased(Notification)
    unanswered = (
        sa_select(
            col(Notification.id),
            col(Notification.contact_id),
            col(Notification.milestone_id),
            col(Notification.instance_due_on),
            col(Notification.sent_at),
            col(Notification.payload),
        )
        .where(
            col(Notification.kind) == "reminder",
            col(Notification.sent_at) >= now - RECHASE_WINDOW,  # older ones were settled long ago
            col(Notification.sent_at) < too_recent,
            col(Notification.acknowledged_at).is_(None),
        )
        .where(
            ~exists().where(
                col(chase.idempotency_key) == literal("rechase:n") + cast(col(Notification.id), String)
            )
        )
        .order_by(col(Notification.id))
        .limit(RECHASES_PER_PART)
    )
    queued = 0
    after_id = 0
    while part := session.execute(unanswered.where(col(Notification.id) > after_id)).all():
        after_id = part[-1].id or 0
        waited = [
            row
            for row in part
            if row.sent_at is not None
            and add_working_days(row.sent_at.astimezone(tz).date(), policy.rechase_after_working_days)
            <= today
        ]
        contacts = _contacts(session, {row.contact_id for row in waited if row.contact_id is not None})
        answered = _latest_reports(
            session, {row.milestone_id for row in waited if row.milestone_id is not None}
        )
        owed = []
        for reminder_id, contact_id, milestone_id, instance_due_on, sent_at, payload in waited:
            contact = contacts.get(contact_id or 0)
            if contact is None or not contact.active:
                continue
            latest = answered.get((milestone_id or 0, contact.department_id))
            if latest is not None and sent_at is not None and latest >= sent_at:
                continue  # the department reported on it since: no need to chase
            owed.append(
                Owed(
                    key=f"rechase:n{reminder_id}",
                    kind="rechase",
                    contact=ContactRef(contact.id or 0, contact.department_id),
                    payload={"of": reminder_id, "days": (payload or {}).get("days")},
                    due_at=now,
                    milestone_id=milestone_id,
                    instance_due_on=instance_due_on,
                    for_department=True,
                )
            )
        queued += sum(row is not None for row in enqueue_all(session=session, owed=owed, tz=tz))
        session.commit()
    return queued


def _contacts(session: Session, ids: set[int]) -> dict[int, Contact]:
    found: dict[int, Contact] = {}
    ordered = sorted(ids)
    for chunk in in_parts(ordered):
        for contact in session.exec(select(Contact).where(col(Contact.id).in_(chunk))):
            found[contact.id or 0] = contact
    return found


def _latest_reports(session: Session, milestone_ids: set[int]) -> dict[tuple[int, int], dt.datetime]:
    """(milestone, department) -> when that department last reported on it."""
    latest: dict[tuple[int, int], dt.datetime] = {}
    ordered = sorted(milestone_ids)
    for chunk in in_parts(ordered):
        for milestone_id, department_id, at in session.exec(
            select(
                col(ProgressReport.milestone_id),
                col(Contact.department_id),
                func.max(ProgressReport.reported_at),
            )
            .join(Contact, col(Contact.id) == ProgressReport.contact_id)
            .where(col(ProgressReport.milestone_id).in_(chunk))
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
    milestone_ids: Sequence[int] | None = None,
) -> int:
    """The ladder for each overdue milestone: day 1, then weekly; the department's lead joins after 14 days.

    Only milestones that reached a rung in the last `lookback_days` days are read: a running process passes a short
    look-back, the first tick after a start the full week, so a rung missed while the service was down still
    happens. Each rung reached is recorded once per recipient (EscalationStep) in the same commit as the message
    that tells it; a recipient gets one bundled message listing the milestones that reached a rung in this run.
    Given milestone_ids (what a change touched), only those are read.
    """
    today = now.astimezone(tz).date()
    if milestone_ids is None:
        overdue = _crossed_a_rung(session, today, lookback_days, policy)
    else:
        overdue = _of_these_crossed_a_rung(session, milestone_ids, today, lookback_days, policy)
    owed = _rungs_owed(session, overdue, today, policy)
    contact_ids = sorted(owed)
    # a recipient's message and its rungs are committed together; a few hundred recipients a commit, so that what
    # a start after a long stop writes (tens of thousands of messages) is never all in memory at once
    for chunk in in_parts(contact_ids, RECIPIENTS_PER_COMMIT):
        recipients = _contacts(session, set(chunk))
        notices = enqueue_all(
            session=session,
            owed=[
                Owed(
                    key=f"overdue:{today.isoformat()}:c{contact_id}:{now.isoformat()}",
                    kind="overdue",
                    contact=recipients[contact_id],
                    payload={
                        # `urge`: a rung where the policy tells the department's leadership too. Not a claim that
                        # anyone was: the notice says 已告知分管领导 from the leader's own rung (scheduler/told.py)
                        "items": [
                            {"m": m, "due": due.isoformat(), "days": days, "urge": urge}
                            for m, due, _step, days, urge in owed[contact_id]
                        ]
                    },
                    due_at=now,
                    for_department=recipients[contact_id].role == ContactRole.contact,
                )
                for contact_id in chunk
            ],
            tz=tz,
        )
        # as one INSERT of plain rows: an ORM object per rung cost more than the query
        session.execute(
            insert(EscalationStep),
            [
                {
                    "milestone_id": m,
                    "instance_due_on": due,
                    "step": step,
                    "contact_id": contact_id,
                    "at": now,
                    "notification_id": notice_id,
                }
                for contact_id, notice_id in zip(chunk, notices, strict=True)
                for m, due, step, _days, _urge in owed[contact_id]
            ],
        )
        session.commit()
    return len(owed)


def _rungs_owed(
    session: Session, overdue: list[tuple[int, dt.date]], today: dt.date, policy: EscalationPolicy
) -> dict[int, list[tuple[int, dt.date, int, int, bool]]]:
    """contact id -> (milestone, instance due date, step, days overdue, urged) of each rung still to tell them.

    Read a few thousand milestones at a time: who must hear and what they were told are large per milestone, what
    is still owed is as large as what will be written.
    """
    owed: dict[int, list[tuple[int, dt.date, int, int, bool]]] = {}
    for part in in_parts(overdue, MILESTONES_PER_PART):
        ids = sorted({milestone_id for milestone_id, _due in part})
        paused = _paused(session, ids, today)
        hearers = who_must_hear(session=session, milestone_ids=ids)
        done = _rungs_recorded(session, part, today, policy)
        for milestone_id, due in part:
            if milestone_id in paused:
                continue
            days = (today - due).days
            step = days // policy.repeat_every_days
            urge = days >= policy.department_lead_after_days
            for contact_id, because in hearers.get(milestone_id, []):
                if (because == Because.lead and not urge) or (milestone_id, due, step, contact_id) in done:
                    continue
                owed.setdefault(contact_id, []).append((milestone_id, due, step, days, urge))
    return owed


def _reached_a_rung(days: int, lookback_days: int, policy: EscalationPolicy) -> bool:
    """Did a milestone `days` overdue reach a rung (day 1, then every week) within the last `lookback_days` days?"""
    window = range(max(1, days - lookback_days + 1), days + 1)
    return any(d == 1 or d % policy.repeat_every_days == 0 for d in window)


def _open_dated_past(today: dt.date) -> ColumnElement[bool]:
    """An open one-off milestone past its date: overdue whatever its reports say."""
    return and_(
        col(Milestone.status) == MilestoneStatus.open,
        col(Milestone.recurrence) == Recurrence.none,
        col(Milestone.due_on) < today,
    )


def _crossed_a_rung(
    session: Session, today: dt.date, lookback_days: int, policy: EscalationPolicy
) -> list[tuple[int, dt.date]]:
    """(milestone, instance due date) of the overdue milestones that reached a rung lately, oldest first.

    A dated milestone is overdue when it is open and past its date, so an indexed query over the due dates on which
    a rung falls finds them; a recurring duty's state depends on its reports, so only the duties whose unanswered
    period would reach a rung are judged (overdue_recurring).
    """
    is_open_dated = _open_dated_past(today)
    found: list[tuple[int, dt.date]] = []
    first = session.exec(select(func.min(Milestone.due_on)).where(is_open_dated)).one()
    if first is not None:
        dates = [
            today - dt.timedelta(days=days)
            for days in range(1, (today - first).days + 1)
            if _reached_a_rung(days, lookback_days, policy)
        ]
        for chunk in in_parts(dates):
            found += [
                (milestone_id or 0, due)
                for milestone_id, due in session.exec(
                    select(col(Milestone.id), col(Milestone.due_on))
                    .where(is_open_dated, col(Milestone.due_on).in_(chunk))
                    .order_by(col(Milestone.due_on), col(Milestone.id))
                ).all()
            ]
    found += overdue_recurring(
        session=session,
        today=today,
        days_overdue=lambda days: days >= 1 and _reached_a_rung(days, lookback_days, policy),
    )
    return found


def _of_these_crossed_a_rung(
    session: Session,
    milestone_ids: Sequence[int],
    today: dt.date,
    lookback_days: int,
    policy: EscalationPolicy,
) -> list[tuple[int, dt.date]]:
    """_crossed_a_rung for a few milestones, read by id, in the same order."""
    found: list[tuple[int, dt.date]] = []
    for chunk in in_parts(milestone_ids):
        found += [
            (milestone_id or 0, due)
            for milestone_id, due in session.exec(
                select(col(Milestone.id), col(Milestone.due_on)).where(
                    col(Milestone.id).in_(chunk), _open_dated_past(today)
                )
            ).all()
            if _reached_a_rung((today - due).days, lookback_days, policy)
        ]
    found.sort(key=lambda pair: (pair[1], pair[0]))
    found += overdue_recurring(
        session=session,
        today=today,
        days_overdue=lambda days: days >= 1 and _reached_a_rung(days, lookback_days, policy),
        milestone_ids=milestone_ids,
    )
    return found


def _paused(session: Session, ids: list[int], today: dt.date) -> set[int]:
    paused: set[int] = set()
    for chunk in in_parts(ids):
        paused.update(
            m or 0
            for m in session.exec(
                select(Milestone.id).where(
                    col(Milestone.id).in_(chunk),
                    col(Milestone.escalation_paused_until) >= today,
                )
            ).all()
        )
    return paused


def _rungs_recorded(
    session: Session, overdue: list[tuple[int, dt.date]], today: dt.date, policy: EscalationPolicy
) -> set[tuple[int, dt.date, int, int]]:
    """(milestone, instance due date, step, contact) already recorded, of the steps these milestones are on today;
    earlier steps' rungs (a milestone overdue for months has dozens per recipient) are not read."""
    steps_of: dict[int, set[int]] = {}
    for milestone_id, due in overdue:
        steps_of.setdefault(milestone_id, set()).add((today - due).days // policy.repeat_every_days)
    ids = sorted(steps_of)
    recorded: set[tuple[int, dt.date, int, int]] = set()
    for chunk in in_parts(ids):
        recorded.update(
            session.exec(
                select(
                    col(EscalationStep.milestone_id),
                    col(EscalationStep.instance_due_on),
                    col(EscalationStep.step),
                    col(EscalationStep.contact_id),
                ).where(
                    col(EscalationStep.milestone_id).in_(chunk),
                    col(EscalationStep.step).in_(sorted(set().union(*(steps_of[m] for m in chunk)))),
                )
            ).all()
        )
    return recorded


def plan_tongbao(*, session: Session, now: dt.datetime, tz: ZoneInfo, policy: EscalationPolicy) -> int:
    """Once a week, each coordinator gets the list of departments with milestones overdue 30 days or more.

    Only the plans that may have such a milestone are read (an open one-off milestone due by then, or an open
    recurring duty: two index ranges), so a province whose past is closed out costs two empty reads. Then a few
    hundred plans at once: one status query for those whose 通报 is still owed this week, then one query each
    for pauses and lead departments, whatever the number of milestones.
    """
    today = now.astimezone(tz).date()
    year, week, _weekday = today.isocalendar()
    due_through = today - dt.timedelta(days=policy.tongbao_after_days)
    candidates = _plans_maybe_lagging(session, due_through)
    plan_keys: dict[int, str] = {}
    for part in in_parts(candidates):
        plan_keys.update(
            (plan_id or 0, key)
            for plan_id, key in session.exec(select(Plan.id, Plan.key).where(col(Plan.id).in_(part))).all()
        )
    coordinators_of = coordinators_by_plan(session=session, plan_ids=candidates)
    keys = {
        (plan_id, contact_id): f"tongbao:{plan_keys[plan_id]}:{year}-W{week:02d}:c{contact_id}"
        for plan_id, coordinators in coordinators_of.items()
        for contact_id, _department_id in coordinators
    }
    sent = queued_keys(session=session, keys=keys.values())
    waiting: dict[int, list[ContactRef]] = {}
    for plan_id, coordinators in coordinators_of.items():
        not_yet = [
            ContactRef(contact_id, department_id)
            for contact_id, department_id in coordinators
            if keys[(plan_id, contact_id)] not in sent
        ]
        if not_yet:
            waiting[plan_id] = not_yet
    if not waiting:  # this week's 通报 is out: every later tick of the week stops here
        return 0
    queued = 0
    owed_plans = sorted(waiting)
    # a part at a time, each committed, so memory follows a part and not every overdue milestone of the province
    for part in in_parts(owed_plans, TONGBAO_PLANS_PER_COMMIT):
        laggards = _laggards(session, today, due_through, {plan_keys[plan_id]: plan_id for plan_id in part})
        owed = [
            Owed(
                key=keys[(plan_id, coordinator.id)],
                kind="tongbao",
                contact=coordinator,
                payload={"plan_id": plan_id, "departments": laggards[plan_id]},
                due_at=now,
            )
            for plan_id in part
            if laggards.get(plan_id)
            for coordinator in waiting[plan_id]
        ]
        queued += sum(row is not None for row in enqueue_all(session=session, owed=owed, tz=tz))
        session.commit()
    return queued


def _plans_maybe_lagging(session: Session, due_through: dt.date) -> list[int]:
    """The plans with an open one-off milestone due by `due_through` or an open recurring duty, in id order: a
    superset of those with a milestone overdue since then (whether a duty's instance is, only its dates tell)."""
    is_open = col(Milestone.status) == MilestoneStatus.open
    one_off = and_(
        is_open, col(Milestone.recurrence) == Recurrence.none, col(Milestone.due_on) <= due_through
    )
    recurring = and_(is_open, col(Milestone.recurrence).in_(RECURRING))
    found: set[int] = set()
    for which in (one_off, recurring):
        # milestones first (an IN list, not a join): SQLite would otherwise walk every task for the DISTINCT
        tasks = select(Milestone.task_id).where(which)
        found.update(session.exec(select(Task.plan_id).distinct().where(col(Task.id).in_(tasks))).all())
    return sorted(found)


def _laggards(
    session: Session, today: dt.date, due_through: dt.date, plan_ids: dict[str, int]
) -> dict[int, dict[str, list[int]]]:
    """plan id -> lead department name -> its milestones overdue since `due_through` or before, not paused.

    `plan_ids`: plan key -> plan id, of the plans to read."""
    views = overdue_views(
        session=session, today=today, plan_ids=sorted(plan_ids.values()), due_through=due_through
    )
    ids = sorted({view.milestone_id for view in views})
    paused = _paused(session, ids, today)
    leads = lead_department_names(session=session, milestone_ids=ids)
    laggards: dict[int, dict[str, list[int]]] = {}
    for view in views:  # in plan, task and date order, so each department's list reads in that order
        if view.milestone_id in paused:
            continue
        for name in leads.get(view.milestone_id, []):
            laggards.setdefault(plan_ids[view.plan_key], {}).setdefault(name, []).append(view.milestone_id)
    return laggards


def tell_coordinators_blocked(session: Session, contact: Contact, now: dt.datetime, tz: dt.tzinfo) -> None:
    """A contact who blocked the bot gets nothing more; their county's coordinators are told once (`tz`: the
    settings' zone, as every caller passes it)."""
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
            tz=tz,
        )
