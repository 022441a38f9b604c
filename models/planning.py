"""One counter that says when something the scheduler's planning reads has changed, and a log of what changed.

The planner, the re-chase and the overdue ladder are days: what they owe changes when the day changes, or when
a row they read changes in a way that can make more owed (a contact joins or is reactivated, a task is imported,
a milestone is reopened or its pause lifted, a report is withdrawn). Every transaction whose ORM flushes write such
a row adds one to `planning_inputs.version`, so a tick that finds the day and the version it planned
last can skip re-reading a million milestones; any process (the bot, `duban web`, the CLI, a second instance)
moves the counter, because the counter lives in the database.

A single row, incremented with UPDATE … SET version = version + 1: the row lock orders the writers, so a tick that
read version v and planned is always told by v + 1 about a change it could not have seen (a sequence would not:
its numbers are handed out before their transactions commit).

Beside the counter, `planning_change` records what each such flush touched (a milestone, a task, a contact, or
"all" for a plan or a department), under the version its transaction moved the counter to, so a tick that planned
version v re-plans only the milestones the changes after v touch, not the day.
"""

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import DDL, JSON, Column, UniqueConstraint, event, insert, inspect, update
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction
from sqlmodel import Field, SQLModel, col, select

from models.people import Contact, ProgressReport
from models.plan import Department, Milestone, Plan, Task, TaskDepartment
from models.types import UTCDateTime


class PlanningInputs(SQLModel, table=True):
    __tablename__ = "planning_inputs"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    version: int = 0


class PlanningChange(SQLModel, table=True):
    """One row a flush touched that planning reads, under the counter's version that flush set."""

    __tablename__ = "planning_change"

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(index=True)
    kind: str  # Touched
    row_id: int  # 0 for Touched.all


class PlannedThrough(SQLModel, table=True):
    """The last local day a job planned in full, by any instance: a start looks back only to it.

    Without it a start cannot tell a restart a minute after the last tick from a month's stop, and looks back
    over the whole stale window (a month of reminder dates and a week of the ladder) every time.
    """

    __tablename__ = "planned_through"

    job: str = Field(primary_key=True, max_length=40)
    day: dt.date


class PlanningGap(SQLModel, table=True):
    """Days on which no tick planned, more of them than the catch-up window: the reminders due to go out on the
    days before the window were recorded as skipped, never sent. Written once, by the tick that found the gap, so
    coordinators can be told (the web dashboard) and the log says it once.
    """

    __tablename__ = "planning_gap"
    __table_args__ = (UniqueConstraint("job", "first_day"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=40)
    first_day: dt.date  # the first local day not planned
    last_day: dt.date = Field(index=True)  # the last, the day before the tick that found the gap
    # plan key -> the reminders (one per milestone and recipient) of those days never sent
    skipped: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    recorded_at: dt.datetime = Field(sa_type=UTCDateTime)


class Touched:
    """What a change touched, from the narrowest to the widest re-plan it asks for."""

    milestone = "milestone"
    task = "task"  # its milestones
    contact = "contact"  # the milestones the contact must hear about
    all = "all"  # a plan or a department changed: plan everything


MAX_TOUCHED = 1000  # a flush touching more (an import, a bulk edit) asks for one plan of everything


# a new database (create_all) starts with its one row; migration 0010 inserts it into an existing one
event.listen(
    PlanningInputs.__table__,  # type: ignore[attr-defined]
    "after_create",
    DDL("INSERT INTO planning_inputs (id, version) VALUES (1, 0)"),
)

# The columns planning reads, per table; None: any change. A change elsewhere (a contact's DingTalk report wait,
# a milestone's pause reason) leaves the plan as it was.
WATCHED: dict[type[SQLModel], frozenset[str] | None] = {
    Contact: frozenset(
        {"department_id", "plan_id", "role", "telegram_user_id", "dingtalk_user_id", "active"}
    ),
    Milestone: frozenset({"task_id", "due_on", "recurrence", "until", "status", "escalation_paused_until"}),
    Task: None,
    TaskDepartment: None,
    Plan: None,
    Department: None,
    ProgressReport: None,
}
# a new report only answers what was owed; a withdrawn (deleted) or edited one can make a duty owed again
NEW_ROWS_CHANGE_NOTHING = frozenset({ProgressReport})


def inputs_version(session: Session) -> int | None:
    """The counter, or None where the row is missing (then every tick plans in full)."""
    return session.execute(select(col(PlanningInputs.version)).where(col(PlanningInputs.id) == 1)).scalar()


def planned_through(session: Session, job: str) -> dt.date | None:
    """The last local day `job` planned in full, or None where it never did."""
    return session.execute(
        select(col(PlannedThrough.day)).where(col(PlannedThrough.job) == job)
    ).scalar_one_or_none()


def record_planned(session: Session, job: str, day: dt.date) -> None:
    """`job` planned `day` in full; never moves the day back (a clock set back, an instance behind)."""
    moved = session.execute(
        update(PlannedThrough)
        .where(col(PlannedThrough.job) == job, col(PlannedThrough.day) < day)
        .values(day=day)
    )
    if not moved.rowcount and planned_through(session, job) is None:  # type: ignore[attr-defined]
        session.execute(insert(PlannedThrough).values(job=job, day=day))
    session.commit()


def record_gap(
    session: Session,
    job: str,
    first: dt.date,
    last: dt.date,
    skipped: Mapping[str, int],
    now: dt.datetime,
) -> bool:
    """`job` planned none of the days `first`..`last`; uncommitted (the day planned is recorded with it). A tick
    that finds the same gap again (the first crashed before its day was recorded) adds nothing."""
    known = session.execute(
        select(col(PlanningGap.id)).where(col(PlanningGap.job) == job, col(PlanningGap.first_day) == first)
    ).first()
    if known is not None:
        return False
    session.add(
        PlanningGap(
            job=job, first_day=first, last_day=last, skipped=dict(sorted(skipped.items())), recorded_at=now
        )
    )
    return True


def gaps_ending_since(session: Session, day: dt.date) -> list[PlanningGap]:
    """The gaps whose last day is `day` or later, oldest first."""
    return list(
        session.execute(
            select(PlanningGap).where(col(PlanningGap.last_day) >= day).order_by(col(PlanningGap.first_day))
        ).scalars()
    )


def _touched(session: Session) -> set[tuple[str, int]]:
    """What this flush wrote that planning reads, as (Touched kind, row id)."""
    touched: set[tuple[str, int]] = set()
    for row in session.deleted:
        if type(row) in WATCHED:
            touched |= _what(row)
    for row in session.new:
        if type(row) in WATCHED and type(row) not in NEW_ROWS_CHANGE_NOTHING:
            touched |= _what(row)
    for row in session.dirty:
        if type(row) not in WATCHED:
            continue
        state = inspect(row)
        names = WATCHED[type(row)] or state.mapper.column_attrs.keys()
        if any(state.attrs[name].history.has_changes() for name in names):
            touched |= _what(row)
    return touched


def _what(row: SQLModel) -> set[tuple[str, int]]:
    """The re-plan one written row asks for; a moved foreign key asks for where it was and where it is."""

    def now_and_before(name: str) -> set[int]:
        history = inspect(row).attrs[name].history
        return {
            value for value in (*history.unchanged, *history.added, *history.deleted) if value is not None
        }

    if isinstance(row, Contact):
        return {(Touched.contact, row.id or 0)}
    if isinstance(row, Milestone):
        return {(Touched.milestone, row.id or 0)}
    if isinstance(row, Task):
        return {(Touched.task, row.id or 0)}
    if isinstance(row, TaskDepartment):
        return {(Touched.task, task_id) for task_id in now_and_before("task_id")}
    if isinstance(row, ProgressReport):
        return {(Touched.milestone, milestone_id) for milestone_id in now_and_before("milestone_id")}
    return {(Touched.all, 0)}  # a plan or a department: who hears about what may have changed anywhere


_VERSION_KEY = "planning_inputs.version"  # session.info: the version this transaction moved the counter to
_NO_COUNTER = -1  # ... or: this database has no counter yet


@event.listens_for(Session, "after_flush")
def _count_planning_change(session: Session, _flush: UOWTransaction) -> None:
    # after_flush still sees what the flush wrote as new, dirty and deleted, with each attribute's history
    touched = _touched(session)
    if not touched:
        return
    version = session.info.get(_VERSION_KEY)
    if version is None:
        version = _move_counter(session)
        # one move per transaction: its later flushes (an import flushes hundreds of times) log under the same
        # version, which no other writer can take while this transaction holds the row lock
        session.info[_VERSION_KEY] = version
    if version == _NO_COUNTER:
        return
    if len(touched) > MAX_TOUCHED:
        touched = {(Touched.all, 0)}
    session.connection().execute(
        insert(PlanningChange),
        [{"version": version, "kind": kind, "row_id": row_id} for kind, row_id in touched],
    )


def _move_counter(session: Session) -> int:
    connection = session.connection()
    # a database still at an older revision (an upgrade writing rows there) has no counter to move yet
    if not inspect(connection).has_table(PlanningChange.__tablename__):
        return _NO_COUNTER
    connection.execute(update(PlanningInputs).values(version=col(PlanningInputs.version) + 1))
    # read under the row lock the UPDATE holds: no other writer can take this version
    return int(connection.execute(select(col(PlanningInputs.version))).scalar_one())


@event.listens_for(Session, "after_transaction_end")
def _forget_version(session: Session, transaction: SessionTransaction) -> None:
    # a commit, a rollback or a savepoint's end: the next change moves the counter again (each flush runs in a
    # subtransaction of its own, neither root nor savepoint, whose end changes nothing)
    if transaction.parent is None or transaction.nested:
        session.info.pop(_VERSION_KEY, None)
