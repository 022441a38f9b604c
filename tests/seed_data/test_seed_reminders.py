"""The seed-data judgements as a department sees them: whose reminders, and until when."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, col, select

from models import DepartmentRole, Plan, Task
from scheduler.planner import PlannedReminder, ReminderKind, plan_reminders
from scheduler.policy import ReminderPolicy

POLICY = ReminderPolicy()


def _reminders(session: Session, plan_key: str, start: dt.date, end: dt.date) -> list[PlannedReminder]:
    every = plan_reminders(session=session, start=start, end=end, policy=POLICY)
    return [r for r in every if r.plan_key == plan_key]


def test_anqiu_attachment_reminders_go_to_the_education_bureau_and_the_party_offices_get_co_notices(
    seeded: Session,
) -> None:
    # 附件-1 and 附件-6 fall due 2027-12-31, 附件-2 on 2025-12-31: the 30-day reminder and co-notice
    sent = _reminders(seeded, "anqiu-2023", dt.date(2025, 12, 1), dt.date(2025, 12, 1))
    sent += _reminders(seeded, "anqiu-2023", dt.date(2027, 12, 1), dt.date(2027, 12, 1))
    who = {
        (r.task_ref, r.kind.value): r.departments
        for r in sent
        if r.task_ref in ("附件-1", "附件-2", "附件-6")
    }
    assert who == {
        ("附件-1", "reminder"): ("市教体局",),
        ("附件-1", "co_notice"): ("市委宣传部", "市妇联", "市民政局"),
        ("附件-2", "reminder"): ("市教体局",),
        ("附件-2", "co_notice"): ("市委宣传部", "市文旅局", "各镇街区"),
        ("附件-6", "reminder"): ("市教体局",),
        ("附件-6", "co_notice"): ("市委编办", "市财政局", "市人社局", "各镇街区"),
    }


def test_no_reminder_of_anqiu_goes_to_a_party_office_as_lead(seeded: Session) -> None:
    sent = _reminders(seeded, "anqiu-2023", dt.date(2023, 12, 7), dt.date(2027, 12, 31))
    leads = {name for r in sent if r.kind == ReminderKind.reminder for name in r.departments}
    assert leads == {"市教体局"}


def test_pengshui_monthly_report_is_reminded_through_december_2023_and_never_after(seeded: Session) -> None:
    sent = _reminders(seeded, "pengshui-2023", dt.date(2023, 1, 1), dt.date(2027, 12, 31))
    reminded = sorted({r.instance_due for r in sent if r.task_ref == "（一）1"})
    assert reminded == [dt.date(2023, month, 25) for month in range(4, 13)]
    assert {r.departments for r in sent} == {("教育科",)}


def test_liaocheng_organisation_item_is_led_by_the_education_branch(seeded: Session) -> None:
    task = seeded.exec(
        select(Task)
        .join(Plan, col(Plan.id) == Task.plan_id)
        .where(Plan.key == "liaocheng-gaoxin-2023", Task.ref == "三、1")
    ).one()
    assert [d.name for d in task.departments(DepartmentRole.lead)] == ["教育和体育分局"]
    assert task.departments(DepartmentRole.co) == []
