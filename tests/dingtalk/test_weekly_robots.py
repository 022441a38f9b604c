"""The weekly 通报 and digest reach a plan's group robots through `duban run`'s jobs, each once per week."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.core.notices import message_for
from bot.core.vocabulary import TELEGRAM
from bot.robots.senders import GroupRobotSender, RobotKeys
from bot.robots.weekly import post_weekly
from duban.config import Settings
from duban.services.invites import create_invite, redeem_invite, resolve_department
from models import ContactRole, GroupRobot, Notification, Plan, RobotPlatform
from scheduler.jobs import Jobs
from tests.dingtalk.test_group_robots import DINGTALK_SECRET, KEYRING, robot_row
from tests.standins.group_robots import GroupRobotStandIn

TZ = ZoneInfo("Asia/Shanghai")  # the settings' default

MONDAY = dt.datetime(2025, 12, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 in the county


@pytest.fixture
def groups() -> Iterator[GroupRobotStandIn]:
    server = GroupRobotStandIn()
    server.dingtalk["dt-token"] = DINGTALK_SECRET
    server.wecom_keys.add("wecom-key")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def sender() -> AsyncIterator[GroupRobotSender]:
    sender = GroupRobotSender(http=httpx.AsyncClient(timeout=5, trust_env=False))
    yield sender
    await sender.aclose()


async def test_the_weeks_tongbao_and_digest_reach_each_robot_once_and_a_refused_one_is_reported(
    engine: Engine,
    seeded: Session,
    groups: GroupRobotStandIn,
    sender: GroupRobotSender,
) -> None:
    plan = seeded.exec(select(Plan).where(Plan.key == "zibo-zichuan-2023")).one()
    department = resolve_department(session=seeded, name="区教体局", region=plan.region)
    issued = create_invite(
        session=seeded,
        department=department,
        role=ContactRole.coordinator,
        now=MONDAY,
        ttl=dt.timedelta(days=7),
    )
    coordinator = redeem_invite(
        session=seeded, token=issued.token, dingtalk_user_id="staff-002", language="zh_CN", now=MONDAY
    )
    good = robot_row(groups, RobotPlatform.wecom, plan_id=plan.id)
    stale = robot_row(groups, RobotPlatform.dingtalk, plan_id=plan.id, secret="SECold")
    seeded.add_all([good, stale])
    seeded.commit()
    settings = Settings()
    Jobs(engine=engine, settings=settings, clock=lambda: MONDAY).plan()  # queues the week's 通报

    keys = RobotKeys(KEYRING)
    first = await post_weekly(
        session=seeded, sender=sender, keys=keys, now=MONDAY, tz=settings.tz, language="zh_CN", digest=True
    )
    posts = list(groups.received["wecom"])
    texts = [p["markdown"]["content"] for p in posts if p.get("msgtype") == "markdown"]
    assert any(t.startswith("**通报") for t in texts), texts
    assert any("周报" in t or "本周" in t for t in texts), texts
    assert any(p.get("msgtype") == "image" for p in posts)  # the digest's chart
    assert (first.disabled, first.later) == (1, 0)

    # a rerun of the job, a restart, the next tick: nothing is posted twice
    again = await post_weekly(
        session=seeded,
        sender=sender,
        keys=keys,
        now=MONDAY + dt.timedelta(hours=2),
        tz=settings.tz,
        language="zh_CN",
        digest=True,
    )
    assert again.posted == 0 and groups.received["wecom"] == posts

    # the coordinator hears of the refused robot through the outbox, on their own channel
    [notice] = seeded.exec(select(Notification).where(Notification.kind == "robot_disabled")).all()
    assert notice.contact_id == coordinator.id
    assert message_for(seeded, notice, tz=TZ, words=TELEGRAM).title == f"群机器人 {stale.id}（钉钉）已停用"
    assert seeded.get(GroupRobot, stale.id).active is False  # type: ignore[union-attr]
