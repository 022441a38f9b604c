"""The outbox: messages are written here first, with a unique key, and sent by the dispatcher."""

import datetime as dt

from sqlmodel import Session, select

from models import Contact, Notification


def is_queued(session: Session, key: str) -> bool:
    return (
        session.exec(select(Notification.id).where(Notification.idempotency_key == key)).first() is not None
    )


def enqueue(
    *,
    session: Session,
    key: str,
    kind: str,
    contact: Contact,
    text: str,
    due_at: dt.datetime,
    milestone_id: int | None = None,
    instance_due_on: dt.date | None = None,
) -> Notification | None:
    """Add the message unless one with this key exists already; returns the new row or None."""
    if is_queued(session, key):
        return None
    notification = Notification(
        idempotency_key=key,
        kind=kind,
        milestone_id=milestone_id,
        contact_id=contact.id,
        chat_id=contact.telegram_user_id,
        text=text,
        due_at=due_at,
        instance_due_on=instance_due_on,
    )
    session.add(notification)
    session.flush()
    return notification
