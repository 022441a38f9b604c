"""The outbox: every message owed is written here first, with a unique key, and sent by the dispatcher.

`enqueue` is the one way in: it puts the due moment on a working day outside quiet hours, for every kind of
message, so no path can wake an official at night or on a holiday.
"""

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlmodel import Session, col, select

from duban.workdays import next_allowed_moment
from models import Contact, ContactRole, Department, Notification
from models.people import reachable

COUNTY_TZ = ZoneInfo("Asia/Shanghai")  # Settings.timezone's default; the product serves Chinese counties
REJECTED = "rejected: "  # last_error prefix of a message the platform refused as it was


def is_queued(session: Session, key: str) -> bool:
    return (
        session.exec(select(Notification.id).where(Notification.idempotency_key == key)).first() is not None
    )


def allowed_moment(moment: dt.datetime, tz: dt.tzinfo = COUNTY_TZ) -> dt.datetime:
    """When a message wanted at `moment` may go out: every due moment and every retry passes through here."""
    return next_allowed_moment(moment, tz=tz)


def enqueue(
    *,
    session: Session,
    key: str,
    kind: str,
    contact: Contact,
    due_at: dt.datetime,
    tz: dt.tzinfo = COUNTY_TZ,
    payload: dict[str, Any] | None = None,
    milestone_id: int | None = None,
    instance_due_on: dt.date | None = None,
    for_department: bool = False,
) -> Notification | None:
    """Add the message unless one with this key exists already; returns the new row or None.

    for_department: the message is owed to the contact's department, so it follows whoever is the department's
    contact when it is sent (a replaced contact's queue moves to the successor).
    """
    if is_queued(session, key):
        return None
    notification = Notification(
        idempotency_key=key,
        kind=kind,
        milestone_id=milestone_id,
        contact_id=contact.id,
        department_id=contact.department_id if for_department else None,
        payload=payload or {},
        due_at=allowed_moment(due_at, tz),
        instance_due_on=instance_due_on,
    )
    session.add(notification)
    session.flush()
    return notification


def follow_current_contacts(session: Session) -> int:
    """Unsent department messages whose contact is no longer active go to the department's active contact."""
    gone = sa_select(col(Contact.id)).where(col(Contact.active).is_(False))
    successor = (
        sa_select(col(Contact.id))
        .where(col(Contact.department_id) == col(Notification.department_id))
        .where(col(Contact.role) == ContactRole.contact)
        .where(reachable())
        .order_by(col(Contact.id).desc())
        .limit(1)
        .scalar_subquery()
    )
    moved: int = session.exec(
        update(Notification)
        .where(col(Notification.sent_at).is_(None), col(Notification.department_id).is_not(None))
        .where(col(Notification.contact_id).in_(gone))
        .where(successor.is_not(None))
        .values(contact_id=successor)
        .execution_options(synchronize_session=False)
    ).rowcount
    return moved


def undelivered_for(
    *, session: Session, coordinator: Contact, limit: int = 20
) -> list[tuple[Notification, str]]:
    """Messages of the coordinator's county the platform refused: (row, recipient name), newest first."""
    region = session.exec(select(Department.region).where(Department.id == coordinator.department_id)).one()
    rows = session.exec(
        select(Notification, Contact.name)
        .join(Contact, col(Contact.id) == Notification.contact_id)
        .join(Department, col(Department.id) == Contact.department_id)
        .where(Department.region == region, col(Notification.sent_at).is_(None))
        .where(col(Notification.last_error).startswith(REJECTED))
        .order_by(col(Notification.id).desc())
        .limit(limit)
    ).all()
    return [(row, name) for row, name in rows]
