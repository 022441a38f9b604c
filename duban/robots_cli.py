"""`duban robot add|list|remove|test`: the group robots that receive a plan's or a county's 通报 and digest.

Webhooks and secrets are stored sealed with DUBAN_SECRET_KEY (duban/sealing.py). `add` and `test` need the key and
refuse without it before opening the database; `list` shows each webhook masked with it, and says it is missing
without; `remove` opens nothing and works without it (how robots sealed with a lost key are cleared away). With the
key, add, list and test first seal what is not sealed with its first key (duban.robots.seal_robots).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlmodel import Session, select

from duban.config import Settings
from duban.db import make_engine
from duban.migrate import ensure_schema
from duban.plans_cli import no_such_plan
from duban.sealing import KEY_COMMAND, Keyring, WrongKey
from duban.services.errors import InvalidInput, NotFound
from models import GroupRobot, Plan, RobotPlatform, limits

PLATFORM_NAMES = {
    RobotPlatform.dingtalk: "钉钉",
    RobotPlatform.wecom: "企业微信",
    RobotPlatform.feishu: "飞书",
}


def register(subparsers: Any) -> None:
    robot = subparsers.add_parser("robot", help="group robots (DingTalk, WeCom, Feishu) for 通报 and digests")
    actions = robot.add_subparsers(dest="robot_action", required=True)

    add = actions.add_parser("add", help="add a group robot to a plan or a county")
    add.add_argument(
        "--platform",
        required=True,
        choices=[p.value for p in RobotPlatform],
        help="dingtalk: 钉钉群机器人; wecom: 企业微信群机器人; feishu: 飞书群机器人",
    )
    add.add_argument("--webhook", required=True, help="the webhook URL the platform gave you")
    add.add_argument("--secret", help="signing secret (DingTalk 加签 SEC..., Feishu 签名校验)")
    scope = add.add_mutually_exclusive_group(required=True)
    scope.add_argument("--plan", help="plan key: the robot gets this plan's messages")
    scope.add_argument("--region", help="county (as in the plans): the robot gets every plan of the county")
    add.add_argument("--name", default="", help="the group's name, for the list")
    add.add_argument("--any-host", action="store_true", help=argparse.SUPPRESS)  # stand-ins in tests
    add.set_defaults(func=cmd_add)

    actions.add_parser("list", help="list the robots and whether they are active").set_defaults(func=cmd_list)

    remove = actions.add_parser("remove", help="remove a robot")
    remove.add_argument("id", type=int, help="the robot's number, from `duban robot list`")
    remove.set_defaults(func=cmd_remove)

    test = actions.add_parser("test", help="send a test message to a robot's group")
    test.add_argument("id", type=int, help="the robot's number, from `duban robot list`")
    test.set_defaults(func=cmd_test)


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    """The engine is disposed at the end, so a SQLite file is whole (its WAL checkpointed) when the command returns."""
    engine = make_engine(settings.database_url)
    try:
        ensure_schema(engine)
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


NO_KEY = f"未设置 DUBAN_SECRET_KEY，群机器人的 Webhook 和密钥须加密保存。请用 {KEY_COMMAND} 生成密钥，填入 DUBAN_SECRET_KEY"


def _wrong_key(robot_ids: Sequence[int]) -> str:
    numbers = "、".join(str(i) for i in robot_ids)
    return (
        f"DUBAN_SECRET_KEY 打不开机器人 {numbers} 的 Webhook：它们是用另一个密钥加密的。"
        "请把当初的密钥加进 DUBAN_SECRET_KEY（新密钥在前，逗号隔开），或用 duban robot remove 删除后重新添加。"
    )


def _seal(session: Session, keyring: Keyring) -> tuple[int, ...]:
    """Seal with the first key what is not sealed with it yet, and say so; the robots no key opens (nothing sealed)."""
    from duban.robots import seal_robots

    sealing = seal_robots(session=session, keyring=keyring)
    if sealing.sealed:
        print(f"已加密 {sealing.sealed} 个此前以明文保存的群机器人。")
    if sealing.sealed_again:
        print(
            f"已用 DUBAN_SECRET_KEY 的第一个密钥重新加密 {sealing.sealed_again} 个群机器人；"
            "各实例都换用新密钥后，可从 DUBAN_SECRET_KEY 中去掉旧密钥。"
        )
    return sealing.locked


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    from duban.robots import add_robot

    keyring = settings.keyring()
    if keyring is None:  # before the database is opened: nothing is written
        print(NO_KEY, file=sys.stderr)
        return 1
    with _session(settings) as session:
        locked = _seal(session, keyring)
        if locked:  # one keyring opens every robot: a wrong key adds none
            print(_wrong_key(locked), file=sys.stderr)
            return 1
        plan = None
        if args.plan:
            plan = session.exec(select(Plan).where(Plan.key == args.plan)).first()
            if plan is None:
                raise no_such_plan(args.plan)
        elif session.exec(select(Plan.id).where(Plan.region == args.region)).first() is None:
            print(f"没有找到县区“{args.region}”的方案。", file=sys.stderr)
            return 1
        try:
            robot = add_robot(
                session=session,
                keyring=keyring,
                platform=RobotPlatform(args.platform),
                webhook_url=args.webhook,
                secret=args.secret,
                region=args.region or "",
                plan=plan,
                name=args.name,
                now=dt.datetime.now(dt.UTC),
                allow_any_host=args.any_host,
            )
        except InvalidInput as error:
            platform = RobotPlatform(args.platform)
            if error.reason == "robot_secret":
                print("钉钉机器人的加签密钥应以 SEC 开头。", file=sys.stderr)
            elif error.reason == "robot_too_long":
                print(
                    f"Webhook 地址最长 {limits.ROBOT_WEBHOOK} 字节，密钥最长 {limits.ROBOT_SECRET} 字节。",
                    file=sys.stderr,
                )
            else:
                print(f"这不是{PLATFORM_NAMES[platform]}机器人的 Webhook 地址。", file=sys.stderr)
            return 1
        print(f"已添加机器人 {robot.id}（{PLATFORM_NAMES[robot.platform]}，{_scope(session, robot)}）。")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from duban.robots import list_robots, masked_webhook

    keyring = settings.keyring()
    with _session(settings) as session:
        if keyring is not None:
            _seal(session, keyring)
        robots = list_robots(session=session)
        if not robots:
            print("还没有群机器人。用 duban robot add 添加。")
        locked, plain = [], 0
        for robot in robots:
            try:
                webhook = masked_webhook(robot=robot, keyring=keyring)
            except WrongKey:
                webhook = "（密钥打不开）"
                locked.append(robot.id or 0)
            if robot.webhook_sealed is None:
                plain += 1
                webhook = f"{webhook}（未加密）"
            state = "启用" if robot.active else f"已停用：{robot.disabled_reason or ''}"
            name = f" {robot.name}" if robot.name else ""
            print(
                f"{robot.id}\t{PLATFORM_NAMES[robot.platform]}{name}\t{webhook or '（已加密）'}"
                f"\t{_scope(session, robot)}\t{state}"
            )
        if keyring is None and robots:
            waiting = f"；{plain} 个仍以明文保存，设置后运行 duban robot list 即加密" if plain else ""
            print(f"未设置 DUBAN_SECRET_KEY：Webhook 加密保存，不能显示，群机器人暂停发送{waiting}。")
        if locked:
            print(_wrong_key(locked), file=sys.stderr)
            return 1
    return 0


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    from duban.robots import remove_robot

    with _session(settings) as session:
        try:
            remove_robot(session=session, robot_id=args.id, now=dt.datetime.now(dt.UTC))
        except NotFound:
            print(f"没有编号为 {args.id} 的机器人。", file=sys.stderr)
            return 1
    print(f"已删除机器人 {args.id}。")
    return 0


def cmd_test(args: argparse.Namespace, settings: Settings) -> int:
    from bot.core.message import Message, Section
    from bot.robots.senders import GroupRobotSender, RobotDisabled
    from duban.robots import disable_robot, get_robot, robot_credentials
    from scheduler.delivery import DeliveryError

    keyring = settings.keyring()
    if keyring is None:
        print(NO_KEY, file=sys.stderr)
        return 1
    with _session(settings) as session:
        try:
            robot = get_robot(session=session, robot_id=args.id)
        except NotFound:
            print(f"没有编号为 {args.id} 的机器人。", file=sys.stderr)
            return 1
        if args.id in _seal(session, keyring):
            print(_wrong_key([args.id]), file=sys.stderr)  # the robot stays as it is
            return 1
        if not robot.active:
            print(
                f"机器人 {args.id} 已停用（{robot.disabled_reason or ''}）。请检查 Webhook 地址和密钥后重新添加。",
                file=sys.stderr,
            )
            return 1
        credentials = robot_credentials(robot=robot, keyring=keyring)
        message = Message(
            title="督办机器人测试消息",
            sections=(Section(lines=(f"本群将收到{_scope(session, robot)}的周通报和进度摘要。",)),),
        )

        async def send() -> None:
            sender = GroupRobotSender()
            try:
                await sender.send(credentials, message)
            finally:
                await sender.aclose()

        try:
            asyncio.run(send())
        except RobotDisabled as error:
            disable_robot(
                session=session, robot=robot, reason=str(error), now=dt.datetime.now(dt.UTC), tz=settings.tz
            )
            session.commit()
            print(
                f"平台拒绝了该机器人（{error}），已停用。请检查 Webhook 地址和密钥后重新添加。",
                file=sys.stderr,
            )
            return 1
        except DeliveryError as error:
            print(f"测试消息未发出：{error}", file=sys.stderr)
            return 1
    print(f"测试消息已发送到机器人 {args.id} 所在的群。")
    return 0


def _scope(session: Session, robot: GroupRobot) -> str:
    if robot.plan_id is not None:
        plan = session.get(Plan, robot.plan_id)
        return f"方案 {plan.key if plan else robot.plan_id}"
    return f"{robot.region}全部方案"
