"""Group robots sealed at rest with DUBAN_SECRET_KEY: the database holds no usable webhook or secret (every row of
every table, and on SQLite the file's bytes), the robot commands with the key, without it and with a wrong one,
robots stored plain before 0021, a key rotation, and what `duban run` does at its start and in its weekly posts."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from bot.robots.senders import GroupRobotSender, RobotKeys
from bot.robots.weekly import post_weekly, robots_at_start
from duban import redaction
from duban.cli import main
from duban.config import Settings, get_settings
from duban.db import make_engine
from duban.migrate import upgrade
from duban.robots import seal_robots
from duban.robots_cli import NO_KEY
from duban.sealing import Keyring
from duban.services.invites import create_invite, redeem_invite, resolve_department
from models import ContactRole, GroupRobot, Plan, RobotPlatform
from scheduler.jobs import Jobs
from tests.dingtalk.test_group_robots import KEYRING, SECRET_KEY
from tests.standins.group_robots import GroupRobotStandIn

OTHER_KEY = "Zt4mQ8wN2xR6vB0cJ5hK9pL3sD7fG1yU4eA8iO2nT6w="  # another key, as a wrong one or the next one
# the credentials the database must never hold usable: distinctive, so a match is never a coincidence
DINGTALK_TOKEN, DINGTALK_SECRET = "dtTOKEN7f3a9c1e5b2d", "SECdtSECRET0b8e2d4f6a"
WECOM_KEY = "wecomKEY5e1c7a93f0"
FEISHU_TOKEN, FEISHU_SECRET = "fsHOOK2c9e4b71d8", "fsSECRET8d3f1a6e0c"
CREDENTIALS = (DINGTALK_TOKEN, DINGTALK_SECRET, WECOM_KEY, FEISHU_TOKEN, FEISHU_SECRET)
PLAN = "zibo-zichuan-2023"
MONDAY = dt.datetime(2025, 12, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 in the county


@pytest.fixture
def groups() -> Iterator[GroupRobotStandIn]:
    server = GroupRobotStandIn()
    server.dingtalk[DINGTALK_TOKEN] = DINGTALK_SECRET
    server.wecom_keys.add(WECOM_KEY)
    server.feishu[FEISHU_TOKEN] = FEISHU_SECRET
    server.start()
    yield server
    server.stop()


def webhooks(groups: GroupRobotStandIn) -> list[tuple[RobotPlatform, str, str | None]]:
    return [
        (RobotPlatform.dingtalk, f"{groups.url}/robot/send?access_token={DINGTALK_TOKEN}", DINGTALK_SECRET),
        (RobotPlatform.wecom, f"{groups.url}/cgi-bin/webhook/send?key={WECOM_KEY}", None),
        (RobotPlatform.feishu, f"{groups.url}/open-apis/bot/v2/hook/{FEISHU_TOKEN}", FEISHU_SECRET),
    ]


def stored(url: str) -> bytes:
    """All the database holds, as an attacker with a copy reads it: every row of every table as text, and on
    SQLite the file's bytes too (free pages, the WAL), where a value overwritten may linger."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = [
                repr(tuple(row))
                for table in inspect(engine).get_table_names()
                for row in connection.execute(text(f'SELECT * FROM "{table}"'))
            ]
    finally:
        engine.dispose()
    held = "\n".join(rows).encode()
    path = make_url(url).database
    if make_url(url).get_backend_name() == "sqlite" and path:
        for name in (path, f"{path}-wal"):
            if Path(name).exists():
                held += Path(name).read_bytes()
    return held


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def use_key(monkeypatch: pytest.MonkeyPatch, key: str | None) -> None:
    if key is None:
        monkeypatch.delenv("DUBAN_SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("DUBAN_SECRET_KEY", key)
    get_settings.cache_clear()


def add_three(groups: GroupRobotStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    for platform, url, secret in webhooks(groups):
        argv = ["robot", "add", "--platform", platform.value, "--webhook", url, "--plan", PLAN, "--any-host"]
        argv += ["--secret", secret] if secret else []
        assert run([*argv, "--name", f"{platform.value}-group-name"], capsys)[0] == 0


def test_the_database_holds_no_webhook_or_secret_of_the_robots_it_posts_to(
    cli_env: str,
    groups: GroupRobotStandIn,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_key(monkeypatch, SECRET_KEY)
    assert main(["seed"]) == 0
    add_three(groups, capsys)

    for robot_id in (1, 2, 3):  # opened with the key, each signs and reaches its stand-in
        assert run(["robot", "test", str(robot_id)], capsys) == (
            0,
            f"测试消息已发送到机器人 {robot_id} 所在的群。\n",
            "",
        )
    assert [len(groups.received[p]) for p in ("dingtalk", "wecom", "feishu")] == [1, 1, 1]
    port = groups.url.rsplit(":", 1)[1]
    assert run(["robot", "list"], capsys) == (
        0,
        f"1\t钉钉 dingtalk-group-name\t127.0.0.1:{port}/…2d\t方案 {PLAN}\t启用\n".replace(
            "…2d", f"…{DINGTALK_TOKEN[-4:]}"
        )
        + f"2\t企业微信 wecom-group-name\t127.0.0.1:{port}/…{WECOM_KEY[-4:]}\t方案 {PLAN}\t启用\n"
        + f"3\t飞书 feishu-group-name\t127.0.0.1:{port}/…{FEISHU_TOKEN[-4:]}\t方案 {PLAN}\t启用\n",
        "",
    )

    assert (
        redaction.clean(f"key {SECRET_KEY}") == "key <redacted>"
    )  # main() keeps the key out of every log line
    held = stored(cli_env)
    assert (
        b"feishu-group-name" in held and b"gAAAAA" in held
    )  # the search reads the rows, sealed values in them
    for credential in CREDENTIALS:
        assert credential.encode() not in held, credential


def test_without_the_key_add_and_test_are_refused_and_nothing_is_written(
    cli_env: str,
    groups: GroupRobotStandIn,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_key(monkeypatch, SECRET_KEY)
    assert main(["seed"]) == 0
    add_three(groups, capsys)
    use_key(monkeypatch, None)
    before = stored(cli_env)

    platform, url, secret = webhooks(groups)[0]
    add = [
        "robot",
        "add",
        "--platform",
        platform.value,
        "--webhook",
        url,
        "--secret",
        secret or "",
        "--any-host",
    ]
    assert run([*add, "--plan", PLAN], capsys) == (1, "", NO_KEY + "\n")
    assert run(["robot", "test", "1"], capsys) == (1, "", NO_KEY + "\n")
    assert NO_KEY.startswith("未设置 DUBAN_SECRET_KEY") and "Fernet.generate_key()" in NO_KEY
    code, out, err = run(["robot", "list"], capsys)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"1\t钉钉 dingtalk-group-name\t（已加密）\t方案 {PLAN}\t启用",
        f"2\t企业微信 wecom-group-name\t（已加密）\t方案 {PLAN}\t启用",
        f"3\t飞书 feishu-group-name\t（已加密）\t方案 {PLAN}\t启用",
        "未设置 DUBAN_SECRET_KEY：Webhook 加密保存，不能显示，群机器人暂停发送。",
    ]
    assert stored(cli_env) == before
    assert groups.received == {}

    # removing opens nothing: robots sealed with a lost key can be cleared away without it
    assert run(["robot", "remove", "3"], capsys) == (0, "已删除机器人 3。\n", "")


def test_a_wrong_key_is_one_clear_line_and_the_robot_stays_as_it_is(
    cli_env: str,
    groups: GroupRobotStandIn,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_key(monkeypatch, SECRET_KEY)
    assert main(["seed"]) == 0
    add_three(groups, capsys)
    use_key(monkeypatch, OTHER_KEY)
    before = stored(cli_env)
    wrong = (
        "DUBAN_SECRET_KEY 打不开机器人 {ids} 的 Webhook：它们是用另一个密钥加密的。"
        "请把当初的密钥加进 DUBAN_SECRET_KEY（新密钥在前，逗号隔开），或用 duban robot remove 删除后重新添加。\n"
    )

    assert run(["robot", "test", "2"], capsys) == (1, "", wrong.format(ids="2"))
    code, out, err = run(["robot", "list"], capsys)
    assert (code, err) == (1, wrong.format(ids="1、2、3"))
    assert out.splitlines()[0] == f"1\t钉钉 dingtalk-group-name\t（密钥打不开）\t方案 {PLAN}\t启用"
    _, url, _ = webhooks(groups)[1]
    add = ["robot", "add", "--platform", "wecom", "--webhook", url, "--plan", PLAN, "--any-host"]
    assert run(add, capsys) == (1, "", wrong.format(ids="1、2、3"))  # one key opens every robot

    assert stored(cli_env) == before  # not disabled, not changed, nothing added
    assert groups.received == {}


def test_a_key_rotation_seals_every_robot_with_the_new_key(
    cli_env: str,
    groups: GroupRobotStandIn,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_key(monkeypatch, SECRET_KEY)
    assert main(["seed"]) == 0
    add_three(groups, capsys)

    use_key(monkeypatch, f"{OTHER_KEY},{SECRET_KEY}")  # the new key first, the old one still opening
    code, out, _ = run(["robot", "list"], capsys)
    assert code == 0 and out.startswith(
        "已用 DUBAN_SECRET_KEY 的第一个密钥重新加密 3 个群机器人；各实例都换用新密钥后，可从 DUBAN_SECRET_KEY 中去掉旧密钥。\n"
    )
    assert "重新加密" not in run(["robot", "list"], capsys)[1]  # done once

    use_key(monkeypatch, OTHER_KEY)  # the old key dropped
    assert run(["robot", "test", "1"], capsys)[0] == 0
    assert len(groups.received["dingtalk"]) == 1


def _plain_robots_at_0020(url: str, groups: GroupRobotStandIn) -> None:
    """A database as duban left it before 0021: the robots' webhooks and secrets stored as they are."""
    engine = make_engine(url)
    upgrade(engine, "0020")
    with engine.begin() as connection:
        for platform, webhook, secret in webhooks(groups):
            connection.execute(
                text(
                    "INSERT INTO grouprobot (platform, name, webhook_url, secret, region, active, created_at) "
                    "VALUES (:platform, :name, :webhook, :secret, '淄博市淄川区', true, :at)"
                ),
                {
                    "platform": platform.value,
                    "name": f"{platform.value}-group-name",
                    "webhook": webhook,
                    "secret": secret,
                    "at": dt.datetime(2025, 6, 1),
                },
            )
    engine.dispose()


@pytest.mark.parametrize("key_at_upgrade", [True, False], ids=["key-at-upgrade", "key-later"])
def test_robots_stored_plain_before_0021_are_sealed_by_the_first_command_with_the_key(
    cli_env: str,
    groups: GroupRobotStandIn,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    key_at_upgrade: bool,
) -> None:
    _plain_robots_at_0020(cli_env, groups)
    assert DINGTALK_TOKEN.encode() in stored(cli_env)
    use_key(monkeypatch, SECRET_KEY if key_at_upgrade else None)

    code, out, _ = run(["db", "upgrade"], capsys)

    assert code == 0
    if key_at_upgrade:
        assert out.endswith("已用 DUBAN_SECRET_KEY 加密 3 个群机器人的 Webhook 和密钥。\n")
    else:
        assert out.endswith(
            "3 个群机器人的 Webhook 仍以明文保存：设置 DUBAN_SECRET_KEY 后再运行 duban db upgrade"
            "（或 duban robot list、duban run）即加密；在此之前群机器人暂停发送。\n"
        )
        assert DINGTALK_TOKEN.encode() in stored(cli_env)  # kept, not lost, until the key comes
        assert run(["robot", "test", "1"], capsys) == (1, "", NO_KEY + "\n")
        assert run(["robot", "list"], capsys)[1].splitlines()[-1] == (
            "未设置 DUBAN_SECRET_KEY：Webhook 加密保存，不能显示，群机器人暂停发送；3 个仍以明文保存，"
            "设置后运行 duban robot list 即加密。"
        )
        use_key(monkeypatch, SECRET_KEY)
        assert run(["robot", "list"], capsys)[1].startswith("已加密 3 个此前以明文保存的群机器人。\n")

    held = stored(cli_env)
    for credential in CREDENTIALS:
        assert credential.encode() not in held, credential
    for robot_id in (1, 2, 3):  # what was sealed opens, and the robots post as before
        assert run(["robot", "test", str(robot_id)], capsys)[0] == 0
    assert [len(groups.received[p]) for p in ("dingtalk", "wecom", "feishu")] == [1, 1, 1]


# ---------------------------------------------------------------- `duban run`: its start and the weekly posts


@pytest.fixture
async def sender() -> AsyncIterator[GroupRobotSender]:
    sender = GroupRobotSender(http=httpx.AsyncClient(timeout=5, trust_env=False))
    yield sender
    await sender.aclose()


def _sealed_robots(session: Session, groups: GroupRobotStandIn, keyring: Keyring) -> Plan:
    """Two robots of the plan, sealed with the keyring, and a coordinator of the plan (the 通报 is theirs)."""
    plan = session.exec(select(Plan).where(Plan.key == PLAN)).one()
    department = resolve_department(session=session, name="区教体局", region=plan.region)
    issued = create_invite(
        session=session,
        department=department,
        role=ContactRole.coordinator,
        now=MONDAY,
        ttl=dt.timedelta(days=7),
    )
    redeem_invite(
        session=session, token=issued.token, dingtalk_user_id="staff-002", language="zh_CN", now=MONDAY
    )
    for platform, url, secret in webhooks(groups)[:2]:
        session.add(
            GroupRobot(
                platform=platform,
                webhook_sealed=keyring.seal(url),
                secret_sealed=keyring.seal(secret) if secret else None,
                region=plan.region,
                plan_id=plan.id,
            )
        )
    session.commit()
    return plan


def test_run_starts_without_the_key_and_says_once_that_robots_are_paused(
    seeded: Session, groups: GroupRobotStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        robots_at_start(session=seeded, keys=RobotKeys(None))  # no robot: nothing to say
        assert caplog.records == []
        _sealed_robots(seeded, groups, KEYRING)
        robots_at_start(session=seeded, keys=RobotKeys(None))
    assert [r.getMessage() for r in caplog.records] == [
        "2 group robot(s) paused until DUBAN_SECRET_KEY is set: their webhooks are stored sealed; "
        "set the key and restart duban run"
    ]


async def test_weekly_posts_reach_the_robots_with_the_key_and_none_without_it_or_with_a_wrong_one(
    engine: object,
    seeded: Session,
    groups: GroupRobotStandIn,
    sender: GroupRobotSender,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _sealed_robots(seeded, groups, KEYRING)
    settings = Settings()
    Jobs(engine=engine, settings=settings, clock=lambda: MONDAY).plan()  # type: ignore[arg-type]

    async def post(keys: RobotKeys) -> int:
        posts = await post_weekly(
            session=seeded, sender=sender, keys=keys, now=MONDAY, tz=settings.tz, language="zh_CN"
        )
        return posts.posted

    assert await post(RobotKeys(None)) == 0
    wrong = RobotKeys(Keyring([OTHER_KEY]))
    with caplog.at_level(logging.WARNING):
        assert await post(wrong) == 0
        assert await post(wrong) == 0
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "group robot 1 is not posted to",
        "group robot 2 is not posted to",
    ]  # once each, however many ticks
    assert groups.received == {}
    assert all(r.active for r in seeded.exec(select(GroupRobot)))  # left as they are

    assert await post(RobotKeys(KEYRING)) == 2
    assert [p["msgtype"] for p in groups.received["dingtalk"] + groups.received["wecom"]] == [
        "markdown",
        "markdown",
    ]


def test_seal_robots_seals_nothing_when_the_key_opens_not_every_robot(
    seeded: Session, groups: GroupRobotStandIn
) -> None:
    _sealed_robots(seeded, groups, KEYRING)
    seeded.add(
        GroupRobot(platform=RobotPlatform.wecom, plain_webhook_url="https://plain", region="淄博市淄川区")
    )
    seeded.commit()
    other = Keyring([OTHER_KEY])
    assert seal_robots(session=seeded, keyring=other).locked == (1, 2)
    assert (
        seeded.exec(select(GroupRobot.plain_webhook_url).where(GroupRobot.id == 3)).one() == "https://plain"
    )
    sealing = seal_robots(session=seeded, keyring=KEYRING)
    assert (sealing.sealed, sealing.sealed_again, sealing.locked) == (1, 0, ())
    assert seeded.exec(select(GroupRobot.plain_webhook_url).where(GroupRobot.id == 3)).one() is None


def test_sqlite_overwrites_what_is_deleted_whatever_its_builds_default(tmp_path: Path) -> None:
    """Sealing a row stored plain rewrites it, and 0021 rebuilds grouprobot: without secure_delete the old bytes
    stay in free pages (SQLite's own default is off; Debian's build turns it on)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'duban.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    engine.dispose()
