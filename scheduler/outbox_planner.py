"""Write the reminders that are due into the outbox, one row per recipient, keyed so a rerun adds nothing."""

import datetime as dt
import logging
from dataclasses import dataclass

from sqlmodel import Session, col, select

from bot import views
from bot.i18n import gettext_for
from duban.services.outbox import enqueue
from models import Contact, ContactRole
from scheduler.planner import PlannedReminder, plan_reminders
from scheduler.policy import ReminderPolicy
from scheduler.workdays import next_allowed_moment

log = logging.getLogger(__name__)
SEND_AT = dt.time(9, 0)  # local time a reminder is meant to go out on its day


@dataclass(frozen=True)
class PlanningResult:
    queued: int
    skipped_stale: int


def plan_outbox(
    *, session: Session, now: dt.datetime, policy: ReminderPolicy, tz: dt.tzinfo, catch_up_days: int = 7
) -> PlanningResult:
    """Queue every reminder whose day has come; one missed while down by at most catch_up_days is sent late."""
    today = now.astimezone(tz).date()
    due = plan_reminders(
        session=session, start=today - dt.timedelta(days=catch_up_days), end=today, policy=policy
    )
    queued = skipped = 0
    contacts = _contacts_by_department(session, {d for r in due for d in r.department_ids})
    for reminder in due:
        for department_id in reminder.department_ids:
            for contact in contacts.get(department_id, []):
                key = (
                    f"{reminder.kind}:m{reminder.milestone_id}:c{contact.id}:d{reminder.days_before}"
                    f":{reminder.instance_due.isoformat()}"
                )
                late = reminder.send_on < today
                text = views.reminder_text(
                    gettext_for(contact.language),
                    reminder,
                    late_since=reminder.send_on.isoformat() if late else None,
                )
                moment = dt.datetime.combine(reminder.send_on, SEND_AT, tzinfo=tz)
                due_at = next_allowed_moment(max(moment, now), tz=tz)  # type: ignore[arg-type]
                if enqueue(
                    session=session,
                    key=key,
                    kind=reminder.kind.value,
                    contact=contact,
                    text=text,
                    due_at=due_at,
                    milestone_id=reminder.milestone_id,
                    instance_due_on=reminder.instance_due,
                ):
                    queued += 1
    session.commit()
    stale = plan_reminders(
        session=session,
        start=today - dt.timedelta(days=catch_up_days * 4),
        end=today - dt.timedelta(days=catch_up_days + 1),
        policy=policy,
    )
    skipped = len(stale)
    if skipped:
        log.info("%d reminders older than %d days were not sent", skipped, catch_up_days)
    return PlanningResult(queued=queued, skipped_stale=skipped)


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
