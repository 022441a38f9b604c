"""A message people send acts once: the platform's id of it is stored with its effect, in one transaction.

DingTalk redelivers a robot message whose acknowledgement it did not get (a restart, a dropped connection), perhaps
to another instance; Telegram sends an update again after a crash before the poller confirmed it, or retries a
webhook call. The edge that receives a message (bot/core/commands.py for DingTalk, bot/telegram/edge.py and bot/telegram/runtime.py
for Telegram) first asks `handled`: a message whose effect is committed is left alone, so its redelivery changes
nothing and answers nothing. The session the command then runs in is opened with `record_with_commit`: its first
commit that changes something inserts the message's row, as the transaction's last statement, beside what the
command changed (the report, the 销号 decision, the ended wait). So:

- a crash before that commit leaves neither, and the redelivery acts once;
- a crash after it leaves both, and the redelivery is a no-op;
- two deliveries at once (a second instance, a redelivery while the first still runs) may both pass `handled`.
  The row's key is the table's primary key and the insert is INSERT … ON CONFLICT DO NOTHING (on PostgreSQL it
  waits for the other transaction to end; on SQLite the write lock serializes them): the second to insert finds
  the key taken and its commit raises AlreadyHandled instead. The caller rolls its change back and says nothing.
  A second delivery that is refused before it commits (the first's effect made its action stale: the request is
  decided, the code used) finds the row with `handled_elsewhere` and says nothing either.

A command that changes nothing (a list, a view, a refusal rolled back) stores no row: a redelivery of it answers
again, the same answer with no effect. A change is what the session flushed or ran as UPDATE/INSERT/DELETE through
session.execute, as every service writes. The first commit with a change must carry the whole of the message's
effect: nothing commits a part of it on the way there (bot/core/commands.py keeps it so).

The person is not answered again either: a crash after the commit but before the answer went out leaves the effect
without its confirmation (the report shows in 任务 and /tasks).

Rows are kept for RETENTION, longer than any redelivery (DingTalk's come within minutes or hours, Telegram keeps an
update for 24 hours); the plan job forgets older ones once a day with `forget_before`, one index range.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import CursorResult, delete, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import ORMExecuteState, UOWTransaction
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from models import InboundMessage
from models.inbound import MESSAGE_ID

RETENTION = dt.timedelta(days=7)
_DELIVERY = "inbound_delivery"  # session.info key of the message a session records


class AlreadyHandled(Exception):
    """Another delivery of this message committed its effect first; this one's change must be rolled back."""


@dataclass
class Delivery:
    """One delivery of a message, in the session that runs its command (session.info)."""

    channel: str
    message_id: str  # as stored: the platform's id, or its SHA-256 when too long for the column
    received_at: dt.datetime
    wrote: bool = False  # the session's open transaction changed something (flushed, or ran an UPDATE …)
    inserting: bool = False  # the key is in the open transaction
    stored: bool = False  # the key is committed, by this session


def key(message_id: str) -> str:
    """The id as stored; an id longer than the column is kept as its SHA-256, which still tells ids apart."""
    if len(message_id) <= MESSAGE_ID:
        return message_id
    return f"sha256:{hashlib.sha256(message_id.encode()).hexdigest()}"


def handled(*, session: Session, channel: str, message_id: str) -> bool:
    """Whether a delivery of this message committed its effect already."""
    found = session.exec(
        select(InboundMessage.channel).where(
            InboundMessage.channel == channel, InboundMessage.message_id == key(message_id)
        )
    ).first()
    return found is not None


def record_with_commit(*, session: Session, channel: str, message_id: str, now: dt.datetime) -> Delivery:
    """Store the message's key with the first commit of `session` that changes something, in that transaction;
    that commit raises AlreadyHandled (and commits nothing) when another delivery stored the key first.

    A commit that changes nothing (a rolled-back refusal, a command that only reads) stores no key.
    """
    delivery = Delivery(channel=channel, message_id=key(message_id), received_at=now)
    session.info[_DELIVERY] = delivery
    return delivery


def handled_elsewhere(session: Session) -> bool:
    """After a refusal (rolled back): whether another delivery of the message this session records committed its
    effect, which is what made this one's action stale; then this delivery says nothing."""
    delivery = _delivery(session)
    if delivery is None or delivery.stored:
        return False
    return handled(session=session, channel=delivery.channel, message_id=delivery.message_id)


def forget_before(*, session: Session, before: dt.datetime) -> int:
    """Forget the messages received before `before` (nothing redelivers them any more); returns how many."""
    result = session.execute(
        delete(InboundMessage)
        .where(col(InboundMessage.received_at) < before)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount if isinstance(result, CursorResult) else 0


def _insert(session: OrmSession, delivery: Delivery) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when this delivery's row went in (psycopg gives no rowcount here, so
    the row is RETURNING'd)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(InboundMessage)
        .values(channel=delivery.channel, message_id=delivery.message_id, received_at=delivery.received_at)
        .on_conflict_do_nothing(index_elements=["channel", "message_id"])
        .returning(col(InboundMessage.channel))
    )
    return session.execute(statement).first() is not None


def _delivery(session: OrmSession) -> Delivery | None:
    delivery = session.info.get(_DELIVERY)
    return delivery if isinstance(delivery, Delivery) else None


# Every session of the process passes here (as models/planning.py's counter does); only a session that records a
# message (session.info) does anything. Writes are seen as the services make them: ORM flushes and UPDATE/DELETE/
# INSERT statements run through session.execute.


@event.listens_for(OrmSession, "after_flush")
def _flushed(session: OrmSession, _flush: UOWTransaction) -> None:
    delivery = _delivery(session)
    if delivery is not None:
        delivery.wrote = True


@event.listens_for(OrmSession, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    delivery = _delivery(state.session)
    if delivery is not None and not state.is_select:
        delivery.wrote = True


@event.listens_for(OrmSession, "before_commit")
def _store_key(session: OrmSession) -> None:
    delivery = _delivery(session)
    if delivery is None or delivery.stored or delivery.inserting:
        return
    # the command's own rows first: the key is the transaction's last write, so a delivery that waits on it holds
    # nothing this one still needs
    session.flush()
    if not delivery.wrote:
        return
    if not _insert(session, delivery):
        raise AlreadyHandled(f"{delivery.channel} message {delivery.message_id}")
    delivery.inserting = True


@event.listens_for(OrmSession, "after_commit")
def _key_stored(session: OrmSession) -> None:
    delivery = _delivery(session)
    if delivery is not None:
        delivery.stored = delivery.stored or delivery.inserting
        delivery.wrote = delivery.inserting = False


@event.listens_for(OrmSession, "after_rollback")
def _key_dropped(session: OrmSession) -> None:
    delivery = _delivery(session)
    if delivery is not None:
        delivery.wrote = delivery.inserting = False
