"""The outbox: every message owed is written here first, with a unique key, and sent by the dispatcher.

`enqueue` is the one way in: it puts the due moment on a working day outside quiet hours, for every kind of
message, so no path can wake an official at night or on a holiday.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from duban.chunks import in_parts
from duban.workdays import next_allowed_moment
from models import Contact, ContactRole, Department, Milestone, Notification, Task
from models.people import covers_plan, reachable
from models.types import utcnow

REJECTED = "rejected: "  # last_error prefix of a message the platform refused as it was
ROWS_PER_INSERT = 1000  # outbox rows per INSERT: 11 columns each, within every backend's parameter limit


def queued_keys(*, session: Session, keys: Iterable[str]) -> set[str]:
    """Which of these keys are in the outbox already (or added to this session), a few hundred per query."""
    found: set[str] = set()
    for chunk in in_parts(sorted(set(keys))):
        found.update(
            session.exec(
                select(Notification.idempotency_key).where(col(Notification.idempotency_key).in_(chunk))
            ).all()
        )
    return found


def allowed_moment(moment: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """When a message wanted at `moment` may go out: every due moment and every retry passes through here."""
    return next_allowed_moment(moment, tz=tz)


class Addressee(Protocol):
    """Whom a message is owed to: a Contact, or a ContactRef read before a commit expired the Contact."""

    @property
    def id(self) -> int | None: ...

    @property
    def department_id(self) -> int: ...


@dataclass(frozen=True)
class ContactRef:
    """A contact's ids as plain values: a job that commits in parts keeps these, not Contacts a commit expires
    (each expired Contact is read again, one query apiece)."""

    id: int
    department_id: int
    plan_id: int | None = None  # the one plan the contact is limited to; None: every plan of their county


@dataclass
class Owed:
    """One message owed: what enqueue is given."""

    key: str
    kind: str
    contact: Addressee
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
    tz: dt.tzinfo,
    payload: dict[str, Any] | None = None,
    milestone_id: int | None = None,
    instance_due_on: dt.date | None = None,
    for_department: bool = False,
) -> Notification | None:
    """Add the message unless one with this key exists already; returns the new row or None."""
    owed = Owed(key, kind, contact, due_at, payload, milestone_id, instance_due_on, for_department)
    new_id = enqueue_all(session=session, owed=[owed], tz=tz)[0]
    return None if new_id is None else session.get(Notification, new_id)


def enqueue_all(*, session: Session, owed: Sequence[Owed], tz: dt.tzinfo) -> list[int | None]:
    """enqueue for many messages: one look-up of their keys and one INSERT, however many there are.

    Returns, in the order given, each new row's id or None where the key was queued already, earlier in the
    outbox or earlier in `owed`. Plain rows, not ORM objects: building a Notification cost more than writing it.
    """
    known = queued_keys(session=session, keys=[o.key for o in owed])
    created = utcnow()
    rows: list[dict[str, Any]] = []
    new: list[bool] = []
    for item in owed:
        new.append(item.key not in known)
        if not new[-1]:
            continue
        known.add(item.key)
        rows.append(
            {
                "idempotency_key": item.key,
                "kind": item.kind,
                "milestone_id": item.milestone_id,
                "contact_id": item.contact.id,
                "department_id": item.contact.department_id if item.for_department else None,
                "payload": item.payload or {},
                "due_at": allowed_moment(item.due_at, tz),
                "instance_due_on": item.instance_due_on,
                "created_at": created,
                "attempts": 0,
            }
        )
    ids = iter(write_rows(session, rows, returning_ids=True))
    return [next(ids) if is_new else None for is_new in new]


def write_rows(session: Session, rows: list[dict[str, Any]], *, returning_ids: bool = False) -> list[int]:
    """Outbox rows as one INSERT per part (a backend's parameter limit); their ids in order, if asked.

    The ids are read back by key, one SELECT per part, rather than with INSERT … RETURNING in parameter order: on
    SQLite that RETURNING form cannot be batched, and SQLAlchemy falls back to one INSERT per row (issue 29). The
    INSERT is Core's, on the table: the ORM's bulk insert leaves out the None values of each row and starts a new
    statement whenever that set changes, so a department's notice (department_id set) beside a leader's (None) cost
    a statement each.
    """
    ids: list[int] = []
    table = Notification.__table__  # type: ignore[attr-defined]  # SQLModel's table=True classes have one
    for part in in_parts(rows, ROWS_PER_INSERT):
        session.execute(insert(table), part)
        if returning_ids:
            keys = [row["idempotency_key"] for row in part]
            found = session.execute(
                sa_select(col(Notification.idempotency_key), col(Notification.id)).where(
                    col(Notification.idempotency_key).in_(keys)
                )
            ).all()
            id_of: dict[str, int] = {key: row_id for key, row_id in found}
            ids += [id_of[key] for key in keys]
    return ids


def follow_current_contacts(session: Session) -> int:
    """Unsent department messages whose contact is no longer active go to the department's active contact: one
    limited to a plan only takes a message about a milestone of that plan (a bundle naming none, such as an
    overdue notice, goes to one limited to no plan)."""
    gone = sa_select(col(Contact.id)).where(col(Contact.active).is_(False))
    plan_of_message = (
        sa_select(col(Task.plan_id))
        .join(Milestone, col(Milestone.task_id) == Task.id)
        .where(col(Milestone.id) == col(Notification.milestone_id))
        .correlate(Notification)  # two levels down: implicit correlation would read the whole outbox here
        .scalar_subquery()
    )
    successor = (
        sa_select(col(Contact.id))
        .where(col(Contact.department_id) == col(Notification.department_id))
        .where(col(Contact.role) == ContactRole.contact)
        .where(covers_plan(plan_of_message))
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
