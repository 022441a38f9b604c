"""The weekly 通报 and digest into group robots: what `duban run` posts after its plan and digest jobs.

Each plan some active robot receives gets, once per ISO week and per robot, the 通报 the plan job queued for its
coordinators that week (if any milestone was overdue 30 days or more), and on Monday its digest with the chart.
Posts are keyed in the audit log (`robot_post`, "{robot id} tongbao:{plan}:{week}"), so a rerun, a restart or a
second tick posts nothing twice; a crash between a post and its record repeats that one post. A robot the
platform refuses is disabled and its coordinators' notices are queued in the same transaction
(duban.robots.disable_robot).

Webhooks are sealed with DUBAN_SECRET_KEY: without it nothing is posted (the start of `duban run` says so once,
robots_at_start), and a robot the key does not open is left out and left as it is (RobotKeys logs it once).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlmodel import Session, col, select

from bot.core import labels, notices
from bot.core.message import Message, Section
from bot.core.vocabulary import DINGTALK
from bot.i18n import gettext_for
from bot.robots.senders import GroupRobotSender, RobotKeys, post_to_plan_robots
from bot.telegram import views
from duban.robots import already_posted, plans_with_robots, robot_count, robots_for_plan, seal_robots
from duban.services.digest import build_digest
from models import Contact, ContactRole, GroupRobot, Notification, Plan
from scheduler.digest_job import chart_rows

log = logging.getLogger(__name__)


@dataclass
class WeeklyPosts:
    posted: int = 0  # group posts made (robot × message)
    later: int = 0  # throttled or failed for now: tried again on the next tick
    disabled: int = 0


def week_of(now: dt.datetime, tz: dt.tzinfo) -> str:
    year, week, _ = now.astimezone(tz).isocalendar()
    return f"{year}-W{week:02d}"


def _waiting(session: Session, plan: Plan, key: str, keys: RobotKeys) -> list[GroupRobot]:
    """The robots of the plan not yet sent this key that the key opens (no message is built for the others)."""
    return [
        r
        for r in robots_for_plan(session=session, plan=plan)
        if not already_posted(session=session, robot=r, key=key) and keys.open(r) is not None
    ]


def robots_at_start(*, session: Session, keys: RobotKeys) -> None:
    """What `duban run` does and says once about its group robots as it starts: without DUBAN_SECRET_KEY, that they
    are paused; with it, the rows not sealed with its first key are sealed (duban.robots.seal_robots), and each
    active robot it does not open is named."""
    count = robot_count(session=session)
    if not count:
        return
    if keys.keyring is None:
        log.warning(
            "%d group robot(s) paused until DUBAN_SECRET_KEY is set: their webhooks are stored sealed; "
            "set the key and restart duban run",
            count,
        )
        return
    sealing = seal_robots(session=session, keyring=keys.keyring)
    if sealing.sealed or sealing.sealed_again:
        log.info(
            "group robots sealed with DUBAN_SECRET_KEY's first key: %d stored plain, %d sealed with another key",
            sealing.sealed,
            sealing.sealed_again,
        )
    for robot in session.exec(select(GroupRobot).where(GroupRobot.active == True)).all():  # noqa: E712
        keys.open(robot)  # logs each robot the key does not open


def tongbao_message(
    session: Session, plan: Plan, week: str, language: str, today: dt.date, tz: dt.tzinfo
) -> Message | None:
    """The plan's 通报 of this week, as its coordinators got it; None when the plan job queued none."""
    row = session.exec(
        select(Notification)
        .where(
            Notification.kind == "tongbao",
            col(Notification.idempotency_key).startswith(f"tongbao:{plan.key}:{week}:", autoescape=True),
        )
        .order_by(col(Notification.id))
    ).first()
    if row is None:
        return None
    # the 通报 names no command, and a group robot takes none: DingTalk's words stand in for the field
    context = notices.Context(session, gettext_for(language), row, [row], today, None, tz, DINGTALK)
    return notices.tongbao(context)


def digest_message(session: Session, plan: Plan, language: str, now: dt.datetime, today: dt.date) -> Message:
    """The plan's weekly digest as a coordinator of that plan reads it, with its chart."""
    from duban.chart import render_progress_chart  # pulls in matplotlib: only where a chart is drawn

    _ = gettext_for(language)
    # the group reads as a coordinator invited for this plan would: the plan's milestones, nothing else
    reader = Contact(department_id=0, name="", role=ContactRole.coordinator, plan_id=plan.id, active=True)
    entries = [
        notices.plain(e)
        for e in views.digest_entries(_, build_digest(session=session, reader=reader, now=now, today=today))
    ]
    first, *rest = entries
    image = render_progress_chart(
        chart_rows(session=session, reader=reader, today=today), title=labels.chart_caption(_, today)
    )
    return Message(
        title=first, sections=tuple(Section(lines=tuple(e.split("\n"))) for e in rest), image=image
    )


async def post_weekly(
    *,
    session: Session,
    sender: GroupRobotSender,
    keys: RobotKeys,
    now: dt.datetime,
    tz: dt.tzinfo,
    language: str,
    digest: bool = False,
) -> WeeklyPosts:
    """This week's 通报 (and with `digest`, the digest) into every group robot not yet sent it; nothing without
    DUBAN_SECRET_KEY (robots_at_start said so)."""
    week, today = week_of(now, tz), now.astimezone(tz).date()
    total = WeeklyPosts()
    if keys.keyring is None:
        return total
    for plan in plans_with_robots(session=session):
        kinds = [("tongbao", lambda p=plan: tongbao_message(session, p, week, language, today, tz))]
        if digest:
            kinds.append(("digest", lambda p=plan: digest_message(session, p, language, now, today)))
        for kind, build in kinds:
            key = f"{kind}:{plan.key}:{week}"
            if not _waiting(session, plan, key, keys):
                continue
            message = build()
            if message is None:
                continue
            result = await post_to_plan_robots(
                session=session, plan=plan, message=message, sender=sender, keys=keys, now=now, tz=tz, key=key
            )
            total.posted += len(result.sent)
            total.later += len(result.later)
            total.disabled += len(result.disabled)
    if total.posted or total.later or total.disabled:
        log.info("group robots: %s", total)
    return total
