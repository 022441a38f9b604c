"""Send what the outbox holds, each row once, and record the Telegram message id so replies map back.

A dispatcher first claims rows with a conditional UPDATE (only rows nobody holds), so two dispatchers, or a second
instance, never send the same row; a claim expires, so a dispatcher that dies mid-batch does not strand its rows.
"""

import datetime as dt
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, update
from sqlmodel import Session, col, select
from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from models import Contact, Notification
from scheduler.pacing import SendPacer

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
CLAIM_SECONDS = 120
MAX_RETRY_AFTER_WAITS = 3
ROWS_PER_CHAT = 5  # per batch: one busy chat (1 message/s) must not hold up every other chat
# one pacer per process, so the job's dispatcher and an immediate send after a user's action share the limits
PROCESS_PACER = SendPacer()


def take_turns(rows: Sequence[tuple[int, int]]) -> list[int]:
    """(id, chat) rows in due order -> each chat's first row, then each chat's second, and so on."""
    turn: Counter[int] = Counter()
    ranked = []
    for position, (row_id, chat_id) in enumerate(rows):
        ranked.append((turn[chat_id], position, row_id))
        turn[chat_id] += 1
    return [row_id for _, _, row_id in sorted(ranked)]


def backoff(attempts: int) -> dt.timedelta:
    """30 s, 1 min, 2 min, ... capped at an hour: network errors and 5xx are usually brief."""
    return dt.timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


@dataclass
class DispatchResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    blocked_contacts: list[int] = field(default_factory=list)


Markup = Callable[[Session, Notification], InlineKeyboardMarkup | None]
Photo = Callable[[Session, Notification], bytes | None]


@dataclass
class Dispatcher:
    engine: Engine | Connection  # dispatch_due passes the bind of its session, which may be a connection
    bot: Bot
    clock: Callable[[], dt.datetime]
    pacer: SendPacer = field(default_factory=lambda: PROCESS_PACER)
    markup_for: Markup = lambda session, notification: None  # noqa: E731
    photo_for: Photo = lambda session, notification: None  # noqa: E731
    on_blocked: Callable[[Session, Contact, dt.datetime], None] | None = None
    worker: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    sleep: Callable[[float], Awaitable[None]] | None = None
    # a claim outlives a dispatcher that died mid-send by this long; then another may send the row
    claim_seconds: int = CLAIM_SECONDS

    def claim(self, limit: int, only: Sequence[int] | None = None) -> list[int]:
        """Claim up to `limit` due rows, at most ROWS_PER_CHAT per chat, returned in turns across chats."""
        now = self.clock()
        with Session(self.engine) as session:
            turn = (
                func.row_number()
                .over(
                    partition_by=col(Notification.chat_id),
                    order_by=(col(Notification.due_at), col(Notification.id)),
                )
                .label("turn")
            )
            due = (
                select(Notification.id, Notification.due_at, turn)
                .where(col(Notification.sent_at).is_(None), Notification.due_at <= now)
                .where(Notification.attempts < MAX_ATTEMPTS, col(Notification.chat_id).is_not(None))
                .where(or_(col(Notification.claimed_until).is_(None), col(Notification.claimed_until) < now))
            )
            if only is not None:
                due = due.where(col(Notification.id).in_(list(only)))
            ranked = due.subquery()
            candidates = session.exec(
                select(ranked.c.id)
                .where(ranked.c.turn <= ROWS_PER_CHAT)
                .order_by(ranked.c.due_at, ranked.c.id)
                .limit(limit)
            ).all()
            if not candidates:
                return []
            until = now + dt.timedelta(seconds=self.claim_seconds)
            session.execute(
                update(Notification)
                .where(col(Notification.id).in_(candidates), col(Notification.sent_at).is_(None))
                .where(or_(col(Notification.claimed_until).is_(None), col(Notification.claimed_until) < now))
                .values(claimed_by=self.worker, claimed_until=until)
            )
            session.commit()
            claimed = session.exec(
                select(Notification.id, Notification.chat_id)
                .where(and_(col(Notification.claimed_by) == self.worker, col(Notification.sent_at).is_(None)))
                .order_by(col(Notification.due_at), col(Notification.id))
            ).all()
            return take_turns([(row_id or 0, chat_id or 0) for row_id, chat_id in claimed])

    async def run_once(self, limit: int = 100, only: Sequence[int] | None = None) -> DispatchResult:
        result = DispatchResult()
        for notification_id in self.claim(limit, only):
            with Session(self.engine) as session:
                notification = session.get(Notification, notification_id)
                if notification is None or notification.sent_at is not None:
                    continue
                contact = session.get(Contact, notification.contact_id) if notification.contact_id else None
                if contact is not None and not contact.active:  # blocked the bot: one 403 was enough
                    notification.attempts = MAX_ATTEMPTS
                    notification.last_error = "contact inactive (blocked the bot); not sent"
                    notification.claimed_by = notification.claimed_until = None
                    session.add(notification)
                    session.commit()
                    result.failed += 1
                    continue
                await self._send_one(session, notification, result)
        return result

    def _hold(self, session: Session, notification: Notification, *, count_attempt: bool) -> bool:
        """Renew our claim (and count the attempt) in one committed UPDATE; False if another dispatcher took it.

        Committing here means no write lock is held while we wait for the pacer or for Telegram.
        """
        values: dict[str, Any] = {"claimed_until": self.clock() + dt.timedelta(seconds=self.claim_seconds)}
        if count_attempt:
            values["attempts"] = Notification.attempts + 1
        held: int = session.exec(
            update(Notification)
            .where(col(Notification.id) == notification.id, col(Notification.claimed_by) == self.worker)
            .where(col(Notification.sent_at).is_(None))
            .values(**values)
        ).rowcount
        session.commit()
        session.refresh(notification)
        return held == 1

    async def _send_one(self, session: Session, notification: Notification, result: DispatchResult) -> None:
        assert notification.chat_id is not None
        if not self._hold(session, notification, count_attempt=True):
            return
        retry_after_waits = 0
        while True:
            await self.pacer.wait_turn(notification.chat_id)
            try:
                message_id = await self._deliver(session, notification)
            except RetryAfter as error:  # Telegram says how long to wait: wait exactly that, then try again
                retry_after_waits += 1
                if retry_after_waits > MAX_RETRY_AFTER_WAITS:
                    self._retry_later(notification, error, result)
                    break
                await (self.sleep or self.pacer.sleep)(
                    float(
                        error.retry_after.total_seconds()
                        if isinstance(error.retry_after, dt.timedelta)
                        else error.retry_after
                    )
                )
                if not self._hold(session, notification, count_attempt=False):
                    return
                continue
            except Forbidden as error:  # the user blocked the bot: stop trying them and tell a coordinator
                self._give_up(notification, error)
                self._mark_blocked(session, notification, result)
                result.failed += 1
            except BadRequest as error:  # the message itself is wrong; retrying will not help
                self._give_up(notification, error)
                result.failed += 1
            except TelegramError as error:  # network errors, timeouts and 5xx: back off and retry
                self._retry_later(notification, error, result)
            else:
                notification.sent_at = self.clock()
                notification.telegram_message_id = message_id
                notification.last_error = None
                result.sent += 1
            break
        notification.claimed_by = None
        notification.claimed_until = None
        session.add(notification)
        session.commit()

    async def _deliver(self, session: Session, notification: Notification) -> int:
        assert notification.chat_id is not None  # checked by _send_one
        photo = self.photo_for(session, notification)
        markup = self.markup_for(session, notification)
        if photo is not None:
            message = await self.bot.send_photo(
                chat_id=notification.chat_id,
                photo=photo,
                caption=notification.text[:1024],
                parse_mode=ParseMode.HTML,
            )
        else:
            message = await self.bot.send_message(
                chat_id=notification.chat_id,
                text=notification.text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            )
        return message.message_id

    def _give_up(self, notification: Notification, error: TelegramError) -> None:
        notification.last_error = str(error)[:500]
        notification.attempts = MAX_ATTEMPTS

    def _retry_later(self, notification: Notification, error: TelegramError, result: DispatchResult) -> None:
        notification.last_error = str(error)[:500]
        notification.due_at = self.clock() + backoff(notification.attempts)
        result.retried += 1
        log.warning(
            "notification %s failed (%s); retrying at %s", notification.id, error, notification.due_at
        )

    def _mark_blocked(self, session: Session, notification: Notification, result: DispatchResult) -> None:
        contact = session.get(Contact, notification.contact_id) if notification.contact_id else None
        if contact is None:
            return
        contact.active = False
        session.add(contact)
        result.blocked_contacts.append(contact.id or 0)
        if self.on_blocked is not None:
            self.on_blocked(session, contact, self.clock())


async def dispatch_due(*, session: Session, bot: Bot, now: dt.datetime, ids: Sequence[int]) -> int:
    """Send these rows right away (after a user's action, e.g. telling coordinators of a 销号 request)."""
    dispatcher = Dispatcher(engine=session.get_bind(), bot=bot, clock=lambda: now)
    return (await dispatcher.run_once(only=ids)).sent
