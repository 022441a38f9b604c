"""One message per recipient per send moment: with the shipped seeds, the 淄川 区教体局 contact's reminders of a
day arrive as one 督办提醒 listing them all, not one message each (it was 32 on one day)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from telegram import Bot

from bot.telegram.channel import TelegramChannel
from bot.telegram.render import TELEGRAM_LIMIT, utf16_length
from models import Notification
from scheduler.dispatcher import Dispatcher
from scheduler.outbox_planner import plan_outbox
from scheduler.pacing import SendPacer
from scheduler.policy import ReminderPolicy
from tests.scheduler.conftest import SHANGHAI, FakeTime, local


async def test_a_contacts_reminders_of_one_day_are_one_message(
    seeded: Session, engine: Engine, join: Any, fake_bot: Bot, fake_time: FakeTime
) -> None:
    join("区教体局", 1001, region="淄博市淄川区")
    day = dt.date(2025, 10, 1)
    while day <= dt.date(2025, 10, 31):
        now = local(day.isoformat(), 9, 1)
        plan_outbox(session=seeded, now=now, policy=ReminderPolicy(), tz=SHANGHAI)
        channel = TelegramChannel(
            fake_bot, pacer=SendPacer(clock=fake_time.clock, sleep=fake_time.sleep), tz=SHANGHAI
        )
        await Dispatcher(
            engine=engine, deliver=channel, clock=lambda moment=now: moment, tz=SHANGHAI
        ).run_once()
        day += dt.timedelta(days=1)

    with Session(engine) as session:
        rows = session.exec(select(Notification).where(col(Notification.sent_at).is_not(None))).all()
    messages = Counter((row.sent_at.astimezone(SHANGHAI).date(), row.kind) for row in rows if row.sent_at)
    bundles = {(row.sent_at.astimezone(SHANGHAI).date(), row.kind): set() for row in rows if row.sent_at}
    for row in rows:
        assert row.sent_at is not None
        bundles[(row.sent_at.astimezone(SHANGHAI).date(), row.kind)].add(row.bundle_id)
    assert all(len(heads) == 1 for heads in bundles.values())  # one message per day and kind
    biggest_day, biggest = max(messages.items(), key=lambda kv: kv[1])
    # the 90-day step of the 2025-12-31 milestones, moved off the National Day holiday to its first working day
    assert biggest_day == (dt.date(2025, 10, 9), "reminder") and biggest >= 30

    sent = [p for e, p in fake_bot.request.calls if e == "sendMessage"]  # type: ignore[attr-defined]
    that_day = [p["text"] for p in sent if "还有 83 天" in p["text"]]
    assert sum(text.count("到期，还有 83 天") for text in that_day) == biggest  # every item listed once
    assert that_day[0].startswith("<b>⏰ 督办提醒</b>")
    assert all(utf16_length(p["text"]) <= TELEGRAM_LIMIT for p in sent)
