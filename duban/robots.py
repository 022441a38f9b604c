"""Group robots of plans and counties: adding, listing, removing, disabling, and who hears of a broken one."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from duban.services import audit
from duban.services.access import coordinators_for_plan
from duban.services.errors import InvalidInput, NotFound
from duban.services.outbox import enqueue
from models import AuditEntry, Contact, ContactRole, Department, GroupRobot, Plan, RobotPlatform
from models.people import reachable

WEBHOOK_PREFIXES = {
    RobotPlatform.dingtalk: "https://oapi.dingtalk.com/robot/send?access_token=",
    RobotPlatform.wecom: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=",
    RobotPlatform.feishu: "https://open.feishu.cn/open-apis/bot/v2/hook/",
}


def add_robot(
    *,
    session: Session,
    platform: RobotPlatform,
    webhook_url: str,
    secret: str | None,
    region: str,
    plan: Plan | None,
    name: str,
    now: dt.datetime,
    allow_any_host: bool = False,
) -> GroupRobot:
    """A new active robot; the webhook must be the platform's (unless allow_any_host, for stand-ins)."""
    if not allow_any_host and not webhook_url.startswith(WEBHOOK_PREFIXES[platform]):
        raise InvalidInput("robot_webhook")
    if platform == RobotPlatform.dingtalk and secret is not None and not secret.startswith("SEC"):
        raise InvalidInput("robot_secret")
    robot = GroupRobot(
        platform=platform,
        webhook_url=webhook_url,
        secret=secret,
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
