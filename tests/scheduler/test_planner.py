"""Which reminders fall due in a window: each step before each due date, to the lead or the co departments.

One small plan, built here, with a dated milestone, a closed one, and a yearly, a semester and a monthly duty, so
every expected reminder can be worked out by hand from the policy (180, 90, 30, 7, 1 days to the lead department;
30 days to the co departments).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session, select

from models import (
    Department,
    DepartmentRole,
    Milestone,
    MilestoneStatus,
    Plan,
    Recurrence,
    Task,
    TaskDepartment,
)
from scheduler.planner import plan_reminders
from scheduler.policy import ReminderPolicy

ISSUED = dt.date(2025, 3, 1)
LEAD, CO = ("教体局",), ("财政局",)


@pytest.fixture
def plan(session: Session) -> Plan:
    plan = Plan(key="p", title="甲县方案", issuer="甲县人民政府", issued_on=ISSUED, region="甲县")
    lead, co = Department(name="教体局", region="甲县"), Department(name="财政局", region="甲县")
    session.add_all([plan, lead, co])
    session.flush()
    task = Task(plan_id=plan.id or 0, ref="（一）", section="body", title="任务", text="…", position=0)
    session.add(task)
    session.flush()
    session.add_all(
        [
            TaskDepartment(
                task_id=task.id or 0,
                department_id=lead.id or 0,
                role=DepartmentRole.lead,
                printed_as="教体局",
            ),
            TaskDepartment(
                task_id=task.id or 0, department_id=co.id or 0, role=DepartmentRole.co, printed_as="财政局"
            ),
        ]
    )
    milestones = [
        Milestone(task_id=task.id or 0, due_on=dt.date(2025, 3, 31), target="issued"),
        Milestone(task_id=task.id or 0, due_on=dt.date(2025, 9, 30), target="dated"),
        Milestone(
            task_id=task.id or 0, due_on=dt.date(2025, 9, 26), target="closed", status=MilestoneStatus.done
        ),
        Milestone(
            task_id=task.id or 0, due_on=dt.date(2025, 12, 31), target="yearly", recurrence=Recurrence.yearly
        ),
        Milestone(
            task_id=task.id or 0,
            due_on=dt.date(2026, 1, 20),
            target="semester",
            recurrence=Recurrence.semester,
        ),
        Milestone(
            task_id=task.id or 0,
            due_on=dt.date(2025, 6, 25),
            until=dt.date(2025, 12, 25),
            target="monthly",
            recurrence=Recurrence.monthly,
        ),
    ]
    session.add_all(milestones)
    session.commit()
    return plan


def _planned(
    session: Session, start: str, end: str, policy: ReminderPolicy | None = None
) -> list[tuple[str, str, int, str, tuple[str, ...]]]:
    """(send date, kind, days before, milestone target, departments told), in the planner's order."""
    return [
        (r.send_on.isoformat(), r.kind.value, r.days_before, r.target, r.departments)
        for r in plan_reminders(
            session=session,
            start=dt.date.fromisoformat(start),
            end=dt.date.fromisoformat(end),
            policy=policy or ReminderPolicy(),
        )
    ]


def test_a_week_holds_exactly_the_reminders_due_in_it_both_ends_included(
    session: Session, plan: Plan
) -> None:
    # 09-23 is 7 days before the dated milestone (the window's first day), 09-29 is 1 day before it (the last);
    # 09-24 is 1 day before the monthly duty's 09-25; the closed milestone (due 09-26) is reminded of no more
    assert _planned(session, "2025-09-23", "2025-09-29") == [
        ("2025-09-23", "reminder", 7, "dated", LEAD),
        ("2025-09-24", "reminder", 1, "monthly", LEAD),
        ("2025-09-29", "reminder", 1, "dated", LEAD),
    ]


def test_nothing_is_sent_before_the_plan_was_issued_and_the_day_it_was_is_fine(
    session: Session, plan: Plan
) -> None:
    # the milestone due 03-31: 180 and 90 days before fall in 2024, before the plan existed; 30 days before is
    # the issue date itself, for the lead and the co department
    assert _planned(session, "2024-07-01", "2025-03-31")[:4] == [
        ("2025-03-01", "co_notice", 30, "issued", CO),
        ("2025-03-01", "reminder", 30, "issued", LEAD),
        ("2025-03-24", "reminder", 7, "issued", LEAD),
        ("2025-03-30", "reminder", 1, "issued", LEAD),
    ]


def test_each_duty_gets_only_the_steps_shorter_than_its_period(session: Session, plan: Plan) -> None:
    """A monthly duty only 7 and 1 days ahead, a semester one not 180 days ahead, a yearly one every step."""
    planned = _planned(session, "2025-06-01", "2025-12-31")
    steps = {
        target: sorted({(kind, days) for _send, kind, days, t, _d in planned if t == target}, reverse=True)
        for target in ("yearly", "semester", "monthly")
    }
    assert steps == {
        "yearly": [
            ("reminder", 180),
            ("reminder", 90),
            ("reminder", 30),
            ("reminder", 7),
            ("reminder", 1),
            ("co_notice", 30),
        ],
        "semester": [("reminder", 90), ("reminder", 30), ("co_notice", 30)],  # 01-20: 7 and 1 fall in 2026
        "monthly": [("reminder", 7), ("reminder", 1)],
    }
    yearly = [p for p in planned if p[3] == "yearly"]
    assert yearly == [
        ("2025-07-04", "reminder", 180, "yearly", LEAD),
        ("2025-10-02", "reminder", 90, "yearly", LEAD),
        ("2025-12-01", "co_notice", 30, "yearly", CO),
        ("2025-12-01", "reminder", 30, "yearly", LEAD),
        ("2025-12-24", "reminder", 7, "yearly", LEAD),
        ("2025-12-30", "reminder", 1, "yearly", LEAD),
    ]
    semester = [p for p in planned if p[3] == "semester"]
    assert [p[0] for p in semester] == ["2025-10-22", "2025-12-21", "2025-12-21"]
    monthly = [p[0] for p in planned if p[3] == "monthly"]
    assert monthly == sorted(
        [f"2025-{m:02d}-18" for m in range(6, 13)] + [f"2025-{m:02d}-24" for m in range(6, 13)]
    )


def test_a_plan_of_its_own_steps_is_reminded_on_those_steps(session: Session, plan: Plan) -> None:
    """Per-plan lead days replace the global ones, and a step only that plan uses still finds its milestones."""
    policy = ReminderPolicy(lead_days=(7,), per_plan={"p": (45, 10)})
    assert _planned(session, "2025-08-01", "2025-09-30", policy) == [
        (
            "2025-08-15",
            "reminder",
            10,
            "monthly",
            LEAD,
        ),  # 45 days is longer than a month: not for the monthly duty
        ("2025-08-16", "reminder", 45, "dated", LEAD),
        ("2025-08-31", "co_notice", 30, "dated", CO),
        ("2025-09-15", "reminder", 10, "monthly", LEAD),
        ("2025-09-20", "reminder", 10, "dated", LEAD),
    ]


def test_a_step_as_long_as_the_period_is_not_used_for_that_duty(session: Session, plan: Plan) -> None:
    """28 days before a monthly duty's 25th is the previous 25th: that reminder would be for the wrong month."""
    policy = ReminderPolicy(lead_days=(28, 7), co_notice_days=28)
    monthly = [p for p in _planned(session, "2025-07-01", "2025-07-31", policy) if p[3] == "monthly"]
    assert monthly == [("2025-07-18", "reminder", 7, "monthly", LEAD)]


def test_a_task_with_only_co_departments_still_gets_its_co_notice(session: Session, plan: Plan) -> None:
    task = Task(plan_id=plan.id or 0, ref="（二）", section="body", title="配合任务", text="…", position=1)
    session.add(task)
    session.flush()
    co = session.exec(select(Department).where(Department.name == "财政局")).one()
    session.add(
        TaskDepartment(
            task_id=task.id or 0, department_id=co.id or 0, role=DepartmentRole.co, printed_as="财政局"
        )
    )
    session.add(Milestone(task_id=task.id or 0, due_on=dt.date(2025, 11, 30), target="co only"))
    session.commit()
    # no lead department: none of the lead steps has anyone to tell, and the co notice still goes out
    assert [p for p in _planned(session, "2025-10-31", "2025-10-31") if p[3] == "co only"] == [
        ("2025-10-31", "co_notice", 30, "co only", CO)
    ]


def test_a_closed_recurring_duty_is_reminded_of_no_more(session: Session, plan: Plan) -> None:
    monthly = session.exec(select(Milestone).where(Milestone.target == "monthly")).one()
    monthly.status = MilestoneStatus.done
    session.add(monthly)
    session.commit()
    assert [p for p in _planned(session, "2025-06-01", "2025-12-31") if p[3] == "monthly"] == []


@pytest.mark.parametrize("target", ["dated", "yearly", "monthly"])
def test_a_withdrawn_milestone_is_reminded_of_no_more(session: Session, plan: Plan, target: str) -> None:
    assert [p for p in _planned(session, "2025-03-01", "2026-01-20") if p[3] == target]  # reminded while open
    milestone = session.exec(select(Milestone).where(Milestone.target == target)).one()
    milestone.status = MilestoneStatus.withdrawn
    session.add(milestone)
    session.commit()
    assert [p for p in _planned(session, "2025-03-01", "2026-01-20") if p[3] == target] == []


@pytest.mark.parametrize(
    ("day", "target"), [("2025-12-24", "yearly"), ("2026-01-13", "semester"), ("2025-09-18", "monthly")]
)
def test_a_single_step_finds_each_kind_of_duty_on_its_calendar_day(
    session: Session, plan: Plan, day: str, target: str
) -> None:
    """With one step, the only due date the query may look for is the duty's own calendar day (12-31, 01-20, the
    25th): the candidate query must find the duty from that one date."""
    policy = ReminderPolicy(lead_days=(7,), co_notice_days=7)
    assert _planned(session, day, day, policy) == [
        (day, "co_notice", 7, target, CO),
        (day, "reminder", 7, target, LEAD),
    ]
