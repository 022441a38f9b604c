"""What the outbox proves was told: a message sent, one still waiting to go, and who was told of a rung.

A notice or a page that says "已告知分管领导" or "已提醒 2 次" says it from these rows, never from the policy's days:
the policy says what is owed, the outbox what was done about it (STYLE.md, rule 14).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import ColumnElement, and_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from duban.chunks import in_parts
from models import Contact, ContactRole, EscalationStep, Notification
from scheduler.dispatcher import MAX_ATTEMPTS


def delivered() -> ColumnElement[bool]:
    """The row went out: the dispatcher recorded it sent (a bundle settled before it went out, NothingToSay, keeps
    its reason in last_error and counts as not sent)."""
    return and_(col(Notification.sent_at).is_not(None), col(Notification.last_error).is_(None))


def waiting() -> ColumnElement[bool]:
    """The row is still to go out: held for quiet hours or a holiday, or being retried; not given up."""
    return and_(col(Notification.sent_at).is_(None), col(Notification.attempts) < MAX_ATTEMPTS)


def leaders_told(session: Session, notification_ids: Collection[int]) -> set[tuple[int, dt.date]]:
    """(milestone, instance due date) of the rungs these overdue notices tell of for which a message to the
    department's leadership (a contact of role lead, as the ladder picked them) was queued at the same rung and
    was sent or is still to go; a message given up (blocked, refused) told nobody."""
    mine = aliased(EscalationStep)
    theirs = aliased(EscalationStep)
    found: set[tuple[int, dt.date]] = set()
    for chunk in in_parts(sorted(set(notification_ids))):
        statement = (
            select(col(mine.milestone_id), col(mine.instance_due_on))
            .join(
                theirs,
                and_(
                    col(theirs.milestone_id) == col(mine.milestone_id),
                    col(theirs.instance_due_on) == col(mine.instance_due_on),
                    col(theirs.step) == col(mine.step),
                ),
            )
            .join(Contact, col(Contact.id) == col(theirs.contact_id))
            .join(Notification, col(Notification.id) == col(theirs.notification_id))
            .where(col(mine.notification_id).in_(chunk), col(Contact.role) == ContactRole.lead)
            .where(delivered() | waiting())
            .distinct()
        )
        found.update((milestone_id, due) for milestone_id, due in session.exec(statement).all())
    return found


def sent_or_waiting(sent_at: dt.datetime | None, last_error: str | None, attempts: int) -> str | None:
    """delivered() and waiting() for a row already read: "sent", "waiting", or None (given up, not sent)."""
    if sent_at is not None:
        return "sent" if last_error is None else None
    return "waiting" if attempts < MAX_ATTEMPTS else None
