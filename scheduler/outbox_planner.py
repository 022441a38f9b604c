"""Write the reminders that are due into the outbox, one row per recipient, keyed so a rerun adds nothing."""

import datetime as dt
import logging
from dataclasses import dataclass

from sqlmodel import Session, col, select

from bot import views
from bot.i18n import gettext_for
from duban.services.outbox import enqueue
from models import Contact, ContactRole
from scheduler.dispatcher import MAX_ATTEMPTS
from scheduler.planner import PlannedReminder, plan_reminders
from scheduler.policy import ReminderPolicy
from scheduler.workdays import next_allowed_moment

log = logging.getLogger(__name__)
SEND_AT = dt.time(9, 0)  # local time a reminder is meant to go out on its day


@dataclass(frozen=True)
class PlanningResult:
    queued: int
    skipped_stale: int


STALE_LOOKBACK_DAYS = 30  # how far back a restart looks for reminders it missed


def plan_outbox(
    *, session: Session, now: dt.datetime, policy: ReminderPolicy, tz: dt.tzinfo, catch_up_days: int = 7
) -> PlanningResult:
    """Queue every reminder whose day has come.

    One missed while the service was down is sent once, late, saying so, if it is at most catch_up_days old; an
    older one is recorded as skipped (a row the dispatcher never sends), so it is logged once and never sent in a
    burst.
    """
    today = now.astimezone(tz).date()
    due = plan_reminders(
        session=session,
        start=today - dt.timedelta(days=catch_up_days + STALE_LOOKBACK_DAYS),
        end=today,
        policy=policy,
    )
    result = PlanningResult(queued=0, skipped_stale=0)
    contacts = _contacts_by_department(session, {d for r in due for d in r.department_ids})
    for reminder in due:
        stale = (today - reminder.send_on).days > catch_up_days
        for department_id in reminder.department_ids:
            for contact in contacts.get(department_id, []):
                row = enqueue(
                    session=session,
                    key=(
                        f"{reminder.kind}:m{reminder.milestone_id}:c{contact.id}:d{reminder.days_before}"
                        f":{reminder.instance_due.isoformat()}"
                    ),
                    kind=reminder.kind.value,
                    contact=contact,
                    text=views.reminder_text(
                        gettext_for(contact.language),
                        reminder,
                        late_since=reminder.send_on.isoformat() if reminder.send_on < today else None,
                    ),
                    due_at=next_allowed_moment(
                        max(dt.datetime.combine(reminder.send_on, SEND_AT, tzinfo=tz), now),
                        tz=tz,
                    ),
                    milestone_id=reminder.milestone_id,
                    instance_due_on=reminder.instance_due,
                )
                if row is None:
                    continue
                if stale:
                    row.attempts = MAX_ATTEMPTS
                    row.last_error = f"skipped: {(today - reminder.send_on).days} days stale when planned"
                    session.add(row)
                    log.warning("reminder %s skipped: %s", row.idempotency_key, row.last_error)
                    result = PlanningResult(result.queued, result.skipped_stale + 1)
                else:
                    result = PlanningResult(result.queued + 1, result.skipped_stale)
    session.commit()
    return result


def _contacts_by_department(session: Session, department_ids: set[int]) -> dict[int, list[Contact]]:
    contacts = session.exec(
        select(Contact)
        .where(col(Contact.department_id).in_(department_ids), Contact.role == ContactRole.contact)
        .where(Contact.active == True, col(Contact.telegram_user_id).is_not(None))  # noqa: E712
    ).all()
    grouped: dict[int, list[Contact]] = {}
    for contact in contacts:
        grouped.setdefault(contact.department_id, []).append(contact)
    return grouped


__all__ = ["PlannedReminder", "PlanningResult", "plan_outbox"]
