"""Send what the outbox holds, each row once, through whatever channel the wiring gives (`Deliver`).

A dispatcher first claims rows with a conditional UPDATE (only rows nobody holds), so two dispatchers, or a second
instance, never send the same row; a claim expires, so a dispatcher that dies mid-batch does not strand its rows.
All due rows of one contact and one kind are claimed together and go out as one message (a bundle, named by the
id of its first row), so a contact with 32 reminders due at 09:00 gets one 督办提醒, not 32.
The dispatcher knows no chat platform: the channel renders and sends, and reports a failure as one of the four
errors in scheduler/delivery.py; this module alone decides what a failure means for the rows.
"""

import asyncio
import datetime as dt
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, bindparam, exists, or_, tuple_, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from duban.services.outbox import REJECTED, allowed_moment, follow_current_contacts
from models import Contact, Notification
from scheduler.delivery import (
    Deliver,
    MessageRejected,
    NothingToSay,
    RecipientUnreachable,
    RetryLater,
    TransientFailure,
)
from scheduler.workdays import closed_since

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
CLAIM_SECONDS = 120
ONE_MINUTE = dt.timedelta(minutes=1)
# a claim reads the owed rows this many at a time until it has found its batch's recipients
SCAN_ROWS = 1000
# recording a sent message is retried this often when the database is locked: giving up would send it again
RECORD_RETRIES = 12

_outbox = Notification.__table__  # type: ignore[attr-defined]
# built once: these run once per message (or per row) on the dispatcher's hot path
NAME_BUNDLE = update(_outbox).where(_outbox.c.id == bindparam("row")).values(bundle_id=bindparam("head"))
HOLD = (
    update(_outbox)
    .where(_outbox.c.id.in_(bindparam("ids", expanding=True)), _outbox.c.claimed_by == bindparam("worker"))
    .where(_outbox.c.sent_at.is_(None))
    .values(claimed_until=bindparam("until"), attempts=_outbox.c.attempts + 1)
)
RECORD_SENT = (
    update(_outbox)
    .where(_outbox.c.id.in_(bindparam("ids", expanding=True)), _outbox.c.claimed_by == bindparam("worker"))
    .values(
        claimed_by=None,
        claimed_until=None,
        sent_at=bindparam("at"),
        platform_message_id=bindparam("message_id"),
        last_error=None,
    )
)


def take_turns(rows: Sequence[tuple[int, int]]) -> list[int]:
    """(id, recipient) rows in due order -> each recipient's first row, then each one's second, and so on."""
    turn: Counter[int] = Counter()
    ranked = []
    for position, (row_id, recipient) in enumerate(rows):
        ranked.append((turn[recipient], position, row_id))
        turn[recipient] += 1
    return [row_id for _, _, row_id in sorted(ranked)]


def backoff(attempts: int) -> dt.timedelta:
    """30 s, 1 min, 2 min, ... capped at an hour: network errors and 5xx are usually brief."""
    return dt.timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class Sent:
    """The outcome of a send that went out."""

    at: dt.datetime
    message_id: str | None


@dataclass
class DispatchResult:
    sent: int = 0  # messages (bundles), not rows
    retried: int = 0
    failed: int = 0
    rejected: int = 0  # of `failed`: refused by the platform as they were; shown to coordinators
    blocked_contacts: list[int] = field(default_factory=list)


@dataclass
class Dispatcher:
    engine: Engine | Connection  # dispatch_due passes the bind of its session, which may be a connection
    deliver: Deliver
    clock: Callable[[], dt.datetime]
    tz: dt.tzinfo  # the settings' time zone: a retry waits for the county's working hours
    on_blocked: Callable[[Session, Contact, dt.datetime], None] | None = None
    worker: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    # a claim outlives a dispatcher that died mid-send by this long; then another may send the row
    claim_seconds: int = CLAIM_SECONDS

    def claim(self, limit: int, only: Sequence[int] | None = None) -> list[int]:
        """Claim the due rows of up to `limit` (contact, kind) pairs; returns one head per bundle, in turns.

        At night or on a day off, what fell due before that stretch began waits for the next allowed moment: a row
        is due at an allowed moment (enqueue), but a dispatcher that was not running then (a restart at 02:00)
        would otherwise send the evening's rows in the night. A row written due inside the stretch (never by
        enqueue; a bench's or a test's direct insert) goes out, as its writer asked."""
        now = self.clock()
        closed = closed_since(now, tz=self.tz)
        with Session(self.engine) as session:
            follow_current_contacts(session)
            claimable = and_(
                col(Notification.sent_at).is_(None),
                col(Notification.due_at) <= now,
                col(Notification.attempts) < MAX_ATTEMPTS,
                col(Notification.contact_id).is_not(None),
                or_(col(Notification.claimed_until).is_(None), col(Notification.claimed_until) < now),
            )
            if closed is not None:
                claimable = and_(claimable, col(Notification.due_at) >= closed)
            if only is not None:
                claimable = and_(claimable, col(Notification.id).in_(list(only)))
            # a contact never gets two messages of one kind within a minute: what comes due just after a send
            # waits out the minute and goes with whatever else is due by then
            just_sent = aliased(Notification)
            claimable = and_(
                claimable,
                ~exists().where(
                    col(just_sent.contact_id) == col(Notification.contact_id),
                    col(just_sent.kind) == col(Notification.kind),
                    col(just_sent.sent_at) > now - ONE_MINUTE,
                    col(just_sent.platform_message_id).is_not(None),
                ),
            )
            groups = self._first_groups(session, claimable, limit)
            if not groups:
                session.commit()
                return []
            in_groups = tuple_(col(Notification.contact_id), col(Notification.kind)).in_(groups)
            claimed = session.execute(
                update(Notification)
                .where(claimable, in_groups)
                .values(
                    claimed_by=self.worker,
                    claimed_until=now + dt.timedelta(seconds=self.claim_seconds),
                    bundle_id=None,
                )
                .returning(
                    col(Notification.id),
                    col(Notification.contact_id),
                    col(Notification.kind),
                    col(Notification.due_at),
                )
                .execution_options(synchronize_session=False)
            ).all()
            bundles: dict[tuple[int, str], list[int]] = {}
            for row_id, contact_id, kind, _due in sorted(claimed, key=lambda row: (row.due_at, row.id)):
                bundles.setdefault((contact_id or 0, kind), []).append(row_id or 0)
            session.execute(
                NAME_BUNDLE,
                [{"row": row_id, "head": min(ids)} for ids in bundles.values() for row_id in ids],
            )
            session.commit()
            return take_turns([(min(ids), contact_id) for (contact_id, _), ids in bundles.items()])

    @staticmethod
    def _first_groups(session: Session, claimable: ColumnElement[bool], limit: int) -> list[tuple[int, str]]:
        """The first `limit` (contact, kind) pairs with claimable rows, earliest due first.

        Reads the owed rows in due order a page at a time (ix_notification_sent_at_due_at) and stops once it has found
        enough pairs, so a claim costs what its batch holds, not what the whole backlog does.
        """
        groups: dict[tuple[int, str], None] = {}
        after = None
        while len(groups) < limit:
            page = select(
                Notification.id, Notification.due_at, Notification.contact_id, Notification.kind
            ).where(claimable)
            if after is not None:
                page = page.where(tuple_(col(Notification.due_at), col(Notification.id)) > tuple_(*after))
            rows = session.exec(
                page.order_by(col(Notification.due_at), col(Notification.id)).limit(SCAN_ROWS)
            ).all()
            for _id, _due, contact_id, kind in rows:
                groups.setdefault((contact_id or 0, kind), None)
            if len(rows) < SCAN_ROWS:
                break
            after = (rows[-1][1], rows[-1][0])
        return list(groups)[:limit]

    async def run_once(self, limit: int = 100, only: Sequence[int] | None = None) -> DispatchResult:
        result = DispatchResult()
        heads = self.claim(limit, only)
        if not heads:
            return result
        # one session for the batch: its rows and their recipients are read in two queries, and kept across each
        # send's commits (the hold and the outcome write only columns this module sets in memory as well)
        with Session(self.engine, expire_on_commit=False) as session:
            bundles, _recipients = self._read_claimed(session, heads)
            for head_id in heads:
                rows = bundles.get(head_id, [])
                if not rows or rows[0].id != head_id:
                    continue
                contact = session.get(Contact, rows[0].contact_id) if rows[0].contact_id else None
                if contact is None or not contact.active:  # blocked the bot: one refusal was enough
                    self._finish(
                        session, rows, {"attempts": MAX_ATTEMPTS, "last_error": "contact inactive; not sent"}
                    )
                    result.failed += 1
                    continue
                await self._send(session, rows, result)
        return result

    def _read_claimed(
        self, session: Session, heads: list[int]
    ) -> tuple[dict[int, list[Notification]], list[Contact]]:
        """The rows we hold, by bundle (head first), and their recipients.

        Holding the recipients keeps them in the session's identity map (it holds objects weakly), so every
        `session.get(Contact, ...)` while sending finds them there instead of querying.
        """
        bundles: dict[int, list[Notification]] = {}
        for row in session.exec(
            select(Notification)
            .where(col(Notification.bundle_id).in_(heads), col(Notification.sent_at).is_(None))
            .where(col(Notification.claimed_by) == self.worker)
            .order_by(col(Notification.id))
        ).all():
            bundles.setdefault(row.bundle_id or 0, []).append(row)
        recipients = {row.contact_id for rows in bundles.values() for row in rows if row.contact_id}
        return bundles, list(session.exec(select(Contact).where(col(Contact.id).in_(recipients))).all())

    def _hold(self, session: Session, rows: list[Notification]) -> bool:
        """Renew our claim and count the attempt in one committed UPDATE; False if another dispatcher took a row.

        Committing here means no write lock is held while the channel waits for its pacer or its platform.
        """
        until = self.clock() + dt.timedelta(seconds=self.claim_seconds)
        held = session.execute(HOLD, {"ids": [row.id for row in rows], "worker": self.worker, "until": until})
        assert isinstance(held, CursorResult)
        session.commit()
        for row in rows:  # as the UPDATE wrote them, without reading them back (the wait doubles per attempt)
            set_committed_value(row, "attempts", row.attempts + 1)
            set_committed_value(row, "claimed_until", until)
        return held.rowcount == len(rows)

    async def _send(self, session: Session, rows: list[Notification], result: DispatchResult) -> None:
        if not self._hold(session, rows):
            self._finish(session, rows, {})  # let the rows we still hold go; the next claim regroups them
            return
        head = rows[0]
        values: dict[str, Any] | Sent
        try:
            message_id = await self.deliver(session, rows)
        except RetryLater as error:  # the platform says how long to wait: the row waits, nobody else does
            values = self._retry_at(str(error), self.clock() + dt.timedelta(seconds=error.seconds))
            values["attempts"] = Notification.attempts - 1  # being asked to wait is not a failed attempt
            result.retried += 1
        except RecipientUnreachable as error:
            values = {"attempts": MAX_ATTEMPTS, "last_error": str(error)[:500]}
            self._mark_blocked(session, head, result)
            result.failed += 1
        except MessageRejected as error:  # retrying will not help; kept visible, never dropped silently
            values = {"attempts": MAX_ATTEMPTS, "last_error": (REJECTED + str(error))[:500]}
            log.error("notification %s (%s) rejected by the platform: %s", head.id, head.kind, error)
            result.failed += 1
            result.rejected += 1
        except NothingToSay as error:  # settled before it went out: done, with nothing sent
            values = {"sent_at": self.clock(), "last_error": f"not sent: {error}"[:500]}
        except TransientFailure as error:
            values = self._retry_at(str(error), self.clock() + backoff(head.attempts))
            result.retried += 1
        except Exception as error:  # a bug while rendering must not stop the other messages
            log.exception("notification %s could not be delivered", head.id)
            values = self._retry_at(f"{type(error).__name__}: {error}", self.clock() + backoff(head.attempts))
            result.retried += 1
        else:
            values = Sent(self.clock(), message_id)
            result.sent += 1
        await self._record(session, rows, values)

    def _retry_at(self, error: str, moment: dt.datetime) -> dict[str, Any]:
        due = allowed_moment(moment, self.tz)  # a retry waits for working hours like any message
        log.warning("notification failed (%s); retrying at %s", error, due)
        return {"last_error": error[:500], "due_at": due, "bundle_id": None}

    def _finish(self, session: Session, rows: list[Notification], values: dict[str, Any] | Sent) -> None:
        """Let the rows go, writing the outcome (a dict of columns, or Sent: the commonest, by a statement built once)."""
        ids = [row.id for row in rows]
        if isinstance(values, Sent):
            params = {"ids": ids, "worker": self.worker, "at": values.at, "message_id": values.message_id}
            session.execute(RECORD_SENT, params)
        else:
            session.exec(
                update(Notification)
                .where(col(Notification.id).in_(ids), col(Notification.claimed_by) == self.worker)
                .values(claimed_by=None, claimed_until=None, **values)
                # nothing this session reads later depends on the outcome: the rows in memory are left as they are
                .execution_options(synchronize_session=False)
            )
        session.commit()

    async def _record(
        self, session: Session, rows: list[Notification], values: dict[str, Any] | Sent
    ) -> None:
        """Write the outcome; a locked database is waited out, since a sent row left unrecorded is sent again."""
        for attempt in range(RECORD_RETRIES):
            try:
                self._finish(session, rows, values)
                return
            except OperationalError as error:
                session.rollback()
                if attempt == RECORD_RETRIES - 1:
                    raise
                log.warning("recording notification %s failed (%s); trying again", rows[0].id, error)
                await self.sleep(min(30.0, 0.5 * 2**attempt))

    def _mark_blocked(self, session: Session, head: Notification, result: DispatchResult) -> None:
        contact = session.get(Contact, head.contact_id) if head.contact_id else None
        if contact is None:
            return
        contact.active = False
        session.add(contact)
        result.blocked_contacts.append(contact.id or 0)
        if self.on_blocked is not None:
            self.on_blocked(session, contact, self.clock())


async def dispatch_due(
    *, session: Session, deliver: Deliver, now: dt.datetime, tz: dt.tzinfo, ids: Sequence[int]
) -> int:
    """Send these rows right away (after a user's action, e.g. telling coordinators of a 销号 request)."""
    dispatcher = Dispatcher(engine=session.get_bind(), deliver=deliver, clock=lambda: now, tz=tz)
    return (await dispatcher.run_once(only=ids)).sent
