"""Group robots of plans and counties: adding, listing, removing, disabling, and who hears of a broken one.

A robot's webhook and secret are stored sealed with DUBAN_SECRET_KEY (duban/sealing.py). `robot_credentials` opens
them into a RobotCredentials value for one send, and `seal_robots` is the one place that writes sealed values of
existing rows: it seals the rows stored plain before migration 0021 and seals again with the first key what an
older key of DUBAN_SECRET_KEY sealed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, func, select

from duban.sealing import Keyring, WrongKey
from duban.services import audit
from duban.services.access import coordinators_for_plan
from duban.services.errors import InvalidInput, NotFound
from duban.services.outbox import enqueue
from models import AuditEntry, Contact, ContactRole, Department, GroupRobot, Plan, RobotPlatform, limits
from models.people import reachable

WEBHOOK_PREFIXES = {
    RobotPlatform.dingtalk: "https://oapi.dingtalk.com/robot/send?access_token=",
    RobotPlatform.wecom: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=",
    RobotPlatform.feishu: "https://open.feishu.cn/open-apis/bot/v2/hook/",
}


@dataclass(frozen=True)
class RobotCredentials:
    """A robot's webhook and signing secret, opened for one send: a plain value handed to the sender, never an ORM
    object, so nothing flushes it back into the database (and its repr shows neither)."""

    robot_id: int
    platform: RobotPlatform
    webhook_url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)


def add_robot(
    *,
    session: Session,
    keyring: Keyring,
    platform: RobotPlatform,
    webhook_url: str,
    secret: str | None,
    region: str,
    plan: Plan | None,
    name: str,
    now: dt.datetime,
    allow_any_host: bool = False,
) -> GroupRobot:
    """A new active robot, its webhook and secret sealed with the keyring's first key; the webhook must be the
    platform's (unless allow_any_host, for stand-ins)."""
    if not allow_any_host and not webhook_url.startswith(WEBHOOK_PREFIXES[platform]):
        raise InvalidInput("robot_webhook")
    if platform == RobotPlatform.dingtalk and secret is not None and not secret.startswith("SEC"):
        raise InvalidInput("robot_secret")
    if len(webhook_url.encode()) > limits.ROBOT_WEBHOOK or len((secret or "").encode()) > limits.ROBOT_SECRET:
        raise InvalidInput("robot_too_long")  # sealed, the longest fits its column
    robot = GroupRobot(
        platform=platform,
        webhook_sealed=keyring.seal(webhook_url),
        secret_sealed=keyring.seal(secret) if secret is not None else None,
        region=plan.region if plan else region,
        plan_id=plan.id if plan else None,
        name=name,
        created_at=now,
    )
    session.add(robot)
    session.flush()
    audit.record(session, now=now, contact_id=None, action="robot_add", detail=f"{platform.value} {robot.id}")
    session.commit()
    return robot


def list_robots(*, session: Session) -> list[GroupRobot]:
    return list(session.exec(select(GroupRobot).order_by(col(GroupRobot.id))).all())


def get_robot(*, session: Session, robot_id: int) -> GroupRobot:
    robot = session.get(GroupRobot, robot_id)
    if robot is None:
        raise NotFound(str(robot_id))
    return robot


def robot_credentials(*, robot: GroupRobot, keyring: Keyring) -> RobotCredentials:
    """The robot's webhook and secret, opened; WrongKey when no key of the keyring opens them. A row stored plain
    before 0021 and not sealed yet (seal_robots) is read as it is."""
    assert robot.id is not None
    if robot.webhook_sealed is None:
        assert robot.plain_webhook_url is not None
        return RobotCredentials(robot.id, robot.platform, robot.plain_webhook_url, robot.plain_secret)
    secret = keyring.open(robot.secret_sealed) if robot.secret_sealed is not None else None
    return RobotCredentials(robot.id, robot.platform, keyring.open(robot.webhook_sealed), secret)


def mask_webhook(url: str) -> str:
    """The host and the last 4 characters: enough to tell robots apart, too little to post with."""
    return f"{urlsplit(url).netloc}/…{url[-4:]}"


def masked_webhook(*, robot: GroupRobot, keyring: Keyring | None) -> str | None:
    """The robot's webhook masked (only the webhook is opened, never the secret); None without the key when it is
    sealed; WrongKey when the key does not open it."""
    if robot.webhook_sealed is None:
        assert robot.plain_webhook_url is not None
        return mask_webhook(robot.plain_webhook_url)
    return None if keyring is None else mask_webhook(keyring.open(robot.webhook_sealed))


@dataclass(frozen=True)
class Sealing:
    """What seal_robots did: rows sealed that were plain, rows sealed again with the first key, and the robots no
    key opens (then nothing was written)."""

    sealed: int = 0
    sealed_again: int = 0
    locked: tuple[int, ...] = ()


def seal_robots(*, session: Session, keyring: Keyring) -> Sealing:
    """Every robot sealed with the keyring's first key, committed: rows stored plain before 0021 are sealed and
    their plain columns emptied, and rows another key of the keyring sealed are sealed again (a key rotation).

    All or nothing: when some robot's values open with no key of the keyring (sealed with a key DUBAN_SECRET_KEY
    no longer holds, or the wrong key was set), nothing is written and those robots are returned, so one wrong key
    never seals more rows. Each update names the value it replaces: two processes sealing at once write it once.
    """
    robots = list(session.exec(select(GroupRobot).order_by(col(GroupRobot.id))).all())
    changes: list[tuple[GroupRobot, dict[str, str | None]]] = []
    locked = []
    for robot in robots:
        if robot.webhook_sealed is None:
            assert robot.plain_webhook_url is not None
            changes.append(
                (
                    robot,
                    {
                        "webhook_sealed": keyring.seal(robot.plain_webhook_url),
                        "secret_sealed": keyring.seal(robot.plain_secret) if robot.plain_secret else None,
                        "plain_webhook_url": None,
                        "plain_secret": None,
                    },
                )
            )
            continue
        sealed = [v for v in (robot.webhook_sealed, robot.secret_sealed) if v is not None]
        if all(keyring.sealed_with_first(value) for value in sealed):
            continue
        try:
            again = [keyring.seal_again(value) for value in sealed]
        except WrongKey:
            locked.append(robot.id or 0)
            continue
        changes.append(
            (robot, {"webhook_sealed": again[0], "secret_sealed": again[1] if len(again) > 1 else None})
        )
    if locked:
        return Sealing(locked=tuple(locked))
    counts = {"plain": 0, "again": 0}
    for robot, values in changes:
        # the row as it was read: another process that sealed it first leaves nothing to do here
        unchanged = (
            col(GroupRobot.plain_webhook_url) == robot.plain_webhook_url
            if robot.webhook_sealed is None
            else col(GroupRobot.webhook_sealed) == robot.webhook_sealed
        )
        result = session.connection().execute(
            update(GroupRobot).where(col(GroupRobot.id) == robot.id, unchanged).values(**values)
        )
        counts["plain" if robot.webhook_sealed is None else "again"] += result.rowcount
    session.commit()
    return Sealing(sealed=counts["plain"], sealed_again=counts["again"])


def robot_count(*, session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(GroupRobot)).one())


def remove_robot(*, session: Session, robot_id: int, now: dt.datetime) -> None:
    robot = get_robot(session=session, robot_id=robot_id)
    session.delete(robot)
    audit.record(session, now=now, contact_id=None, action="robot_remove", detail=str(robot_id))
    session.commit()


def robots_for_plan(*, session: Session, plan: Plan) -> list[GroupRobot]:
    """The active robots that receive a plan's 通报 and digest: the plan's own, and its county's."""
    statement = select(GroupRobot).where(
        GroupRobot.active == True,  # noqa: E712
        or_(
            col(GroupRobot.plan_id) == plan.id,
            and_(col(GroupRobot.plan_id).is_(None), col(GroupRobot.region) == plan.region),
        ),
    )
    return list(session.exec(statement.order_by(col(GroupRobot.id))).all())


def disable_robot(
    *, session: Session, robot: GroupRobot, reason: str, now: dt.datetime, tz: dt.tzinfo
) -> list[Contact]:
    """Stop using a robot the platform refuses, and queue the notice to each coordinator who must be told (kind
    robot_disabled, sent on their channel), in the caller's transaction; returns those coordinators."""
    robot.active = False
    robot.disabled_reason = reason[:200]
    session.add(robot)
    audit.record(
        session, now=now, contact_id=None, action="robot_disabled", detail=f"{robot.id}: {reason}"[:500]
    )
    coordinators = coordinators_to_tell(session=session, robot=robot)
    for coordinator in coordinators:
        enqueue(
            session=session,
            key=f"robot:{robot.id}:disabled:c{coordinator.id}",  # a robot id is disabled once
            kind="robot_disabled",
            contact=coordinator,
            payload={"robot_id": robot.id},
            due_at=now,
            tz=tz,
        )
    return coordinators


def coordinators_to_tell(*, session: Session, robot: GroupRobot) -> list[Contact]:
    """The coordinators of the robot's plan, or (a county robot) every reachable coordinator of the county."""
    if robot.plan_id is not None:
        plan = session.get(Plan, robot.plan_id)
        assert plan is not None
        return coordinators_for_plan(session=session, plan=plan)
    statement = (
        select(Contact)
        .join(Department, col(Contact.department_id) == Department.id)
        .where(Contact.role == ContactRole.coordinator, reachable(), Department.region == robot.region)
    )
    return list(session.exec(statement).all())


POSTED = "robot_post"  # the audit action that keys a group post: "{robot id} {key}"


def already_posted(*, session: Session, robot: GroupRobot, key: str) -> bool:
    """Whether this robot's group was already sent the message with this key (e.g. a week's 通报 of a plan)."""
    return (
        session.exec(
            select(AuditEntry.id).where(AuditEntry.action == POSTED, AuditEntry.detail == f"{robot.id} {key}")
        ).first()
        is not None
    )


def record_posted(*, session: Session, robot: GroupRobot, key: str, now: dt.datetime) -> None:
    audit.record(session, now=now, contact_id=None, action=POSTED, detail=f"{robot.id} {key}")


def plans_with_robots(*, session: Session) -> list[Plan]:
    """The plans some active robot receives: its own plan, or every plan of its county."""
    robots = session.exec(select(GroupRobot).where(GroupRobot.active == True)).all()  # noqa: E712
    plan_ids = {r.plan_id for r in robots if r.plan_id is not None}
    regions = {r.region for r in robots if r.plan_id is None}
    if not plan_ids and not regions:
        return []
    statement = select(Plan).where(or_(col(Plan.id).in_(plan_ids), col(Plan.region).in_(regions)))
    return list(session.exec(statement.order_by(col(Plan.key))).all())
