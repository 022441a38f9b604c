"""Issue 27, item 4, as it was found and as it goes now, in the chat (the platform-neutral command core that DingTalk
speaks): a coordinator limited to one plan invites a contact, who reads, reports and is reminded of that plan only.

淄川区 has the seeded plan and a second one. 区科技局 leads 附件-34 in the seeded plan and 科技创新教育 in the second;
区档案馆 has a task in the second plan only. Both 区科技局 tasks have a milestone due in 30 days: reminded today.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.core.commands import Clock, CommandCore, Sender
from duban.config import Settings
from duban.seeding import load_seed
from duban.services.invites import create_invite, resolve_department
from models import (
    AuditEntry,
    Contact,
    ContactRole,
    Department,
    DepartmentRole,
    ListedMilestone,
    Milestone,
    Notification,
    Plan,
    ProgressReport,
    Task,
    TaskDepartment,
)
from scheduler.outbox_planner import plan_outbox
from scheduler.policy import ReminderPolicy
from tests.dingtalk.test_commands import text_of

NOW = dt.datetime(2025, 6, 2, 2, 0, tzinfo=dt.UTC)
SOON = dt.date(2025, 7, 2)  # 30 days after NOW: its reminder goes out today
COUNTY = "淄博市淄川区"
SEEDED, SECOND = "zibo-zichuan-2023", "zichuan-2025"
COORDINATOR = Sender("dingtalk", "staff-002")  # 区教体局, limited to the seeded plan
INVITEE = Sender("dingtalk", "staff-003")  # where the coordinator's invitation is redeemed
COLLEAGUE = Sender("dingtalk", "staff-001")  # 区科技局's contact for every plan, invited by the operator


def _second_plan(session: Session) -> None:
    plan = Plan(
        key=SECOND, title="淄川区第二个方案", issuer="淄川区", issued_on=dt.date(2025, 1, 1), region=COUNTY
    )
    archive = Department(name="区档案馆", region=COUNTY)
    session.add_all([plan, archive])
    session.flush()
    science = resolve_department(session=session, name="区科技局", region=COUNTY)
    for position, (department, title) in enumerate(((science, "科技创新教育"), (archive, "教育档案数字化"))):
        task = Task(
            plan_id=plan.id or 0,
            ref=f"（{position + 1}）",
            section="body",
            title=title,
            text="…",
            position=position,
        )
        session.add(task)
        session.flush()
        session.add(
            TaskDepartment(
                task_id=task.id or 0,
                department_id=department.id or 0,
                role=DepartmentRole.lead,
                printed_as=department.name,
            )
        )
        session.add(Milestone(task_id=task.id or 0, due_on=SOON, target="完成年度目标"))
    seeded_task = session.exec(select(Task).where(Task.ref == "附件-34")).one()
    session.add(Milestone(task_id=seeded_task.id or 0, due_on=SOON, target="阶段目标"))
    session.commit()


@pytest.fixture
def core(engine: Engine) -> Iterator[CommandCore]:
    """The county, with the coordinator limited to the seeded plan and the colleague joined (the operator's codes)."""
    codes = []
    with Session(engine) as session:
        load_seed(session=session)
        _second_plan(session)
        seeded = session.exec(select(Plan).where(Plan.key == SEEDED)).one()
        for sender, department, role, plan in (
            (COORDINATOR, "区教体局", ContactRole.coordinator, seeded),
            (COLLEAGUE, "区科技局", ContactRole.contact, None),
        ):
            issued = create_invite(
                session=session,
                department=resolve_department(session=session, name=department, region=COUNTY),
                role=role,
                now=NOW,
                ttl=dt.timedelta(days=7),
                plan=plan,
            )
            codes.append((sender, issued.token))
    core = CommandCore(session=lambda: Session(engine), clock=Clock(Settings(), lambda: NOW))
    for sender, code in codes:
        assert text_of(core.handle(sender, code)).startswith("欢迎！")
    yield core


def _contact_id(session: Session, sender: Sender) -> int:
    return session.exec(select(Contact.id).where(Contact.dingtalk_user_id == sender.user_id)).one() or 0


def _plan_ids(session: Session) -> dict[str, int]:
    return {key: plan_id or 0 for plan_id, key in session.exec(select(Plan.id, Plan.key)).all()}


def test_a_plan_limited_coordinators_invitee_reads_reports_and_is_reminded_of_that_plan_only(
    core: CommandCore, engine: Engine
) -> None:
    # the finding: 区档案馆 has no task in the coordinator's plan, and its invitation was given all the same
    assert text_of(core.handle(COORDINATOR, "邀请 区档案馆 contact")) == "抱歉，您无权使用此功能。"
    with Session(engine) as session:
        archive = resolve_department(session=session, name="区档案馆", region=COUNTY)
        assert session.exec(select(Contact).where(Contact.department_id == archive.id)).all() == []
        by_coordinator = select(AuditEntry).where(
            AuditEntry.action == "invite", col(AuditEntry.contact_id).is_not(None)
        )
        assert session.exec(by_coordinator).all() == []  # the operator's invitations only

    answer = text_of(core.handle(COORDINATOR, "邀请 区科技局 contact")).splitlines()
    assert answer[0] == "区科技局的邀请码（2025-06-09 前有效，仅可使用一次）："
    assert text_of(core.handle(INVITEE, answer[1])).startswith("欢迎！您现在是区科技局的联络员。")
    with Session(engine) as session:
        plans = _plan_ids(session)
        invitee = session.get(Contact, _contact_id(session, INVITEE))
        assert invitee is not None and invitee.plan_id == plans[SEEDED]  # the invitation carried the plan

    # 任务: the department's task in the seeded plan, not the one in the second; the colleague sees both
    listing = text_of(core.handle(INVITEE, "任务"))
    assert "附件-34" in listing and "科技创新教育" not in listing
    colleague_listing = text_of(core.handle(COLLEAGUE, "任务"))
    assert "附件-34" in colleague_listing and "科技创新教育" in colleague_listing

    # 查找: the second plan's tasks are not there to be found
    assert text_of(core.handle(INVITEE, "查找 科技创新")) == "没有任务提到“科技创新”。"
    assert "科技创新教育" in text_of(core.handle(COLLEAGUE, "查找 科技创新"))

    # 汇报: every number the invitee holds names a milestone of the seeded plan, and reporting on one works
    first = next(line for line in listing.splitlines() if "附件-34" in line).split(".")[0]
    assert text_of(core.handle(INVITEE, f"汇报 {first} 完成60%，已开工")).startswith("已为 附件-34 ")
    with Session(engine) as session:
        listed_plans = session.exec(
            select(Task.plan_id)
            .join(Milestone, col(Milestone.task_id) == Task.id)
            .join(ListedMilestone, col(ListedMilestone.milestone_id) == Milestone.id)
            .where(ListedMilestone.contact_id == invitee.id)
        ).all()
        assert set(listed_plans) == {plans[SEEDED]}
        [report] = session.exec(select(ProgressReport).where(ProgressReport.contact_id == invitee.id)).all()
        assert report.percent == 60

    # reminders: today's 30-day reminders of both 区科技局 milestones; the invitee hears of the seeded plan's only
    with Session(engine) as session:
        plan_outbox(session=session, now=NOW, policy=ReminderPolicy(), tz=ZoneInfo("Asia/Shanghai"))
        reminded = session.exec(
            select(Notification.contact_id, Task.plan_id)
            .join(Milestone, col(Milestone.id) == Notification.milestone_id)
            .join(Task, col(Task.id) == Milestone.task_id)
            .where(Notification.kind == "reminder", Milestone.due_on == SOON)
        ).all()
        colleague = _contact_id(session, COLLEAGUE)
    assert sorted(reminded) == sorted(
        [(colleague, plans[SEEDED]), (colleague, plans[SECOND]), (invitee.id, plans[SEEDED])]
    )
