"""The Telegram channel's `Deliver`: render a notification for its recipient and send it, paced per chat.

Telegram's errors become the dispatcher's four: RetryAfter → RetryLater, Forbidden (blocked) → RecipientUnreachable,
BadRequest → MessageRejected, anything else (network, timeout, 5xx) → TransientFailure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import Session
from telegram import Bot
from telegram import Message as TelegramMessage
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.core.notices import message_for
from bot.core.vocabulary import TELEGRAM
from bot.telegram import render
from models import Contact, Notification
from scheduler.delivery import MessageRejected, RecipientUnreachable, RetryLater, TransientFailure
from scheduler.pacing import SendPacer

# one pacer per process, so the job's dispatcher and an immediate send after a user's action share the limits
PROCESS_PACER = SendPacer()


@dataclass
class TelegramChannel:
    bot: Bot
    tz: dt.tzinfo  # the settings' time zone: the days and dates notices name are the county's
    pacer: SendPacer = field(default_factory=lambda: PROCESS_PACER)

    async def __call__(self, session: Session, rows: Sequence[Notification]) -> str | None:
        head = rows[0]
        contact = session.get(Contact, head.contact_id) if head.contact_id else None
        if contact is None or contact.telegram_user_id is None:
            raise RecipientUnreachable("recipient has no Telegram account")
        message = message_for(session, head, rows, tz=self.tz, words=TELEGRAM)
        chat = contact.telegram_user_id
        try:
            last: TelegramMessage | None = None
            if message.image is not None:
                await self.pacer.wait_turn(chat)
                last = await self.bot.send_photo(
                    chat_id=chat,
                    photo=message.image,
                    caption=render.caption(message),
                    parse_mode=ParseMode.HTML,
                )
                if not message.sections and not message.actions:
                    return str(last.message_id)
            for part in render.parts(message):
                await self.pacer.wait_turn(chat)
                last = await self.bot.send_message(
                    chat_id=chat, text=part.html, parse_mode=ParseMode.HTML, reply_markup=part.markup
                )
        except RetryAfter as error:
            wait = error.retry_after
            raise RetryLater(
                wait.total_seconds() if isinstance(wait, dt.timedelta) else float(wait)
            ) from error
        except Forbidden as error:
            raise RecipientUnreachable(str(error)) from error
        except BadRequest as error:
            raise MessageRejected(str(error)) from error
        except TelegramError as error:
            raise TransientFailure(str(error)) from error
        return str(last.message_id) if last is not None else None
