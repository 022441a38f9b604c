"""DUBAN_TIMEZONE is the one time zone: a reminder counts its days left in it, as 状态 and 任务 count their day."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.core.commands import Clock, CommandCore
from bot.core.message import Message
from bot.core.notices import message_for
from bot.core.vocabulary import DINGTALK
from bot.dingtalk.app import build_dingtalk_channel
from duban.config import Settings
from duban.seeding import load_seed
from models import ContactRole, Milestone, Notification, Recurrence
from tests.dingtalk.test_commands import LI, WANG, invite, reminder_for, text_of

# 10:00 on 2 June in Shanghai (the default), 19:00 on 1 June in Los Angeles
NOW = dt.datetime(2025, 6, 2, 2, 0, tzinfo=dt.UTC)
LOS_ANGELES = "America/Los_Angeles"


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DUBAN_TIMEZONE", LOS_ANGELES)
    return Settings(
        dingtalk_client_id="dingtimezonetest01", dingtalk_client_secret="s3cr3t-timezone-test-0123"
    )


async def test_a_dingtalk_reminder_counts_days_left_in_the_configured_zone_as_the_status_does(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(engine) as session:
        load_seed(session=session)
    core = CommandCore(session=lambda: Session(engine), clock=Clock(settings, lambda: NOW))
    core.handle(WANG, invite(engine, "区科技局"))
    core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator))
    number = reminder_for(engine, "staff-001", "附件-34")
    channel = build_dingtalk_channel(settings, engine, clock=lambda: NOW)
    sent: list[Message] = []

    async def capture(user_id: str, message: Message) -> str:
        sent.append(message)
        return "sent"

    monkeypatch.setattr(channel.sender, "deliver_to_dingtalk", capture)
    try:
        with Session(engine) as session:
            row = session.get(Notification, number)
            assert row is not None
            row.due_at = NOW  # sent now (2 June is a holiday in China, so the outbox had put it off)
            session.add(row)
            session.commit()
            milestone = session.get(Milestone, row.milestone_id)
            assert milestone is not None and milestone.recurrence == Recurrence.none
            due = milestone.due_on
            await channel.deliver(session, [row])
            # the default zone would have said one day fewer: it is already 2 June in Shanghai
            in_shanghai = message_for(session, row, tz=ZoneInfo("Asia/Shanghai"), words=DINGTALK)
    finally:
        await channel.api.aclose()

    days_left = (due - dt.date(2025, 6, 1)).days
    assert f"{due.isoformat()}到期，还有 {days_left} 天" in text_of(sent)
    assert f"{due.isoformat()}到期，还有 {days_left - 1} 天" in text_of([in_shanghai])
    assert text_of(core.handle(LI, "状态")).startswith("进度（截至 2025-06-01）")
