"""A DingTalk user's story through every real part: the stand-in's Stream frames, the SDK-based receiver, the
command core on a seeded database, and the answers sent back through batchSend as DingTalk markdown."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.core.commands import Clock, CommandCore
from bot.dingtalk.api import DingTalkApi
from bot.dingtalk.channel import DingTalkSender, RobotConversation
from bot.dingtalk.pacing import DingTalkPacer
from bot.dingtalk.stream import StreamReceiver
from duban.config import Settings
from duban.seeding import load_seed
from duban.services.invites import create_invite, resolve_department
from models import ContactRole
from tests.scheduler.conftest import FakeTime
from tests.standins.dingtalk import DingTalkStandIn

NOW = dt.datetime(2025, 6, 2, 2, 0, tzinfo=dt.UTC)


class Robot:
    """The whole DingTalk side of duban, wired as `duban run` would, against the stand-in."""

    def __init__(self, standin: DingTalkStandIn, engine: Engine, settings: Settings | None = None) -> None:
        self.standin = standin
        self.api = DingTalkApi(
            client_id=standin.client_id,
            client_secret=standin.client_secret,
            base_url=standin.url,
            http=httpx.AsyncClient(timeout=5, trust_env=False),
        )
        core = CommandCore(session=lambda: Session(engine), clock=Clock(settings or Settings(), lambda: NOW))
        time = FakeTime()  # pacing waits move this clock, not the test's
        sender = DingTalkSender(self.api, DingTalkPacer(clock=time.clock, sleep=time.sleep))
        self.conversation = RobotConversation(core=core, sender=sender)
        self.receiver = StreamReceiver(
            client_id=standin.client_id,
            client_secret=standin.client_secret,
            on_message=self.conversation,
            api_base=standin.url,
            http=httpx.AsyncClient(timeout=5, trust_env=False),
            local_ip=lambda: "127.0.0.1",
        )

    async def say(self, staff_id: str, text: str) -> list[str]:
        """The person sends the robot a text; returns the markdown texts the robot sent them."""
        before = len(self.standin.recorded.sent)
        self.standin.push_robot_text(staff_id, text)
        assert (await self.standin.next_ack())["code"] == 200
        await self.conversation.drain()
        sent = self.standin.recorded.sent[before:]
        assert all(s["userIds"] == [staff_id] and s["msgKey"] == "sampleMarkdown" for s in sent)
        return [s["msgParam"]["text"] for s in sent]


@pytest.fixture
async def robot(standin: DingTalkStandIn, engine: Engine) -> AsyncIterator[Robot]:
    with Session(engine) as session:
        load_seed(session=session)
    robot = Robot(standin, engine)
    running = asyncio.create_task(robot.receiver.run())
    await standin.wait_connected()
    yield robot
    await robot.receiver.stop()
    await asyncio.wait_for(running, 5)
    await robot.api.aclose()


def invitation_code(engine: Engine, department: str) -> str:
    with Session(engine) as session:
        dept = resolve_department(session=session, name=department, region="淄博市淄川区")
        issued = create_invite(
            session=session, department=dept, role=ContactRole.contact, now=NOW, ttl=dt.timedelta(days=7)
        )
        return issued.token


async def test_join_see_tasks_report_progress_and_a_stranger_learns_nothing(
    robot: Robot, engine: Engine
) -> None:
    code = invitation_code(engine, "区科技局")

    [welcome] = await robot.say("staff-001", code)
    assert welcome.startswith("#### 欢迎！您现在是区科技局的联络员。")
    assert "\n\n任务 — " in welcome and "/" not in welcome  # DingTalk's words, no Telegram command

    [tasks] = await robot.say("staff-001", "任务")
    # user-facing text is escaped for DingTalk's markdown
    assert tasks.startswith("#### 未完成的时间节点（发送 任务 编号 查看详情）\n\n1\\. \\[牵头\\] 附件\\-34 ")

    [saved] = await robot.say("staff-001", "汇报 1 完成60%，已开工")
    assert "节点：2025\\-12\\-31到期  \n状态：正常推进  \n进度：60%  \n备注：已开工  \n" in saved
    # the 撤销 link sends back the command that takes this report back
    assert saved.endswith("[↩️ 撤销](dtmd://dingtalkclient/sendMessage?content=%2Fundo%201)")

    before = len(robot.standin.recorded.sent)
    robot.standin.push_robot_picture("staff-001", b"\x89PNG photo of the new lab")
    await robot.standin.next_ack()
    await robot.conversation.drain()
    [evidence] = [s["msgParam"]["text"] for s in robot.standin.recorded.sent[before:]]
    assert evidence.startswith("#### 已为 附件\\-34 ")

    [refused] = await robot.say("staff-003", "任务")
    assert refused == "#### 您好！这里是督办提醒机器人。您尚未加入：请把教育局发给您的邀请码发送给我。"
    [refused_again] = await robot.say("staff-003", code)  # a used code, by someone else
    assert refused_again == "#### 此邀请码无效：可能已过期或已被使用。请联系教育局重新获取。"


async def test_markup_in_a_users_text_comes_back_inert(robot: Robot, engine: Engine) -> None:
    await robot.say("staff-001", invitation_code(engine, "区科技局"))
    await robot.say("staff-001", "任务")
    note = "[同意](dtmd://dingtalkclient/sendMessage?content=同意 1) <font color=red>**急**</font>"

    [saved] = await robot.say("staff-001", f"汇报 1 {note}")

    echoed = saved.split("备注：")[1].split("  \n")[0]
    assert "](" not in echoed.replace("\\](", "") and "<" not in echoed and "**" not in echoed
    assert echoed.startswith("\\[同意\\]\\(dtmd://dingtalkclient/sendMessage?content=同意 1\\) &lt;font")


async def test_a_message_from_another_organisation_is_refused_when_our_corp_is_set(
    standin: DingTalkStandIn, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with Session(engine) as session:
        load_seed(session=session)
    robot = Robot(standin, engine, Settings(dingtalk_corp_id="dingcorp"))  # the stand-in's organisation
    running = asyncio.create_task(robot.receiver.run())
    await standin.wait_connected()
    try:
        code = invitation_code(engine, "区科技局")
        before = len(standin.recorded.sent)
        standin.push_robot_message(
            "staff-001", {"msgtype": "text", "text": {"content": code}, "senderCorpId": "dingother"}
        )
        assert (await standin.next_ack())["code"] == 200
        await robot.conversation.drain()
        assert standin.recorded.sent[before:] == []  # no answer, and the code is not spent
        assert "another organisation refused (sender corp dingother" in caplog.text

        [welcome] = await robot.say("staff-001", code)  # the same person inside the organisation
        assert welcome.startswith("#### 欢迎！")
    finally:
        await robot.receiver.stop()
        await asyncio.wait_for(running, 5)
        await robot.api.aclose()
