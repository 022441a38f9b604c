"""The outbox: every message owed is written here first, with a unique key, and sent by the dispatcher.

`enqueue` is the one way in: it puts the due moment on a working day outside quiet hours, for every kind of
message, so no path can wake an official at night or on a holiday.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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


def queued_keys(*, session: Session, keys: Iterable[str]) -> set[str]:
    """Which of these keys are in the outbox already (or added to this session), a few hundred per query."""
    ordered = sorted(set(keys))
    found: set[str] = set()
    for start in range(0, len(ordered), 500):
        found.update(
            session.exec(
                select(Notification.idempotency_key).where(
                    col(Notification.idempotency_key).in_(ordered[start : start + 500])
                )
            ).all()
        )
    return found


def allowed_moment(moment: dt.datetime, tz: dt.tzinfo = COUNTY_TZ) -> dt.datetime:
    """When a message wanted at `moment` may go out: every due moment and every retry passes through here."""
    return next_allowed_moment(moment, tz=tz)


@dataclass
class Owed:
    """One message owed: what enqueue is given."""

    key: str
    kind: str
    contact: Contact
    due_at: dt.datetime
    payload: dict[str, Any] | None = None
    milestone_id: int | None = None
    instance_due_on: dt.date | None = None
    # the message is owed to the contact's department, so it follows whoever is the department's contact when it
    # is sent (a replaced contact's queue moves to the successor)
    for_department: bool = False


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
    """Add the message unless one with this key exists already; returns the new row or None."""
    owed = Owed(key, kind, contact, due_at, payload, milestone_id, instance_due_on, for_department)
    return enqueue_all(session=session, owed=[owed], tz=tz)[0]


def enqueue_all(
    *, session: Session, owed: Sequence[Owed], tz: dt.tzinfo = COUNTY_TZ
) -> list[Notification | None]:
    """enqueue for many messages: one look-up of their keys and one flush, however many there are.

    Returns, in the order given, each new row (with its id) or None where the key was queued already, earlier in
    the outbox or earlier in `owed`.
    """
    known = queued_keys(session=session, keys=[o.key for o in owed])
    rows: list[Notification | None] = []
    for item in owed:
        if item.key in known:
            rows.append(None)
            continue
        known.add(item.key)
        row = Notification(
            idempotency_key=item.key,
            kind=item.kind,
            milestone_id=item.milestone_id,
            contact_id=item.contact.id,
            department_id=item.contact.department_id if item.for_department else None,
            payload=item.payload or {},
            due_at=allowed_moment(item.due_at, tz),
            instance_due_on=item.instance_due_on,
        )
        session.add(row)
        rows.append(row)
    session.flush()  # one INSERT batch, and every new row has its id for the caller
    return rows


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
