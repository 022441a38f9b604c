"""Issue 11 #9: every path that queues a message goes through the one quiet-hours rule. Each kind of message is
produced here the way production produces it, late on the National Day holiday, and none is due at night or on a
holiday."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session, select

from bot.core.notices import RENDERERS
from duban.robots import disable_robot
from duban.services.progress import decide_closeout, record_report
from duban.services.reminders import snooze
from duban.workdays import is_working_day
from models import ContactRole, GroupRobot, Milestone, Notification, Plan, ReportStatus, RobotPlatform, Task
from scheduler.digest_job import plan_digests
from scheduler.escalation import (
    EscalationPolicy,
    plan_escalations,
    plan_rechases,
    plan_tongbao,
    tell_coordinators_blocked,
)
from scheduler.outbox_planner import plan_outbox
from scheduler.policy import ReminderPolicy
from tests.scheduler.conftest import SHANGHAI, local
from tests.zones import DEFAULT_TZ

HOLIDAY_NIGHT = local("2025-10-01", 23, 30)


def test_no_kind_of_message_is_due_at_night_or_on_a_holiday(seeded: Session, join: Any) -> None:
    contact = join("区教体局", 1001)
    coordinator = join("区教体局", 2002, ContactRole.coordinator)
    join("区教体局", 3003, ContactRole.lead)
    helper = join(
        "区委组织部", 1002, region="淄博市淄川区"
    )  # a cooperating department: it gets co-department notices
    for day in ("2025-07-04", "2025-12-01"):  # a 180-day reminder and a co-department notice of 2025-12-31
        plan_outbox(session=seeded, now=local(day, 9), policy=ReminderPolicy(), tz=SHANGHAI)
    for row in seeded.exec(select(Notification)).all():  # sent the Friday before, never acknowledged
        row.sent_at = local("2025-09-26", 9)
        seeded.add(row)
    seeded.commit()
    night = HOLIDAY_NIGHT
    plan_outbox(session=seeded, now=night, policy=ReminderPolicy(), tz=SHANGHAI)
    plan_rechases(session=seeded, now=night, tz=SHANGHAI, policy=EscalationPolicy())
    plan_escalations(session=seeded, now=night, tz=SHANGHAI, policy=EscalationPolicy())
    plan_tongbao(session=seeded, now=night, tz=SHANGHAI, policy=EscalationPolicy())
    plan_digests(session=seeded, now=night, tz=SHANGHAI)
    tell_coordinators_blocked(seeded, contact, night, DEFAULT_TZ)
    plan = seeded.exec(select(Plan).where(Plan.key == "zibo-zichuan-2023")).one()
    robot = GroupRobot(
        platform=RobotPlatform.wecom,
        webhook_sealed="gAAAAA-never-opened-here",
        region=plan.region,
        plan_id=plan.id,
    )
    seeded.add(robot)
    disable_robot(session=seeded, robot=robot, reason="93000 invalid webhook", now=night, tz=SHANGHAI)
    for who, kind in ((contact, "reminder"), (helper, "co_notice")):
        row = seeded.exec(select(Notification).where(Notification.kind == kind)).first()
        assert row is not None
        snooze(session=seeded, contact=who, notification_id=row.id or 0, days=1, now=night, tz=SHANGHAI)
    milestone = seeded.exec(
        select(Milestone).join(Task).join(Plan).where(Plan.key == "zibo-zichuan-2023", Task.ref == "（二）")
    ).one()
    record_report(
        session=seeded,
        contact=contact,
        milestone_id=milestone.id or 0,
        status=ReportStatus.done,
        percent=100,
        note="",
        now=night,
        tz=DEFAULT_TZ,
    )
    decide_closeout(
        session=seeded,
        coordinator=coordinator,
        closeout_id=1,
        approve=True,
        reason="",
        now=night,
        tz=DEFAULT_TZ,
    )
    seeded.commit()

    queued_at_night = [
        row for row in seeded.exec(select(Notification)).all() if row.sent_at is None and row.attempts == 0
    ]
    assert {row.kind for row in queued_at_night} == set(RENDERERS)  # every kind there is, produced here
    for row in queued_at_night:
        due = row.due_at.astimezone(SHANGHAI)
        assert is_working_day(due.date()) and dt.time(8) <= due.time() < dt.time(22), (row.kind, due)
        assert due.date() == dt.date(2025, 10, 9)  # the first working day after the National Day holiday
