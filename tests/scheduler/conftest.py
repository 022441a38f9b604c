"""Scheduler fixtures: contacts who joined through the real invitation path, a fake clock, a fake bot."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session
from telegram import Bot

from bot.core.notices import message_for
from bot.core.vocabulary import TELEGRAM
from bot.telegram.render import parts
from duban.services.invites import create_invite, redeem_invite, resolve_department
from models import Contact, ContactRole, Notification
from tests.telegram_fakes import TOKEN, RecordingRequest

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: str, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour, minute), tzinfo=SHANGHAI)


def shown(session: Session, row: Notification) -> str:
    """The row as its recipient sees it in Telegram (HTML, all parts), rendered as the dispatcher would."""
    return "\n".join(part.html for part in parts(message_for(session, row, tz=SHANGHAI, words=TELEGRAM)))


@pytest.fixture
def join(seeded: Session) -> Callable[..., Contact]:
    def _join(
        department: str, user_id: int, role: ContactRole = ContactRole.contact, region: str | None = None
    ) -> Contact:
        dept = resolve_department(session=seeded, name=department, region=region)
        now = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
        issued = create_invite(session=seeded, department=dept, role=role, now=now, ttl=dt.timedelta(days=7))
        return redeem_invite(
            session=seeded, token=issued.token, telegram_user_id=user_id, language="zh_CN", now=now
        )

    return _join


@pytest.fixture
async def fake_bot() -> AsyncIterator[Bot]:
    bot = Bot(TOKEN, request=RecordingRequest())
    await bot.initialize()
    yield bot
    await bot.shutdown()


class FakeTime:
    """A monotonic clock and a sleep that advances it: pacing is checked without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()
