"""A county on DingTalk, told as its people live it, through the pieces `duban run` wires: the stand-in's Stream
frames and batchSend, the DingTalk channel built from the settings, the scheduler's plan, the dispatcher with the
channel router, and the command core. The clock is set by hand; nothing sleeps.

区教育体育局 of 济南市长清区 joins with a code, gets its two reminders of 2025-07-04 as one 督办提醒 at 09:00, taps
全部签收, taps 汇报 on item 1 and writes that it is done; the county's coordinator (also on DingTalk) is told at once,
approves the 销号, and the contact gets the decision.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import unquote

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.channels import ChannelRouter
from bot.dingtalk.app import DingTalkChannel, build_dingtalk_channel
from bot.dingtalk.pacing import DingTalkPacer
from bot.main import notice_sender
from bot.telegram.runtime import Runtime
from duban.config import Settings
from duban.seeding import load_seed
from duban.services.invites import create_invite, resolve_department
from models import CloseoutRequest, CloseoutStatus, ContactRole, Notification
from scheduler.jobs import Jobs, dispatch
from tests.scheduler.conftest import FakeTime
from tests.standins.dingtalk import DingTalkStandIn

COUNTY = "济南市长清区"
BUREAU = "区教育体育局"
CONTACT, COORDINATOR = "staff-001", "staff-002"
JOINING = dt.datetime(2025, 7, 3, 2, 0, tzinfo=dt.UTC)  # Thursday 10:00 in the county
NINE_NEXT_MORNING = dt.datetime(2025, 7, 4, 1, 0, tzinfo=dt.UTC)  # Friday 09:00, when its reminders are due
LINK = re.compile(r"\]\(dtmd://dingtalkclient/sendMessage\?content=([^)]+)\)")


@dataclass
class Clock:
    now: dt.datetime = JOINING

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class County:
    """duban's DingTalk side, wired as start_background wires it, and the stand-in as the people's phones."""

    standin: DingTalkStandIn
    engine: Engine
    clock: Clock
    channel: DingTalkChannel
    jobs: Jobs
    router: ChannelRouter
    seen: dict[str, int] = field(default_factory=dict)

    def inbox(self, staff_id: str) -> list[str]:
        """The markdown texts the robot sent this person since the last look."""
        mine = [s for s in self.standin.recorded.sent if s["userIds"] == [staff_id]]
        new, self.seen[staff_id] = mine[self.seen.get(staff_id, 0) :], len(mine)
        return [s["msgParam"]["text"] for s in new if s["msgKey"] == "sampleMarkdown"]

    async def say(self, staff_id: str, text: str) -> list[str]:
        """The person types (or taps a link that sends) this text; returns what the robot answered them."""
        self.inbox(staff_id)
        self.standin.push_robot_text(staff_id, text)
        assert (await self.standin.next_ack())["code"] == 200
        await self.channel.conversation.drain()
        return self.inbox(staff_id)

    async def tap(self, staff_id: str, message: str, label: str) -> list[str]:
        """Tapping an action link of a message the robot sent: DingTalk sends its content back as the person."""
        links = dict(
            re.findall(r"\[([^\]]+)\]\(dtmd://dingtalkclient/sendMessage\?content=([^)]+)\)", message)
        )
        return await self.say(staff_id, unquote(links[label]))

    async def nine_oclock(self) -> None:
        """The scheduler's plan job, then its dispatch job, at 09:00."""
        self.clock.now = NINE_NEXT_MORNING
        self.jobs.plan()
        await dispatch(self.jobs.dispatcher(self.router))


@pytest.fixture
async def county(standin: DingTalkStandIn, engine: Engine) -> AsyncIterator[County]:
    with Session(engine) as session:
        load_seed(session=session)
    settings = Settings(
        dingtalk_client_id=standin.client_id,
        dingtalk_client_secret=standin.client_secret,
        dingtalk_api_base=standin.url,
        dingtalk_legacy_api_base=standin.url,
    )
    clock = Clock()
    # the stand-in throttles a person sent to twice within a second; the channel's pacer, on a clock that moves
    # only when it waits, must keep every answer and reminder of the story clear of that
    pacing = FakeTime()
    standin.per_user_gap, standin.flow_clock = 1.0, pacing.clock
    pacer = DingTalkPacer(clock=pacing.clock, sleep=pacing.sleep)
    channel = build_dingtalk_channel(settings, engine, clock=clock, pacer=pacer)
    router = ChannelRouter({"dingtalk": channel.deliver})
    channel.conversation.send_notices = notice_sender(Runtime(engine, settings, clock), router)
    running = asyncio.create_task(channel.run())
    await standin.wait_connected()
    yield County(standin, engine, clock, channel, Jobs(engine=engine, settings=settings, clock=clock), router)
    await channel.stop()
    await asyncio.wait_for(running, 5)
    await channel.aclose()


def invitation(engine: Engine, role: ContactRole) -> str:
    with Session(engine) as session:
        department = resolve_department(session=session, name=BUREAU, region=COUNTY)
        return create_invite(
            session=session, department=department, role=role, now=JOINING, ttl=dt.timedelta(days=7)
        ).token


async def test_a_county_on_dingtalk_from_joining_to_an_approved_closeout(
    county: County, engine: Engine
) -> None:
    # the bureau's contact and the county's coordinator join with the codes `duban invite` printed
    [welcome] = await county.say(CONTACT, invitation(engine, ContactRole.contact))
    assert welcome.startswith(f"#### 欢迎！您现在是{BUREAU}的联络员。")
    [welcome] = await county.say(COORDINATOR, invitation(engine, ContactRole.coordinator))
    assert welcome.startswith(f"#### 欢迎！您现在是{BUREAU}的督办人员。")

    # 09:00 next morning: both reminders of the day come as one 督办提醒
    await county.nine_oclock()
    # (the ladder's notice of last year's overdue instance is another kind: a message of its own)
    [reminder] = [m for m in county.inbox(CONTACT) if m.startswith("#### ⏰ 督办提醒")]
    assert "1\\. （一）" in reminder and "2\\. （八）" in reminder
    county.inbox(COORDINATOR)  # the coordinator's own morning (the ladder's notices), read and put aside
    commands = [unquote(c) for c in LINK.findall(reminder)]
    with Session(engine) as session:
        rows = session.exec(
            select(Notification).where(Notification.kind == "reminder").order_by(col(Notification.id))
        ).all()
    assert len(rows) == 2 and rows[0].bundle_id == rows[1].bundle_id and rows[0].sent_at is not None
    head, first, second = rows[0].id, rows[0].id, rows[1].id
    # the links carry what main's Telegram buttons carry: the bundle's head, each item's row
    assert f"/ackall {head}" in commands and f"/rep {first}" in commands and f"/rep {second}" in commands
    assert f"/snz {head} 3" in commands

    # 全部签收: both items are acknowledged
    [acknowledged] = await county.tap(CONTACT, reminder, "全部签收")
    assert acknowledged == "#### 已签收，谢谢。"
    with Session(engine) as session:
        assert all(session.get(Notification, r.id).acknowledged_at for r in rows)  # type: ignore[union-attr]

    # 汇报 1, then the progress in the next message: the 销号 request reaches the coordinator before the reply
    [prompt] = await county.tap(CONTACT, reminder, "汇报 1")
    assert prompt.startswith("#### 汇报 （一）")
    [confirmation] = await county.say(CONTACT, "已完成，<b>验收</b>通过")
    assert (
        "已完成" in confirmation and "备注：已完成，&lt;b\\>验收&lt;/b\\>通过" in confirmation
    )  # echoed text is inert
    [request] = county.inbox(COORDINATOR)
    assert "销号" in request and "（一）" in request
    with Session(engine) as session:
        closeout = session.exec(select(CloseoutRequest)).one()

    # the coordinator approves by typing; the contact is told
    [decided] = await county.say(COORDINATOR, f"同意 {closeout.id}")
    assert (
        decided
        == f"#### 申请 {closeout.id}（（一） 实施乡村全环境立德树人工程，2025\\-12\\-31到期）已批准，该节点已销号。"
    )
    [notice] = county.inbox(CONTACT)
    assert "销号" in notice and "（一）" in notice
    with Session(engine) as session:
        assert session.get(CloseoutRequest, closeout.id).status == CloseoutStatus.approved  # type: ignore[union-attr]

    # nothing is left in the outbox for either of them, and a second run sends nothing twice
    await county.nine_oclock()
    assert county.inbox(CONTACT) == [] and county.inbox(COORDINATOR) == []
    # and DingTalk never had to throttle anyone: every message to a person came a second after the last
    assert county.standin.recorded.flow_controlled == []
