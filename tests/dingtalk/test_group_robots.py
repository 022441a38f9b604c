"""Group robots against stand-ins that check each platform's signature and payload; rate limits; the CLI."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import Session, select

from bot.core.message import Message, Section
from bot.i18n import gettext_for
from bot.robots.senders import (
    GroupRobotSender,
    RobotDisabled,
    RobotKeys,
    post_to_plan_robots,
    robot_disabled_notice,
)
from duban.cli import main
from duban.robots import RobotCredentials, coordinators_to_tell, disable_robot, robots_for_plan
from duban.sealing import Keyring
from duban.services.invites import create_invite, redeem_invite, resolve_department
from models import ContactRole, GroupRobot, Plan, RobotPlatform
from scheduler.delivery import RetryLater
from tests.standins.group_robots import GroupRobotStandIn

TZ = ZoneInfo("Asia/Shanghai")  # the settings' default

TONGBAO = Message(
    title="通报：逾期 30 天以上的时间节点",
    sections=(Section(lines=("区科技局：附件-34 <科普>进校园", "区教体局：（二）实施教育强镇筑基行动")),),
)
DINGTALK_SECRET = "SEC0123456789abcdef"
SECRET_KEY = (
    "q3c8HnV0t5Yk2wJrXm7bP1sLdZ9fQe4gT6uAoKiRyWc="  # DUBAN_SECRET_KEY in these tests (Fernet.generate_key)
)
KEYRING = Keyring([SECRET_KEY])


@pytest.fixture
def groups() -> Iterator[GroupRobotStandIn]:
    server = GroupRobotStandIn()
    server.dingtalk["dt-token"] = DINGTALK_SECRET
    server.wecom_keys.add("wecom-key")
    server.feishu["fs-token"] = "feishu-secret"
    server.start()
    yield server
    server.stop()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def sender(clock: Clock) -> AsyncIterator[GroupRobotSender]:
    sender = GroupRobotSender(http=httpx.AsyncClient(timeout=5, trust_env=False), clock=clock)
    yield sender
    await sender.aclose()


def _webhook(groups: GroupRobotStandIn, platform: RobotPlatform) -> tuple[str, str | None]:
    return {
        RobotPlatform.dingtalk: (f"{groups.url}/robot/send?access_token=dt-token", DINGTALK_SECRET),
        RobotPlatform.wecom: (f"{groups.url}/cgi-bin/webhook/send?key=wecom-key", None),
        RobotPlatform.feishu: (f"{groups.url}/open-apis/bot/v2/hook/fs-token", "feishu-secret"),
    }[platform]


def robot(
    groups: GroupRobotStandIn, platform: RobotPlatform, *, robot_id: int = 1, secret: str | None = None
) -> RobotCredentials:
    """What the sender is handed: a stand-in robot's webhook and secret, opened."""
    url, default_secret = _webhook(groups, platform)
    return RobotCredentials(robot_id, platform, url, secret or default_secret)


def robot_row(
    groups: GroupRobotStandIn, platform: RobotPlatform, *, plan_id: int | None, secret: str | None = None
) -> GroupRobot:
    """A stand-in robot as `duban robot add` stores it: webhook and secret sealed with KEYRING."""
    url, default_secret = _webhook(groups, platform)
    secret = secret or default_secret
    return GroupRobot(
        platform=platform,
        webhook_sealed=KEYRING.seal(url),
        secret_sealed=KEYRING.seal(secret) if secret else None,
        region="淄博市淄川区",
        plan_id=plan_id,
    )


async def test_dingtalk_gets_signed_markdown_with_user_text_escaped(
    groups: GroupRobotStandIn, sender: GroupRobotSender
) -> None:
    await sender.send(robot(groups, RobotPlatform.dingtalk), TONGBAO)
    [body] = groups.received["dingtalk"]
    assert body["markdown"]["title"] == "通报：逾期 30 天以上的时间节点"
    assert body["markdown"]["text"] == (
        "#### 通报：逾期 30 天以上的时间节点\n\n区科技局：附件\\-34 &lt;科普\\>进校园  \n区教体局：（二）实施教育强镇筑基行动"
    )


async def test_wecom_gets_markdown_content(groups: GroupRobotStandIn, sender: GroupRobotSender) -> None:
    await sender.send(robot(groups, RobotPlatform.wecom), TONGBAO)
    [body] = groups.received["wecom"]
    assert body == {
        "msgtype": "markdown",
        "markdown": {
            "content": "**通报：逾期 30 天以上的时间节点**\n区科技局：附件\\-34 &lt;科普\\>进校园\n区教体局：（二）实施教育强镇筑基行动"
        },
    }


async def test_the_digest_chart_goes_to_wecom_as_an_image_and_is_dropped_elsewhere(
    groups: GroupRobotStandIn, sender: GroupRobotSender
) -> None:
    chart = b"\x89PNG\r\n\x1a\n chart bytes"
    digest = Message(title="本周进度摘要", sections=(Section(lines=("🟢 12 · 🔴 3",)),), image=chart)
    await sender.send(robot(groups, RobotPlatform.wecom), digest)
    await sender.send(robot(groups, RobotPlatform.dingtalk, robot_id=2), digest)
    text, image = groups.received["wecom"]
    assert text["msgtype"] == "markdown" and image["msgtype"] == "image"
    assert base64.b64decode(image["image"]["base64"]) == chart
    assert [b["msgtype"] for b in groups.received["dingtalk"]] == ["markdown"]


async def test_feishu_gets_signed_plain_text(groups: GroupRobotStandIn, sender: GroupRobotSender) -> None:
    await sender.send(robot(groups, RobotPlatform.feishu), TONGBAO)
    [body] = groups.received["feishu"]
    assert body["msg_type"] == "text"
    assert body["content"]["text"] == (
        "通报：逾期 30 天以上的时间节点\n区科技局：附件-34 <科普>进校园\n区教体局：（二）实施教育强镇筑基行动"
    )


async def test_a_long_wecom_message_is_cut_between_lines_under_4096_bytes(
    groups: GroupRobotStandIn, sender: GroupRobotSender
) -> None:
    lines = tuple(f"第{i:03d}项：" + "逾期" * 20 for i in range(120))
    await sender.send(
        robot(groups, RobotPlatform.wecom), Message(title="通报", sections=(Section(lines=lines),))
    )
    contents = [b["markdown"]["content"] for b in groups.received["wecom"]]
    assert len(contents) > 1
    assert all(len(c.encode()) <= 4096 for c in contents)
    assert "\n".join(contents).count("逾期" * 20) == 120


@pytest.mark.parametrize("platform", [RobotPlatform.dingtalk, RobotPlatform.feishu])
async def test_a_wrong_secret_disables_the_robot(
    groups: GroupRobotStandIn, sender: GroupRobotSender, platform: RobotPlatform
) -> None:
    with pytest.raises(RobotDisabled, match="sign"):
        await sender.send(robot(groups, platform, secret="SECnot-the-secret"), TONGBAO)
    assert groups.received[platform.value] == []


@pytest.mark.parametrize("platform", list(RobotPlatform))
async def test_a_removed_webhook_disables_the_robot(
    groups: GroupRobotStandIn, sender: GroupRobotSender, platform: RobotPlatform
) -> None:
    gone = robot(groups, platform)
    gone = dataclasses.replace(
        gone, webhook_url=gone.webhook_url.replace("token", "gone").replace("key=wecom-key", "key=gone")
    )
    with pytest.raises(RobotDisabled):
        await sender.send(gone, TONGBAO)


async def test_twenty_a_minute_then_wait_for_the_oldest_to_age_out(
    groups: GroupRobotStandIn, sender: GroupRobotSender, clock: Clock
) -> None:
    dingtalk = robot(groups, RobotPlatform.dingtalk)
    for _ in range(20):
        await sender.send(dingtalk, TONGBAO)
        clock.now += 1
    with pytest.raises(RetryLater) as raised:
        await sender.send(dingtalk, TONGBAO)
    assert raised.value.seconds == 40.0  # the first send was at 1000, it is now 1020
    assert len(groups.received["dingtalk"]) == 20
    # another robot has a minute of its own
    await sender.send(robot(groups, RobotPlatform.wecom, robot_id=2), TONGBAO)
    clock.now += 40
    await sender.send(dingtalk, TONGBAO)
    assert len(groups.received["dingtalk"]) == 21


async def test_dingtalks_too_fast_answer_waits_ten_minutes(
    groups: GroupRobotStandIn, sender: GroupRobotSender
) -> None:
    groups.too_fast.add("dt-token")
    with pytest.raises(RetryLater) as raised:
        await sender.send(robot(groups, RobotPlatform.dingtalk), TONGBAO)
    assert raised.value.seconds == 600.0


def test_a_disabled_robot_names_the_coordinators_to_tell(seeded: Session) -> None:
    now = dt.datetime(2025, 6, 2, tzinfo=dt.UTC)
    plan = seeded.exec(select(Plan).where(Plan.key == "zibo-zichuan-2023")).one()
    department = resolve_department(session=seeded, name="区教体局", region=plan.region)
    issued = create_invite(
        session=seeded, department=department, role=ContactRole.coordinator, now=now, ttl=dt.timedelta(days=7)
    )
    coordinator = redeem_invite(
        session=seeded, token=issued.token, dingtalk_user_id="staff-002", language="zh_CN", now=now
    )
    county = GroupRobot(
        platform=RobotPlatform.wecom, webhook_sealed=KEYRING.seal("https://x"), region=plan.region
    )
    own = GroupRobot(
        platform=RobotPlatform.dingtalk,
        webhook_sealed=KEYRING.seal("https://y"),
        region=plan.region,
        plan_id=plan.id,
    )
    elsewhere = GroupRobot(
        platform=RobotPlatform.feishu, webhook_sealed=KEYRING.seal("https://z"), region="潍坊市安丘市"
    )
    seeded.add_all([county, own, elsewhere])
    seeded.commit()
    assert [r.id for r in robots_for_plan(session=seeded, plan=plan)] == [county.id, own.id]

    told = disable_robot(session=seeded, robot=own, reason="dingtalk 310000: sign not match", now=now, tz=TZ)
    seeded.commit()

    assert [c.id for c in told] == [coordinator.id]
    assert [c.id for c in coordinators_to_tell(session=seeded, robot=county)] == [coordinator.id]
    assert [r.id for r in robots_for_plan(session=seeded, plan=plan)] == [county.id]
    assert own.disabled_reason == "dingtalk 310000: sign not match"


def test_the_robot_cli(
    cli_env: str,
    groups: GroupRobotStandIn,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DUBAN_SECRET_KEY", SECRET_KEY)
    assert main(["seed"]) == 0
    capsys.readouterr()
    webhook = f"{groups.url}/robot/send?access_token=dt-token"
    common = ["robot", "add", "--platform", "dingtalk", "--plan", "zibo-zichuan-2023"]

    assert main([*common, "--webhook", webhook, "--secret", DINGTALK_SECRET]) == 1
    assert capsys.readouterr().err == "这不是钉钉机器人的 Webhook 地址。\n"
    assert main([*common, "--webhook", webhook, "--secret", "nope", "--any-host"]) == 1
    assert capsys.readouterr().err == "钉钉机器人的加签密钥应以 SEC 开头。\n"
    assert (
        main([*common, "--webhook", webhook, "--secret", DINGTALK_SECRET, "--any-host", "--name", "督办群"])
        == 0
    )
    assert capsys.readouterr().out == "已添加机器人 1（钉钉，方案 zibo-zichuan-2023）。\n"

    assert main(["robot", "test", "1"]) == 0
    assert capsys.readouterr().out == "测试消息已发送到机器人 1 所在的群。\n"
    assert groups.received["dingtalk"][0]["markdown"]["title"] == "督办机器人测试消息"

    groups.dingtalk["dt-token"] = "SECrotated"
    assert main(["robot", "test", "1"]) == 1
    assert "已停用" in capsys.readouterr().err
    assert main(["robot", "test", "1"]) == 1  # a disabled robot is not tried again
    assert capsys.readouterr().err == (
        "机器人 1 已停用（dingtalk 310000: sign not match）。请检查 Webhook 地址和密钥后重新添加。\n"
    )
    assert main(["robot", "list"]) == 0
    assert capsys.readouterr().out == (
        "1\t钉钉 督办群\t127.0.0.1:" + groups.url.rsplit(":", 1)[1] + "/…oken\t方案 zibo-zichuan-2023"
        "\t已停用：dingtalk 310000: sign not match\n"
    )
    assert main(["robot", "remove", "1"]) == 0
    assert main(["robot", "remove", "1"]) == 1
    assert capsys.readouterr().err == "没有编号为 1 的机器人。\n"


async def test_a_plans_tongbao_reaches_its_robots_and_a_refused_one_is_disabled(
    seeded: Session, groups: GroupRobotStandIn, sender: GroupRobotSender
) -> None:
    now = dt.datetime(2025, 6, 2, tzinfo=dt.UTC)
    plan = seeded.exec(select(Plan).where(Plan.key == "zibo-zichuan-2023")).one()
    department = resolve_department(session=seeded, name="区教体局", region=plan.region)
    issued = create_invite(
        session=seeded, department=department, role=ContactRole.coordinator, now=now, ttl=dt.timedelta(days=7)
    )
    coordinator = redeem_invite(
        session=seeded, token=issued.token, telegram_user_id=42, language="zh_CN", now=now
    )
    good = robot_row(groups, RobotPlatform.wecom, plan_id=plan.id)
    stale = robot_row(groups, RobotPlatform.dingtalk, plan_id=plan.id, secret="SECold")
    seeded.add_all([good, stale])
    seeded.commit()

    result = await post_to_plan_robots(
        session=seeded, plan=plan, message=TONGBAO, sender=sender, keys=RobotKeys(KEYRING), now=now, tz=TZ
    )

    assert (result.sent, result.disabled, result.later) == ([good.id], [stale.id], [])
    assert [c.id for c in result.coordinators_to_tell] == [coordinator.id]
    assert len(groups.received["wecom"]) == 1
    seeded.refresh(stale)
    assert stale.active is False and stale.disabled_reason == "dingtalk 310000: sign not match"
    notice = robot_disabled_notice(gettext_for("zh_CN"), stale, stale.disabled_reason)
    assert notice.title == f"群机器人 {stale.id}（钉钉）已停用"
    assert notice.sections[0].lines[0] == "平台拒绝了该机器人：dingtalk 310000: sign not match"
