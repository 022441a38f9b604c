"""Send what the outbox holds and record the Telegram message id, so replies map back to milestones."""

import datetime as dt
import logging

from sqlmodel import Session, col, select
from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import Forbidden, RetryAfter, TelegramError

from models import Contact, Notification

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


async def dispatch_due(*, session: Session, bot: Bot, now: dt.datetime, limit: int = 100) -> int:
    """Send pending rows whose time has come; returns how many went out."""
    pending = session.exec(
        select(Notification)
        .where(col(Notification.sent_at).is_(None), Notification.due_at <= now)
        .where(Notification.attempts < MAX_ATTEMPTS, col(Notification.chat_id).is_not(None))
        .order_by(col(Notification.due_at), col(Notification.id))
        .limit(limit)
    ).all()
    sent = 0
    for notification in pending:
        notification.attempts += 1
        try:
            message = await bot.send_message(
                chat_id=notification.chat_id,
                text=notification.text,
                parse_mode=ParseMode.HTML,
                reply_markup=None,
            )
        except Forbidden as error:  # the user blocked the bot: stop trying them
            notification.last_error = str(error)[:500]
            notification.attempts = MAX_ATTEMPTS
            contact = session.get(Contact, notification.contact_id) if notification.contact_id else None
            if contact is not None:
                contact.active = False
                session.add(contact)
        except RetryAfter as error:
            notification.attempts -= 1
            notification.last_error = str(error)[:500]
            session.add(notification)
            session.commit()
            break
        except TelegramError as error:
            notification.last_error = str(error)[:500]
            log.warning("sending notification %s failed: %s", notification.id, error)
        else:
            notification.sent_at = now
            notification.telegram_message_id = message.message_id
            notification.last_error = None
            sent += 1
        session.add(notification)
        session.commit()
    return sent
