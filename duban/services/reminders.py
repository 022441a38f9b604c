"""What a contact does with a reminder: acknowledge it (签收), snooze it, or say nothing changed this month."""

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col, select

from duban.services import audit
from duban.services.access import require_role
from duban.services.errors import InvalidInput, NotAllowed, NotFound
from duban.services.outbox import allowed_moment, enqueue
from duban.services.progress import ReportOutcome, record_report
from models import Contact, ContactRole, Notification, ReportStatus

SNOOZE_CHOICES = (1, 3, 7)
REMINDER_KINDS = ("reminder", "co_notice", "rechase")
NO_CHANGE_NOTE = "无变化"
SNOOZE_MARK = ":snooze:"  # key of a snoozed copy: the original reminder's key, this mark, when it was snoozed


def own_reminder(*, session: Session, contact: Contact, notification_id: int) -> Notification:
    """Only the person a reminder went to may act on it, and only while they have access."""
    require_role(contact, *ContactRole)
    notification = session.get(Notification, notification_id)
    if notification is None or notification.kind not in REMINDER_KINDS:
        raise NotFound(str(notification_id))
    if notification.contact_id != contact.id:
        raise NotAllowed(str(notification_id))
    return notification


def await_report(*, session: Session, contact: Contact, notification_id: int, until: dt.datetime) -> None:
    """The 汇报 link of a reminder item (/rep N alone on DingTalk): the person's next text, until `until`, is
    their report on it. Kept on the contact, so a restart or another instance knows; it replaces an earlier wait."""
    own_reminder(session=session, contact=contact, notification_id=notification_id)
    contact.report_prompt_reminder_id = notification_id
    contact.report_prompt_until = until
    session.add(contact)
    session.commit()


def take_awaited_report(*, session: Session, contact: Contact, now: dt.datetime) -> int | None:
    """End the contact's wait for a report, as any next text of theirs does, and give the reminder row it was
    for if it is still open at `now`.

    Not committed: the caller commits it with the report the text makes (or at once, when the text is none), so
    the wait is spent only with its report. One conditional UPDATE takes it: of two instances handed a text each,
    only the one whose UPDATE still finds the wait gets the row; a newer /rep that replaced it is not taken either.
    """
    reminder_id, until = contact.report_prompt_reminder_id, contact.report_prompt_until
    if reminder_id is None or until is None:
        return None  # the usual case, and no write
    taken = session.execute(
        update(Contact)
        .where(
            col(Contact.id) == contact.id,
            col(Contact.report_prompt_reminder_id) == reminder_id,
            col(Contact.report_prompt_until) == until,
        )
        .values(report_prompt_reminder_id=None, report_prompt_until=None)
        .execution_options(synchronize_session=False)
    )
    session.expire(contact, ["report_prompt_reminder_id", "report_prompt_until"])
    if not isinstance(taken, CursorResult) or taken.rowcount != 1:
        return None
    return reminder_id if now <= until else None


def acknowledge(
    *, session: Session, contact: Contact, notification_id: int, now: dt.datetime
) -> Notification:
    notification = _acknowledge(session=session, contact=contact, notification_id=notification_id, now=now)
    session.commit()
    return notification


def _acknowledge(
    *, session: Session, contact: Contact, notification_id: int, now: dt.datetime
) -> Notification:
    notification = own_reminder(session=session, contact=contact, notification_id=notification_id)
    if notification.acknowledged_at is None:
        notification.acknowledged_at = now
        session.add(notification)
        audit.record(
            session,
            now=now,
            contact_id=contact.id,
            action="acknowledge",
            milestone_id=notification.milestone_id,
            detail=f"notification={notification.id}",
        )
    return notification


def snooze(
    *, session: Session, contact: Contact, notification_id: int, days: int, now: dt.datetime, tz: ZoneInfo
) -> Notification:
    """Send the same reminder again in `days` days, at the next allowed moment; counts as seen.

    A reminder has at most one snoozed copy waiting: snoozing again moves it instead of chaining another row
    (whose key grew with every press until PostgreSQL refused it). Once the copy is sent, a new one may wait.
    """
    again = _snooze(
        session=session, contact=contact, notification_id=notification_id, days=days, now=now, tz=tz
    )
    session.commit()
    return again


def _snooze(
    *, session: Session, contact: Contact, notification_id: int, days: int, now: dt.datetime, tz: ZoneInfo
) -> Notification:
    if days not in SNOOZE_CHOICES:
        raise InvalidInput("snooze_days")
    notification = own_reminder(session=session, contact=contact, notification_id=notification_id)
    notification.acknowledged_at = notification.acknowledged_at or now
    session.add(notification)
    root = notification.idempotency_key.split(SNOOZE_MARK, 1)[0]
    due_at = allowed_moment(now + dt.timedelta(days=days), tz)
    again = session.exec(
        select(Notification).where(
            col(Notification.idempotency_key).startswith(root + SNOOZE_MARK, autoescape=True),
            col(Notification.sent_at).is_(None),
            Notification.contact_id == contact.id,
        )
    ).first()
    if again is not None:  # may be the very copy pressed, when its buttons were forged before it went out
        again.due_at = due_at
        session.add(again)
    else:
        again = enqueue(
            session=session,
            key=f"{root}{SNOOZE_MARK}{now:%Y%m%dT%H%M%S}",
            kind=notification.kind,
            contact=contact,
            payload=notification.payload,
            due_at=due_at,
            tz=tz,
            milestone_id=notification.milestone_id,
            instance_due_on=notification.instance_due_on,
            for_department=notification.department_id is not None,
        )
    audit.record(
        session,
        now=now,
        contact_id=contact.id,
        action="snooze",
        milestone_id=notification.milestone_id,
        detail=f"notification={notification.id} days={days}",
    )
    return again or notification


def report_no_change(
    *, session: Session, contact: Contact, notification_id: int, now: dt.datetime, tz: dt.tzinfo
) -> ReportOutcome:
    """清零月报: a monthly report is due even when nothing happened; the button records exactly that."""
    notification = own_reminder(session=session, contact=contact, notification_id=notification_id)
    if notification.milestone_id is None:
        raise NotFound(str(notification_id))
    notification.acknowledged_at = notification.acknowledged_at or now
    session.add(notification)
    return record_report(
        session=session,
        contact=contact,
        milestone_id=notification.milestone_id,
        status=ReportStatus.on_track,
        percent=None,
        note=NO_CHANGE_NOTE,
        now=now,
        tz=tz,
    )


def _bundle_of(*, session: Session, contact: Contact, notification_id: int) -> list[Notification]:
    """The rows that went out in one message with this one, as far as they were this contact's."""
    head = own_reminder(session=session, contact=contact, notification_id=notification_id)
    if head.bundle_id is None:
        return [head]
    return list(
        session.exec(
            select(Notification)
            .where(Notification.bundle_id == head.bundle_id, Notification.contact_id == contact.id)
            .where(col(Notification.kind).in_(REMINDER_KINDS))
            .order_by(col(Notification.id))
        ).all()
    )


def acknowledge_all(*, session: Session, contact: Contact, notification_id: int, now: dt.datetime) -> int:
    """签收 for every item of one 督办提醒, in one transaction (with the id of the message that asked, if any:
    a crash part-way leaves none of it, and the message redelivered does it all); returns how many items."""
    rows = _bundle_of(session=session, contact=contact, notification_id=notification_id)
    for row in rows:
        _acknowledge(session=session, contact=contact, notification_id=row.id or 0, now=now)
    session.commit()
    return len(rows)


def snooze_all(
    *, session: Session, contact: Contact, notification_id: int, days: int, now: dt.datetime, tz: ZoneInfo
) -> int:
    """延后 for every item of one 督办提醒: they come back together, as one message again; in one transaction, as
    `acknowledge_all`."""
    if days not in SNOOZE_CHOICES:
        raise InvalidInput("snooze_days")
    rows = _bundle_of(session=session, contact=contact, notification_id=notification_id)
    for row in rows:
        _snooze(session=session, contact=contact, notification_id=row.id or 0, days=days, now=now, tz=tz)
    session.commit()
    return len(rows)
