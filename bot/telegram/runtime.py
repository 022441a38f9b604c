"""What every handler needs, kept in bot_data: the engine, the settings and the clock."""

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import ClassVar

from sqlalchemy import Engine
from sqlmodel import Session
from telegram import Update
from telegram.ext import ContextTypes

from bot.core import vocabulary
from duban.config import Settings
from duban.services import inbound
from models import utcnow

TELEGRAM = "telegram"  # the channel of the updates' rows in inboundmessage


@dataclass
class Runtime:
    engine: Engine
    settings: Settings
    clock: Callable[[], dt.datetime] = field(default=utcnow)  # injected in tests
    words: ClassVar[vocabulary.Commands] = vocabulary.TELEGRAM  # the commands Telegram texts teach

    def now(self) -> dt.datetime:
        return self.clock()

    def today(self) -> dt.date:
        return self.now().astimezone(self.settings.tz).date()

    @contextmanager
    def session(self, update: Update | None = None) -> Iterator[Session]:
        """A handler's session. Given the update, its update_id is stored with the session's first commit that
        changes something, in that transaction, so the update redelivered (a retried webhook call, a restart
        before the poller confirmed it) is skipped where updates enter (bot/telegram/edge.py; duban/services/inbound.py)."""
        with Session(self.engine) as session:
            if update is not None:
                inbound.record_with_commit(
                    session=session, channel=TELEGRAM, message_id=str(update.update_id), now=self.now()
                )
            yield session

    def handled(self, update: Update) -> bool:
        """Whether a delivery of this update changed something already."""
        with Session(self.engine) as session:
            return inbound.handled(session=session, channel=TELEGRAM, message_id=str(update.update_id))


RUNTIME_KEY = "duban"


def runtime(context: ContextTypes.DEFAULT_TYPE) -> Runtime:
    value = context.application.bot_data[RUNTIME_KEY]
    assert isinstance(value, Runtime)
    return value
