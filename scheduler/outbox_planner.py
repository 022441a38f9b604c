"""Write the reminders that are due into the outbox, one row per milestone and recipient, keyed so a rerun adds
nothing. A row holds the facts (milestone, due date, days before); the dispatcher sends a contact's rows of one
moment as one message."""

import datetime as dt
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from duban.chunks import in_parts
from duban.services.outbox import ROWS_PER_INSERT, ContactRef, allowed_moment, queued_keys, write_rows
from models import Contact, ContactRole
from models.people import reachable
from models.types import utcnow
from scheduler.dispatcher import MAX_ATTEMPTS
from scheduler.planner import PlannedReminder, plan_reminders
from scheduler.policy import ReminderPolicy

log = logging.getLogger(__name__)
SEND_AT = dt.time(9, 0)  # local time a reminder is meant to go out on its day


@dataclass(frozen=True)
class PlanningResult:
    queued: int
    skipped_stale: int
    # plan key -> the reminders of send days past the catch-up window that were read, whether recorded as skipped
    # now or by an earlier tick: what a stop cost, the same however often the tick is retried
    stale: Mapping[str, int] = field(default_factory=dict)

    def __add__(self, other: "PlanningResult") -> "PlanningResult":
        return PlanningResult(
            self.queued + other.queued,
            self.skipped_stale + other.skipped_stale,
            Counter(self.stale) + Counter(other.stale),
        )


STALE_LOOKBACK_DAYS = 30  # how far back a restart looks for reminders it missed
DAYS_PER_COMMIT = 8  # a running process's whole catch-up window (7 days and today) in one read and one commit


def plan_outbox(
    *,
    session: Session,
    now: dt.datetime,
    policy: ReminderPolicy,
    tz: dt.tzinfo,
    catch_up_days: int = 7,
    stale_lookback_days: int = STALE_LOOKBACK_DAYS,
    milestone_ids: Sequence[int] | None = None,
    after: dt.date | None = None,
) -> PlanningResult:
    """Queue every reminder whose day has come (of these milestones only, if given; with `after`, a day planned
    in full already, only those whose send day is later, or today).

    One missed while the service was down is sent once, late, saying so, if it is at most catch_up_days old; an
    older one is recorded as skipped (a row the dispatcher never sends), so it is logged once and never sent in a
    burst. Looking back for stale reminders matters after a restart; a running process passes
    stale_lookback_days=0 after its first tick, so a steady tick only checks the catch-up window.
    """
    today = now.astimezone(tz).date()
    first = today - dt.timedelta(days=catch_up_days + stale_lookback_days)
    if after is not None:
        first = max(first, min(today, after + dt.timedelta(days=1)))
    result = PlanningResult(queued=0, skipped_stale=0)
    # a few days of send dates at a time, each committed: a start after a long stop plans weeks, never all at once
    while first <= today:
        last = min(today, first + dt.timedelta(days=DAYS_PER_COMMIT - 1))
        part = _queue_days(
            session,
            first,
            last,
            now=now,
            policy=policy,
            tz=tz,
            catch_up_days=catch_up_days,
            milestone_ids=milestone_ids,
        )
        result += part
        first = last + dt.timedelta(days=1)
    return result


def reminders_owed(
    *, session: Session, first: dt.date, last: dt.date, policy: ReminderPolicy
) -> Counter[str]:
    """plan key -> the reminders (one per milestone and recipient) whose send day is in `first`..`last`, counted
    as plan_outbox would write them but not written: the send days of a stop longer than a start reads back."""
    owed: Counter[str] = Counter()
    while first <= last:
        end = min(last, first + dt.timedelta(days=DAYS_PER_COMMIT - 1))
        due = plan_reminders(session=session, start=first, end=end, policy=policy)
        contacts = _contacts_by_department(session, {d for r in due for d in r.department_ids})
        for reminder in due:
            owed[reminder.plan_key] += sum(len(contacts.get(d, [])) for d in reminder.department_ids)
        first = end + dt.timedelta(days=1)
    return owed


def _queue_days(
    session: Session,
    first: dt.date,
    last: dt.date,
    *,
    now: dt.datetime,
    policy: ReminderPolicy,
    tz: dt.tzinfo,
    catch_up_days: int,
    milestone_ids: Sequence[int] | None,
) -> PlanningResult:
    today = now.astimezone(tz).date()
    due = plan_reminders(session=session, start=first, end=last, policy=policy, milestone_ids=milestone_ids)
    if not due:
        return PlanningResult(queued=0, skipped_stale=0)
    contacts = _contacts_by_department(session, {d for r in due for d in r.department_ids})
    # a contact limited to one plan hears of that plan's milestones only
    wanted = [
        (_key(reminder, contact), reminder, contact)
        for reminder in due
        for department_id in reminder.department_ids
        for contact in contacts.get(department_id, [])
        if contact.plan_id in (None, reminder.plan_id)
    ]
    # one query per batch of keys instead of one per reminder: most ticks find everything already queued
    existing = queued_keys(session=session, keys=[key for key, _, _ in wanted])
    queued = skipped = 0
    stale_keys: dict[str, str] = {}  # key -> plan key, of the stale ones, queued now or before
    for key, reminder, _contact in wanted:
        if (today - reminder.send_on).days > catch_up_days:
            stale_keys[key] = reminder.plan_key
    created = utcnow()
    rows: list[dict[str, Any]] = []
    for key, reminder, contact in wanted:
        if key in existing:
            continue
        existing.add(key)
        late = reminder.send_on < today
        stale_days = (today - reminder.send_on).days
        stale = stale_days > catch_up_days
        if stale:
            log.warning("reminder %s skipped: %d days stale when planned", key, stale_days)
            skipped += 1
        else:
            queued += 1
        rows.append(
            {
                "idempotency_key": key,
                "kind": reminder.kind.value,
                "milestone_id": reminder.milestone_id,
                "contact_id": contact.id,
                "department_id": contact.department_id,  # follows the department's contact if it changes
                "instance_due_on": reminder.instance_due,
                "payload": {
                    "days": reminder.days_before,
                    "late_since": reminder.send_on.isoformat() if late else None,
                },
                "due_at": send_moment(reminder.send_on, now, tz),
                "created_at": created,
                # a stale one is recorded as spent, never sent: logged once, never a burst after an outage
                "attempts": MAX_ATTEMPTS if stale else 0,
                "last_error": f"skipped: {stale_days} days stale when planned" if stale else None,
            }
        )
        if len(rows) == ROWS_PER_INSERT:
            write_rows(session, rows)  # memory follows a part, not a start's whole backlog
            rows = []
    write_rows(session, rows)
    session.commit()
    return PlanningResult(queued=queued, skipped_stale=skipped, stale=Counter(stale_keys.values()))


def send_moment(send_on: dt.date, now: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """09:00 on its day, or now if later; one moved off a holiday goes at 09:00 with that day's own reminders,
    so a contact's reminders of one day leave together as one message."""
    due = allowed_moment(max(dt.datetime.combine(send_on, SEND_AT, tzinfo=tz), now), tz)
    local = due.astimezone(tz)
    if local.date() != send_on and local.time() < SEND_AT:
        due = allowed_moment(dt.datetime.combine(local.date(), SEND_AT, tzinfo=tz), tz)
    return due


def _key(reminder: PlannedReminder, contact: ContactRef) -> str:
    return (
        f"{reminder.kind}:m{reminder.milestone_id}:c{contact.id}:d{reminder.days_before}"
        f":{reminder.instance_due.isoformat()}"
    )


def _contacts_by_department(session: Session, department_ids: set[int]) -> dict[int, list[ContactRef]]:
    """department id -> its reachable contacts, as plain ids with the plan each is limited to (a day at 1M
    milestones names thousands of departments: building a Contact for each cost more than the query)."""
    grouped: dict[int, list[ContactRef]] = {}
    for part in in_parts(sorted(department_ids)):
        for contact_id, department_id, plan_id in session.exec(
            select(Contact.id, Contact.department_id, Contact.plan_id)
            .where(col(Contact.department_id).in_(part), Contact.role == ContactRole.contact)
            .where(reachable())
            .order_by(col(Contact.id))
        ).all():
            grouped.setdefault(department_id, []).append(ContactRef(contact_id or 0, department_id, plan_id))
    return grouped


__all__ = ["PlannedReminder", "PlanningResult", "plan_outbox", "reminders_owed"]
