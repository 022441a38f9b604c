"""Pacing what goes to DingTalk: a person gets a message a second and twenty a minute at most, the app twenty a
second, and the dispatcher sending through the DingTalk channel keeps it (time is a hand-moved clock)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.core.message import Message, Section
from bot.dingtalk.api import DingTalkApi
from bot.dingtalk.channel import DingTalkSender, dingtalk_deliver
from bot.dingtalk.pacing import DingTalkPacer
from bot.dingtalk.render import render
from duban.services.invites import create_invite, redeem_invite, resolve_department
from duban.services.outbox import enqueue
from models import ContactRole, Notification
from scheduler.dispatcher import Dispatcher
from tests.scheduler.conftest import FakeTime
from tests.standins.dingtalk import DingTalkStandIn

TZ = ZoneInfo("Asia/Shanghai")  # the settings' default

NOW = dt.datetime(2025, 6, 3, 1, 0, tzinfo=dt.UTC)  # Tuesday 09:00 in the county (the 2nd is 端午)
# a 督办提醒 long enough for three robot messages
LONG = Message(title="督办提醒", sections=tuple(Section(lines=(f"{n} " + "进" * 1500,)) for n in range(3)))


async def sent_at(pacer: DingTalkPacer, time: FakeTime, people: list[str]) -> list[float]:
    """When each send was let through, in seconds from the first."""
    start, stamps = time.now, []
    for person in people:
        await pacer.wait_turn(person)
        stamps.append(time.now - start)
    return stamps


async def test_one_person_gets_at_most_a_message_a_second_and_twenty_a_minute() -> None:
    time = FakeTime()
    pacer = DingTalkPacer(clock=time.clock, sleep=time.sleep)

    stamps = await sent_at(pacer, time, ["staff-001"] * 25)

    assert stamps[:3] == [0.0, 1.0, 2.0]
    assert stamps[20] == 60.0  # the 21st waits until the first has left the minute
    assert all(later - earlier >= 1.0 for earlier, later in zip(stamps, stamps[1:], strict=False))
    assert all(stamps[i + 20] - stamps[i] >= 60.0 for i in range(len(stamps) - 20))


async def test_other_people_are_not_held_back_by_a_busy_one() -> None:
    time = FakeTime()
    pacer = DingTalkPacer(clock=time.clock, sleep=time.sleep)

    assert await sent_at(pacer, time, ["staff-001", "staff-002", "staff-003", "staff-001"]) == [0, 0, 0, 1.0]
    assert time.sleeps == [1.0]


async def test_the_app_sends_at_most_twenty_a_second() -> None:
    time = FakeTime()
    pacer = DingTalkPacer(clock=time.clock, sleep=time.sleep)

    stamps = await sent_at(pacer, time, [f"staff-{n:03}" for n in range(45)])

    assert stamps[19] == 0.0 and stamps[20] == 1.0 and stamps[40] == 2.0


@pytest.mark.parametrize("paced", [True, False])
async def test_the_dispatcher_keeps_the_pace_so_dingtalk_throttles_nobody(
    standin: DingTalkStandIn, engine: Engine, seeded: Session, paced: bool
) -> None:
    """The stand-in answers a person sent to twice within a second as flow-controlled, as DingTalk may; without
    the pacer (the control) that is what happens to the second part of a long 督办提醒."""
    time = FakeTime()
    standin.per_user_gap, standin.flow_clock = 1.0, time.clock
    department = resolve_department(session=seeded, name="区科技局")
    for staff_id in ("staff-001", "staff-002"):
        issued = create_invite(
            session=seeded, department=department, role=ContactRole.contact, now=NOW, ttl=dt.timedelta(days=7)
        )
        contact = redeem_invite(
            session=seeded, token=issued.token, dingtalk_user_id=staff_id, language="zh_CN", now=NOW
        )
        enqueue(session=seeded, key=f"pace:{staff_id}", kind="reminder", contact=contact, due_at=NOW, tz=TZ)
    seeded.commit()
    api = DingTalkApi(
        client_id=standin.client_id,
        client_secret=standin.client_secret,
        base_url=standin.url,
        http=httpx.AsyncClient(timeout=5, trust_env=False),
    )
    pacer = DingTalkPacer(clock=time.clock, sleep=time.sleep, per_person_seconds=1.0 if paced else 0.0)
    deliver = dingtalk_deliver(DingTalkSender(api, pacer), lambda session, rows: LONG)
    dispatcher = Dispatcher(engine=engine, deliver=deliver, clock=lambda: NOW, sleep=time.sleep, tz=TZ)
    assert len(render(LONG)) == 3

    result = await dispatcher.run_once()
    await api.aclose()

    with Session(engine) as session:
        rows = session.exec(select(Notification).order_by(Notification.id)).all()  # type: ignore[arg-type]
    if paced:
        assert standin.recorded.flow_controlled == []
        assert result.sent == 2 and all(row.sent_at is not None for row in rows)
        assert [s["userIds"] for s in standin.recorded.sent] == [["staff-001"]] * 3 + [["staff-002"]] * 3
        # each person's parts a second apart; the second person waits for nobody but themselves
        assert standin.recorded.sent_at == [1000.0, 1001.0, 1002.0, 1002.0, 1003.0, 1004.0]
    else:
        assert standin.recorded.flow_controlled == ["staff-001", "staff-002"]
        assert result.retried == 2 and all(row.sent_at is None for row in rows)
        assert all("flow-controlled" in (row.last_error or "") for row in rows)
