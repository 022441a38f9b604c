"""What a status table says: every milestone in one of four states, counted by plan and by year.

A one-off milestone (nearly all of them) is judged in SQL: its state and pace come out of the query that selects it,
and counts come out of a GROUP BY, so a county with thousands of milestones never becomes thousands of ORM objects.
A recurring duty is judged by its current period (README "Status"), which takes a walk over its instances; those
few are judged in Python, from their columns and their reports' dates, by the same rules as before.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, lru_cache
from itertools import groupby
from operator import itemgetter
from typing import Any, NamedTuple, Protocol, TypeVar

from sqlalchemy import Date, Float, Integer, Select, and_, bindparam, case, cast, extract, or_, text
from sqlalchemy import select as select_columns  # sqlmodel's select is typed for at most four columns
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.functions import FunctionElement, func
from sqlmodel import Session, col, select

from duban.chunks import in_parts
from duban.recurrence import Recurring, current_instance
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
from models.people import newest_first
from models.types import CURRENT_STATUSES, RECURRING, RECURRING_ONLY, UTCDateTime


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

    def add(self, state: MilestoneState, n: int = 1) -> None:
        self.total += n
        self.by_state[state] += n

    def __getitem__(self, state: MilestoneState) -> int:
        return self.by_state.get(state, 0)


@dataclass
class StatusReport:
    today: dt.date
    department: str | None
    by_plan: dict[str, Counts]  # plan title -> counts
    by_year: dict[str, Counts]  # "2025" or "每年" etc. -> counts
    overall: Counts
    milestones: list[MilestoneView]  # empty when asked for counts only
    paces: dict[Pace, int] = field(default_factory=dict)  # how many milestones of each colour


@dataclass(frozen=True)
class Tally:
    """How many milestones of one plan, due in one year, are in one state and of one pace."""

    plan_key: str
    plan_title: str
    year: str
    state: MilestoneState
    pace: Pace
    count: int


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


class ReportLike(Protocol):
    """What pace needs of a report: a ProgressReport, or the two columns of one."""

    @property
    def status(self) -> str: ...

    @property
    def percent(self) -> int | None: ...


class _Recurring(NamedTuple):
    recurrence: str
    due_on: dt.date
    until: dt.date | None


@lru_cache(maxsize=4096)
def _instance(milestone: _Recurring, today: dt.date) -> tuple[dt.date | None, dt.date]:
    """current_instance, remembered: a county's duties share a few (recurrence, first date, until) triples, and
    the walk over a decade of monthly instances would otherwise be repeated for each of thousands of rows."""
    return current_instance(milestone, today=today)


class _Report(NamedTuple):
    id: int
    reported_at: dt.datetime
    status: str
    percent: int | None


def milestone_views(
    *,
    session: Session,
    today: dt.date,
    department_ids: list[int] | None = None,
    plan_ids: list[int] | None = None,
    states: Collection[MilestoneState] | None = None,
    due_from: dt.date | None = None,
    due_through: dt.date | None = None,
) -> list[MilestoneView]:
    """Each milestone in scope as of `today`, in plan, task and date order; columns only, no ORM objects.

    `states`, `due_from` and `due_through` (on the instance in force) keep only what a caller needs, and for
    one-off milestones the database does the filtering.
    """
    scope = _Scope(today, plan_ids, department_ids)
    one_off = scope.one_off_views(session, states=states, due_from=due_from, due_through=due_through)
    recurring = [
        (key, view)
        for key, view in scope.recurring_views(session)
        if (states is None or view.state in states)
        and (due_from is None or view.due_on >= due_from)
        and (due_through is None or view.due_on <= due_through)
    ]
    # sorted here, not only in SQL, so the order is the same on every backend whatever its collation
    return [view for _, view in sorted([*one_off, *recurring], key=lambda pair: pair[0])]


def overdue_views(
    *, session: Session, today: dt.date, plan_ids: list[int] | None = None, due_through: dt.date | None = None
) -> list[MilestoneView]:
    """Only the overdue milestones (with `due_through`, only those whose instance fell due by then)."""
    return milestone_views(
        session=session,
        today=today,
        plan_ids=plan_ids,
        states={MilestoneState.overdue},
        due_through=due_through,
    )


def overdue_recurring(
    *,
    session: Session,
    today: dt.date,
    days_overdue: Callable[[int], bool],
    milestone_ids: Sequence[int] | None = None,
) -> list[tuple[int, dt.date]]:
    """(milestone id, the unanswered instance's due date) of the open recurring duties overdue today by a number of
    days that `days_overdue` accepts, in due date and id order.

    Which instance would be the overdue one follows from the dates alone (the period just ended, or a bounded
    duty's last), so reports are read, and the duty judged, only where that instance's age is accepted: a tick
    looking for the duties that reach a rung today judges a handful, not every duty of every county.
    """
    duties = (
        select_columns(
            col(Milestone.id), col(Milestone.due_on), col(Milestone.recurrence), col(Milestone.until)
        )
        .add_columns(col(Plan.issued_on))
        .join(Task, col(Task.id) == Milestone.task_id)
        .join(Plan, col(Plan.id) == Task.plan_id)
        # the duties by their index first, as an IN list: joined, SQLite's statistics can make it walk every
        # plan and task instead (0.2 s at 1M milestones to find none)
        .where(
            col(Milestone.id).in_(
                select_columns(col(Milestone.id)).where(
                    col(Milestone.status) == MilestoneStatus.open, col(Milestone.recurrence).in_(RECURRING)
                )
            )
        )
    )
    if milestone_ids is None:
        rows = list(_rows(session, duties))
    else:  # a few milestones a change touched
        rows = [
            row
            for chunk in in_parts(milestone_ids)
            for row in _rows(session, duties.where(col(Milestone.id).in_(chunk)))
        ]
    candidates: dict[int, tuple[_Recurring, dt.date, dt.date | None, dt.date]] = {}
    for milestone_id, due_on, recurrence, until, issued_on in rows:
        milestone = _Recurring(recurrence, due_on, until)
        previous, due = _instance(milestone, today)
        unanswered = due if due < today else previous
        if unanswered is not None and days_overdue((today - unanswered).days):
            candidates[milestone_id] = (milestone, issued_on, previous, due)
    reports = _reports_of(session, sorted(candidates), _report_cutoff(today))
    found = []
    for milestone_id, (milestone, issued_on, previous, due) in candidates.items():
        state, instance = _recurring_state(
            milestone, issued_on, reports.get(milestone_id, []), today, previous=previous, due=due
        )
        if state == MilestoneState.overdue:
            found.append((milestone_id, instance))
    return sorted(found, key=lambda pair: (pair[1], pair[0]))


def tally_milestones(
    *,
    session: Session,
    today: dt.date,
    plan_ids: list[int] | None = None,
    department_ids: list[int] | None = None,
) -> list[Tally]:
    """Counts per (plan, year, state, pace) as of `today`, by a GROUP BY; in plan key, year, state, pace order."""
    scope = _Scope(today, plan_ids, department_ids)
    cells: Counter[tuple[str, str, str, MilestoneState, Pace]] = scope.one_off_tallies(session)
    for _, view in scope.recurring_views(session):
        cells[(view.plan_key, view.plan_title, str(view.due_on.year), view.state, view.pace)] += 1
    return [Tally(*key, count=n) for key, n in sorted(cells.items())]


def pace_of(
    state: MilestoneState, latest: ReportLike | None, *, start: dt.date, due: dt.date, today: dt.date
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


class _days_between(FunctionElement[int]):
    """Whole days from the second date to the first: PostgreSQL subtracts dates, SQLite goes via julianday."""

    type = Integer()
    name = "days_between"
    inherit_cache = True


@compiles(_days_between)
def _days_between_default(element: _days_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"({later} - {earlier})"


@compiles(_days_between, "sqlite")
def _days_between_sqlite(element: _days_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


# plain dict look-ups: calling an enum class costs microseconds, and a county has thousands of rows
_STATES = {state.value: state for state in MilestoneState}
_PACES = {pace.value: pace for pace in Pace}
_Statement = TypeVar("_Statement", bound="Select[*tuple[Any, ...]]")
_SortKey = tuple[str, int, dt.date, int]


def _rows(
    session: Session, statement: Select[*tuple[Any, ...]], params: dict[str, Any] | None = None
) -> Sequence[Any]:
    """Plain column rows through Core: the ORM's result machinery costs more than these queries do."""
    return session.connection().execute(statement, params).all()


# The statements a status runs are built once per shape of question (scoped by plans or not, by departments or
# not) with the day, the cutoff and the ids as parameters: building one anew, and the cache key SQLAlchemy computes
# over its tree, took about 4 of the 12 ms a county's tally took.
_TODAY = bindparam("status_today", type_=Date)
_CUTOFF = bindparam("status_cutoff", type_=UTCDateTime())
_PLAN_IDS: BindParameter[list[int]] = bindparam("status_plan_ids", expanding=True)
_DEPARTMENT_IDS: BindParameter[list[int]] = bindparam("status_department_ids", expanding=True)


class _Shape(NamedTuple):
    by_plan: bool
    by_department: bool


def _where(statement: _Statement, shape: _Shape, *, recurring: bool) -> _Statement:
    """Restrict a statement that joins Milestone and Task to a scope and to one kind of milestone."""
    if shape.by_plan:
        # the plans' task ids as a list for an index on milestone's task_id too: given only the join, PostgreSQL
        # hashes the plans' tasks against every milestone (one-off) or every recurring duty of the table (42 ms
        # and 5 ms for a 2,000-task county at 100k tasks; 13 ms and 2.5 ms this way)
        statement = statement.where(
            col(Task.plan_id).in_(_PLAN_IDS),
            col(Milestone.task_id).in_(select(Task.id).where(col(Task.plan_id).in_(_PLAN_IDS))),
        )
    # a withdrawn milestone (已撤销) is no longer the plan's: no state, no count, no 通报
    if not recurring:
        statement = statement.where(
            col(Milestone.recurrence) == Recurrence.none, col(Milestone.status).in_(CURRENT_STATUSES)
        )
    elif shape.by_plan:
        # the partial index's predicate, word for word, so both backends may read that index
        statement = statement.where(
            text(f"milestone.{RECURRING_ONLY}"), col(Milestone.status).in_(CURRENT_STATUSES)
        )
    else:
        # every status and kind listed, so the (status, recurrence, due_on) index can find the few recurring
        # rows without reading the rest of the table
        statement = statement.where(
            col(Milestone.status).in_(CURRENT_STATUSES), col(Milestone.recurrence).in_(RECURRING)
        )
    if shape.by_department:
        statement = statement.where(
            col(Task.id).in_(
                select(TaskDepartment.task_id).where(col(TaskDepartment.department_id).in_(_DEPARTMENT_IDS))
            )
        )
    return statement


def _judged_one_off(shape: _Shape, *columns: Any) -> tuple[Select[Any], ColumnElement[str]]:
    """One-off milestones in scope with `columns`, their latest report (up to the cutoff), state and pace; and
    the state, for callers that filter on it.

    The latest report is the copy on the milestone's own row (Milestone.latest_*), unless that copy is newer than
    the cutoff (a view of a past day): then, for that milestone only, the reports before the cutoff are searched.
    State and pace are `_reference` rules written as CASE expressions.
    """
    earlier = aliased(ProgressReport, name="earlier")
    copy_too_new = col(Milestone.latest_reported_at) >= _CUTOFF

    def latest(reported: Any, copied: Any) -> ColumnElement[Any]:
        before_cutoff = (
            select_columns(reported)
            .where(col(earlier.milestone_id) == Milestone.id, col(earlier.reported_at) < _CUTOFF)
            .order_by(*newest_first(earlier))
            .limit(1)
            .scalar_subquery()
        )
        # CASE evaluates the search only where its branch is taken, on both backends
        return case((copy_too_new, before_cutoff), else_=copied)

    report_id = latest(earlier.id, Milestone.latest_report_id)
    percent = latest(earlier.percent, Milestone.latest_report_percent)
    status = latest(earlier.status, Milestone.latest_report_status)
    closed = and_(
        col(Milestone.status) == MilestoneStatus.done,
        or_(col(Milestone.done_at).is_(None), col(Milestone.done_at) < _CUTOFF),
    )
    late = col(Milestone.due_on) < _TODAY
    reported = report_id.is_not(None)
    state = case(
        (closed, MilestoneState.done.value),
        (late, MilestoneState.overdue.value),
        (reported, MilestoneState.reported.value),
        else_=MilestoneState.silent.value,
    )
    # elapsed = min(1.0, max(0.0, days since issue / max(1, days from issue to due))), in floating point exactly
    # as pace_of computes it, so the comparison with the percent agrees to the last bit
    span_days = _days_between(Milestone.due_on, Plan.issued_on)
    span = case((span_days < 1, 1), else_=span_days)
    days = _days_between(_TODAY, Plan.issued_on)
    elapsed = case(
        (days <= 0, cast(0.0, Float)), (days >= span, cast(1.0, Float)), else_=cast(days, Float) / span
    )
    behind = and_(percent.is_not(None), percent < elapsed * 100 - PACE_TOLERANCE)
    pace = case(
        (closed, Pace.done.value),
        (late, Pace.red.value),
        (status == ReportStatus.blocked.value, Pace.red.value),
        (~reported, Pace.grey.value),
        (or_(behind, status == ReportStatus.at_risk.value), Pace.amber.value),
        else_=Pace.green.value,
    )
    statement = _where(
        select_columns(
            *columns,
            percent.label("percent"),
            report_id.label("report_id"),
            state.label("state"),
            pace.label("pace"),
        )
        .join(Task, col(Task.id) == Milestone.task_id)
        .join(Plan, col(Plan.id) == Task.plan_id),
        shape,
        recurring=False,
    )
    return statement, state


@cache
def _one_off_views_statement(shape: _Shape) -> tuple[Select[Any], ColumnElement[str]]:
    statement, state = _judged_one_off(
        shape,
        col(Milestone.id),
        col(Plan.key),
        col(Plan.title),
        col(Task.position),
        col(Task.ref),
        col(Task.title),
        col(Milestone.due_on),
    )
    return statement.order_by(
        col(Plan.key), col(Task.position), col(Milestone.due_on), col(Milestone.id)
    ), state


@cache
def _one_off_tallies_statement(shape: _Shape) -> Select[Any]:
    statement, _ = _judged_one_off(
        shape,
        col(Plan.id).label("plan_id"),
        cast(extract("year", col(Milestone.due_on)), Integer).label("year"),
    )
    judged = statement.subquery("judged")
    # grouped outside, by the subquery's columns: PostgreSQL will not match a CASE in GROUP BY whose bound
    # parameters are numbered apart from the same CASE in the select list; grouped by the plan's id and named
    # after, since sorting thousands of rows by a title in the database's collation cost PostgreSQL a quarter of
    # the query (4 of 17 ms for a 2,000-task county)
    grouped = (
        select_columns(
            judged.c.plan_id, judged.c.year, judged.c.state, judged.c.pace, func.count().label("n")
        )
        .group_by(judged.c.plan_id, judged.c.year, judged.c.state, judged.c.pace)
        .subquery("grouped")
    )
    return select_columns(
        col(Plan.key), col(Plan.title), grouped.c.year, grouped.c.state, grouped.c.pace, grouped.c.n
    ).join(Plan, col(Plan.id) == grouped.c.plan_id)


@cache
def _recurring_statement(shape: _Shape) -> Select[*tuple[Any, ...]]:
    """Each duty in scope with its reports up to the cutoff, one row per report (one row without, for a duty that
    has none): read in one statement, not by a second one listing every duty's id."""
    return _where(
        select_columns(
            col(Milestone.id),
            col(Milestone.due_on),
            col(Milestone.recurrence),
            col(Milestone.until),
            col(Plan.key),
            col(Plan.title),
            col(Plan.issued_on),
            col(Task.position),
            col(Task.ref),
            col(Task.title),
            col(ProgressReport.id),
            col(ProgressReport.reported_at),
            col(ProgressReport.status),
            col(ProgressReport.percent),
        )
        .join(Task, col(Task.id) == Milestone.task_id)
        .join(Plan, col(Plan.id) == Task.plan_id)
        .outerjoin(
            ProgressReport,
            and_(col(ProgressReport.milestone_id) == Milestone.id, col(ProgressReport.reported_at) < _CUTOFF),
        ),
        shape,
        recurring=True,
    ).order_by(col(Milestone.id), col(ProgressReport.reported_at), col(ProgressReport.id))


@dataclass(frozen=True)
class _Scope:
    """The milestones one question covers, as of one day; runs the statements that answer it."""

    today: dt.date
    plan_ids: list[int] | None
    department_ids: list[int] | None

    @property
    def cutoff(self) -> dt.datetime:
        return _report_cutoff(self.today)

    @property
    def shape(self) -> _Shape:
        return _Shape(self.plan_ids is not None, self.department_ids is not None)

    @property
    def params(self) -> dict[str, Any]:
        return {
            "status_today": self.today,
            "status_cutoff": self.cutoff,
            "status_plan_ids": self.plan_ids or [],
            "status_department_ids": self.department_ids or [],
        }

    def one_off_views(
        self,
        session: Session,
        *,
        states: Collection[MilestoneState] | None,
        due_from: dt.date | None,
        due_through: dt.date | None,
    ) -> list[tuple[_SortKey, MilestoneView]]:
        statement, state = _one_off_views_statement(self.shape)
        if states is not None:
            statement = statement.where(state.in_([s.value for s in states]))
        if due_from is not None:
            statement = statement.where(col(Milestone.due_on) >= due_from)
        if due_through is not None:
            statement = statement.where(col(Milestone.due_on) <= due_through)
        return [
            (
                (plan_key, position, due_on, milestone_id),
                MilestoneView(
                    milestone_id=milestone_id,
                    plan_key=plan_key,
                    plan_title=plan_title,
                    task_ref=ref,
                    task_title=title,
                    due_on=due_on,
                    recurrence=Recurrence.none,
                    state=_STATES[row_state],
                    latest_percent=percent,
                    pace=_PACES[row_pace],
                    latest_report_id=report_id,
                ),
            )
            for (
                milestone_id,
                plan_key,
                plan_title,
                position,
                ref,
                title,
                due_on,
                percent,
                report_id,
                row_state,
                row_pace,
            ) in _rows(session, statement, self.params)
        ]

    def one_off_tallies(self, session: Session) -> Counter[tuple[str, str, str, MilestoneState, Pace]]:
        cells: Counter[tuple[str, str, str, MilestoneState, Pace]] = Counter()
        for plan_key, plan_title, year, row_state, row_pace, n in _rows(
            session, _one_off_tallies_statement(self.shape), self.params
        ):
            cells[(plan_key, plan_title, str(year), _STATES[row_state], _PACES[row_pace])] += n
        return cells

    def recurring_views(self, session: Session) -> list[tuple[_SortKey, MilestoneView]]:
        """Recurring duties judged by their current period, in Python: few rows, and a walk over instances."""
        rows = _rows(session, _recurring_statement(self.shape), self.params)
        judged = []
        for milestone_id, duty_rows in groupby(rows, key=itemgetter(0)):
            first, *rest = duty_rows
            _, due_on, recurrence, until, plan_key, plan_title, issued_on, position, ref, title = first[:10]
            own = [_Report(*row[10:]) for row in (first, *rest) if row[10] is not None]
            milestone = _Recurring(recurrence, due_on, until)
            previous, due = _instance(milestone, self.today)
            state, due = _recurring_state(milestone, issued_on, own, self.today, previous=previous, due=due)
            view = MilestoneView(
                milestone_id=milestone_id,
                plan_key=plan_key,
                plan_title=plan_title,
                task_ref=ref,
                task_title=title,
                due_on=due,
                recurrence=recurrence,
                state=state,
                latest_percent=own[-1].percent if own else None,
                latest_report_id=own[-1].id if own else None,
                pace=pace_of(
                    state, own[-1] if own else None, start=previous or issued_on, due=due, today=self.today
                ),
            )
            # sorted where the milestone's first instance puts it, as the one query over every milestone did
            judged.append(((plan_key, position, due_on, milestone_id), view))
        return judged


def _report_cutoff(today: dt.date) -> dt.datetime:
    """Reports made up to the end of `today` (UTC day) count, so a view of last week ignores this week's."""
    return dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def _reports_of(session: Session, ids: list[int], cutoff: dt.datetime) -> dict[int, list[_Report]]:
    """milestone id -> its reports made before `cutoff`, oldest first."""
    reports: dict[int, list[_Report]] = defaultdict(list)
    for chunk in in_parts(ids):
        for milestone_id, report_id, reported_at, status, percent in _rows(
            session,
            select_columns(
                col(ProgressReport.milestone_id),
                col(ProgressReport.id),
                col(ProgressReport.reported_at),
                col(ProgressReport.status),
                col(ProgressReport.percent),
            )
            .where(col(ProgressReport.milestone_id).in_(chunk))
            .where(col(ProgressReport.reported_at) < cutoff)
            .order_by(col(ProgressReport.reported_at), col(ProgressReport.id)),
        ):
            reports[milestone_id].append(_Report(report_id, reported_at, status, percent))
    return reports


def _reported_between(
    reports: Iterable[_Report], start: dt.date | None, end: dt.date, *, done_only: bool = False
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


def _recurring_state(
    milestone: Recurring,
    issued_on: dt.date,
    reports: list[_Report],
    today: dt.date,
    *,
    previous: dt.date | None,
    due: dt.date,
) -> tuple[MilestoneState, dt.date]:
    """A recurring duty is judged per period: this period's reports, and whether the last period was answered.

    `previous` and `due` are `current_instance(milestone, today=today)`, which the caller has already walked.
    """
    period_start = previous if previous is not None else issued_on - dt.timedelta(days=1)
    if _reported_between(reports, period_start, due, done_only=True):
        return MilestoneState.done, due
    if due < today:  # a bounded duty whose last period has passed unanswered
        return MilestoneState.overdue, due
    if previous is not None:
        before_previous = _window_start(milestone, previous, issued_on)
        if not _reported_between(reports, before_previous, previous):
            return MilestoneState.overdue, previous
    return (
        MilestoneState.reported if _reported_between(reports, period_start, due) else MilestoneState.silent
    ), due


def _window_start(milestone: Recurring, due: dt.date, issued_on: dt.date) -> dt.date:
    """The day before the period that ends on `due` begins: the instance before it, or the plan's issue."""
    before, _ = _instance(_Recurring(milestone.recurrence, milestone.due_on, milestone.until), due)
    return before if before is not None else issued_on - dt.timedelta(days=1)


def department_ids_named(*, session: Session, department: str, region: str | None = None) -> list[int]:
    """Ids of the departments printed under this name (in `region`, if given); UnknownDepartment if none."""
    found = [d for d in find_departments(session=session, name=department) if region in (None, d.region)]
    if not found:
        raise UnknownDepartment(department)
    return [d.id for d in found if d.id is not None]


def status_report(
    *,
    session: Session,
    today: dt.date,
    department: str | None = None,
    plan_ids: list[int] | None = None,
    region: str | None = None,
    with_milestones: bool = True,
) -> StatusReport:
    """Counts by plan, year, state and pace, and (with_milestones) every milestone's view.

    Without the list, the counts come from a GROUP BY (tally_milestones), so a chat's /status, which shows counts
    only, costs a few hundred cells and not one view per milestone of a county.
    """
    department_ids = (
        None
        if department is None
        else department_ids_named(session=session, department=department, region=region)
    )
    views: list[MilestoneView] = []
    cells: Counter[tuple[str, str, MilestoneState, Pace]] = Counter()
    if with_milestones:
        views = milestone_views(
            session=session, today=today, department_ids=department_ids, plan_ids=plan_ids
        )
        # one pass to count cells, then a few hundred cells folded: cheaper than four counters per view
        cells.update((v.plan_title, str(v.due_on.year), v.state, v.pace) for v in views)
    else:
        for tally in tally_milestones(
            session=session, today=today, plan_ids=plan_ids, department_ids=department_ids
        ):
            cells[(tally.plan_title, tally.year, tally.state, tally.pace)] += tally.count
    by_plan: dict[str, Counts] = {}
    by_year: dict[str, Counts] = defaultdict(Counts)
    overall = Counts()
    paces: Counter[Pace] = Counter()
    for (title, year, state, pace), n in cells.items():
        by_plan.setdefault(title, Counts()).add(state, n)
        by_year[year].add(state, n)
        overall.add(state, n)
        paces[pace] += n
    return StatusReport(
        today=today,
        department=department,
        by_plan=dict(by_plan),
        by_year=dict(sorted(by_year.items())),
        overall=overall,
        milestones=views,
        paces=dict(paces),
    )
