"""What a status table says: every milestone in one of four states, counted by plan and by year."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, select

from duban.recurrence import current_instance
from models import (
    Department,
    DepartmentAlias,
    Milestone,
    MilestoneStatus,
    Plan,
    ProgressReport,
    Recurrence,
    ReportStatus,
    Task,
    TaskDepartment,
)
from models.query import rel


class Pace(StrEnum):
    """Red/amber/green against the time elapsed; grey when nobody has reported."""

    done = "done"
    green = "green"
    amber = "amber"  # more than PACE_TOLERANCE points behind the time elapsed, or reported at risk
    red = "red"  # overdue or blocked
    grey = "grey"  # nobody has reported


PACE_TOLERANCE = 25


class MilestoneState(StrEnum):
    done = "done"  # 已销号 (or, for a recurring duty, reported done this period)
    reported = "reported"  # 已汇报: not yet due, a report came in
    silent = "silent"  # 未汇报: not yet due, nobody has reported
    overdue = "overdue"  # 已逾期: due date passed and not done


@dataclass(frozen=True)
class MilestoneView:
    milestone_id: int
    plan_key: str
    plan_title: str
    task_ref: str
    task_title: str
    due_on: dt.date  # the instance in force: for a recurring milestone, the current period's
    recurrence: str
    state: MilestoneState
    latest_percent: int | None
    pace: Pace
    latest_report_id: int | None = None  # the report latest_percent comes from, for views that show it whole


@dataclass
class Counts:
    total: int = 0
    by_state: dict[MilestoneState, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, state: MilestoneState) -> None:
        self.total += 1
        self.by_state[state] += 1

    def __getitem__(self, state: MilestoneState) -> int:
        return self.by_state.get(state, 0)


@dataclass
class StatusReport:
    today: dt.date
    department: str | None
    by_plan: dict[str, Counts]  # plan title -> counts
    by_year: dict[str, Counts]  # "2025" or "每年" etc. -> counts
    overall: Counts
    milestones: list[MilestoneView]


class UnknownDepartment(LookupError):
    pass


def find_departments(*, session: Session, name: str) -> list[Department]:
    """Departments printed under this name or one of its aliases, in any region."""
    direct = session.exec(select(Department).where(Department.name == name)).all()
    via_alias = session.exec(
        select(Department).join(DepartmentAlias).where(DepartmentAlias.name == name)
    ).all()
    found = {d.id: d for d in [*direct, *via_alias]}
    return sorted(found.values(), key=lambda d: (d.region, d.name))


def milestone_views(
    *,
    session: Session,
    today: dt.date,
    department_ids: list[int] | None = None,
    plan_ids: list[int] | None = None,
) -> list[MilestoneView]:
    statement = (
        select(Milestone, Task, Plan)
        .join(Task, col(Milestone.task_id) == Task.id)
        .join(Plan, col(Task.plan_id) == Plan.id)
        .order_by(col(Plan.key), col(Task.position), col(Milestone.due_on))
        .options(selectinload(rel(Milestone.task)))
    )
    if department_ids is not None:
        statement = statement.where(
            col(Task.id).in_(
                select(TaskDepartment.task_id).where(col(TaskDepartment.department_id).in_(department_ids))
            )
        )
    if plan_ids is not None:
        statement = statement.where(col(Plan.id).in_(plan_ids))
    rows = session.exec(statement).all()
    reports = _reports_by_milestone(
        session=session, milestone_ids=[m.id for m, _, _ in rows if m.id], through=today
    )
    return [
        _view(milestone, task, plan, reports.get(milestone.id or 0, []), today)
        for milestone, task, plan in rows
    ]


def _reports_by_milestone(
    *, session: Session, milestone_ids: list[int], through: dt.date
) -> dict[int, list[ProgressReport]]:
    """Reports made up to the end of `through` (UTC day), so a view of last week ignores this week's reports."""
    cutoff = dt.datetime.combine(through + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    grouped: dict[int, list[ProgressReport]] = defaultdict(list)
    chunk = 500  # keep IN lists within every backend's parameter limit
    for start in range(0, len(milestone_ids), chunk):
        ids = milestone_ids[start : start + chunk]
        for report in session.exec(
            select(ProgressReport)
            .where(col(ProgressReport.milestone_id).in_(ids), col(ProgressReport.reported_at) < cutoff)
            .order_by(col(ProgressReport.reported_at))
        ).all():
            grouped[report.milestone_id].append(report)
    return grouped


def _view(
    milestone: Milestone, task: Task, plan: Plan, reports: list[ProgressReport], today: dt.date
) -> MilestoneView:
    state, due = _state(milestone, plan, reports, today)
    latest = reports[-1].percent if reports else None
    start = plan.issued_on
    if milestone.recurrence != Recurrence.none:
        previous, _ = current_instance(milestone, today=today)
        start = previous or plan.issued_on
    return MilestoneView(
        milestone_id=milestone.id or 0,
        plan_key=plan.key,
        plan_title=plan.title,
        task_ref=task.ref,
        task_title=task.title,
        due_on=due,
        recurrence=milestone.recurrence,
        state=state,
        latest_percent=latest,
        pace=pace_of(state, reports[-1] if reports else None, start=start, due=due, today=today),
        latest_report_id=reports[-1].id if reports else None,
    )


def pace_of(
    state: MilestoneState, latest: ProgressReport | None, *, start: dt.date, due: dt.date, today: dt.date
) -> Pace:
    if state == MilestoneState.done:
        return Pace.done
    if state == MilestoneState.overdue or (latest is not None and latest.status == ReportStatus.blocked):
        return Pace.red
    if latest is None:
        return Pace.grey
    elapsed = min(1.0, max(0.0, (today - start).days / max(1, (due - start).days)))
    behind = latest.percent is not None and latest.percent < elapsed * 100 - PACE_TOLERANCE
    return Pace.amber if behind or latest.status == ReportStatus.at_risk else Pace.green


def _reported_between(
    reports: list[ProgressReport], start: dt.date | None, end: dt.date, *, done_only: bool = False
) -> bool:
    for report in reports:
        day = report.reported_at.date()
        if (
            (start is None or day > start)
            and day <= end
            and (not done_only or report.status == ReportStatus.done)
        ):
            return True
    return False


def _state(
    milestone: Milestone, plan: Plan, reports: list[ProgressReport], today: dt.date
) -> tuple[MilestoneState, dt.date]:
    if milestone.recurrence == Recurrence.none:
        closed = milestone.done_at is None or milestone.done_at.date() <= today
        if milestone.status == MilestoneStatus.done and closed:
            return MilestoneState.done, milestone.due_on
        if milestone.due_on < today:
            return MilestoneState.overdue, milestone.due_on
        return (MilestoneState.reported if reports else MilestoneState.silent), milestone.due_on

    # A recurring duty is judged per period: this period's reports, and whether the last period was answered.
    previous, due = current_instance(milestone, today=today)
    period_start = previous if previous is not None else plan.issued_on - dt.timedelta(days=1)
    if _reported_between(reports, period_start, due, done_only=True):
        return MilestoneState.done, due
    if due < today:  # a bounded duty whose last period has passed unanswered
        return MilestoneState.overdue, due
    if previous is not None:
        before_previous = _window_start(milestone, previous, plan)
        if not _reported_between(reports, before_previous, previous):
            return MilestoneState.overdue, previous
    return (
        MilestoneState.reported if _reported_between(reports, period_start, due) else MilestoneState.silent
    ), due


def _window_start(milestone: Milestone, due: dt.date, plan: Plan) -> dt.date:
    """The day before the period that ends on `due` begins: the instance before it, or the plan's issue."""
    before, _ = current_instance(milestone, today=due)
    return before if before is not None else plan.issued_on - dt.timedelta(days=1)


def status_report(
    *,
    session: Session,
    today: dt.date,
    department: str | None = None,
    plan_ids: list[int] | None = None,
    region: str | None = None,
) -> StatusReport:
    department_ids: list[int] | None = None
    if department is not None:
        found = [d for d in find_departments(session=session, name=department) if region in (None, d.region)]
        if not found:
            raise UnknownDepartment(department)
        department_ids = [d.id for d in found if d.id is not None]
    views = milestone_views(session=session, today=today, department_ids=department_ids, plan_ids=plan_ids)
    by_plan: dict[str, Counts] = defaultdict(Counts)
    by_year: dict[str, Counts] = defaultdict(Counts)
    overall = Counts()
    for view in views:
        by_plan[view.plan_title].add(view.state)
        year_key = str(view.due_on.year)
        by_year[year_key].add(view.state)
        overall.add(view.state)
    return StatusReport(
        today=today,
        department=department,
        by_plan=dict(by_plan),
        by_year=dict(sorted(by_year.items())),
        overall=overall,
        milestones=views,
    )
