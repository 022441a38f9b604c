"""What every handler needs, kept in bot_data: the engine, the settings and the clock."""

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session
from telegram.ext import ContextTypes

from duban.config import Settings
from models import utcnow


@dataclass
class Runtime:
    engine: Engine
    settings: Settings
    clock: Callable[[], dt.datetime] = field(default=utcnow)  # injected in tests

    def now(self) -> dt.datetime:
        return self.clock()

    def today(self) -> dt.date:
        return self.now().astimezone(self.settings.tz).date()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine) as session:
            yield session


RUNTIME_KEY = "duban"


def runtime(context: ContextTypes.DEFAULT_TYPE) -> Runtime:
    value = context.application.bot_data[RUNTIME_KEY]
    assert isinstance(value, Runtime)
    return value
