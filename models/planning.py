"""One counter that says when something the scheduler's planning reads has changed.

The planner, the re-chase and the overdue ladder are days: what they owe changes when the day changes, or when
a row they read changes in a way that can make more owed (a contact joins or is reactivated, a task is imported,
a milestone is reopened or its pause lifted, a report is withdrawn). Every ORM flush that writes such a row adds
one to `planning_inputs.version` in its own transaction, so a tick that finds the day and the version it planned
last can skip re-reading a million milestones; any process (the bot, `duban web`, the CLI, a second instance)
moves the counter, because the counter lives in the database.

A single row, incremented with UPDATE … SET version = version + 1: the row lock orders the writers, so a tick that
read version v and planned is always told by v + 1 about a change it could not have seen (a sequence would not:
its numbers are handed out before their transactions commit).
"""

from sqlalchemy import DDL, event, inspect, update
from sqlalchemy.orm import Session, UOWTransaction
from sqlmodel import Field, SQLModel, col, select

from models.people import Contact, ProgressReport
from models.plan import Department, Milestone, Plan, Task, TaskDepartment


class PlanningInputs(SQLModel, table=True):
    __tablename__ = "planning_inputs"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    version: int = 0


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


def _changes_planning(session: Session) -> bool:
    if any(type(row) in WATCHED for row in session.deleted):
        return True
    if any(type(row) in WATCHED and type(row) not in NEW_ROWS_CHANGE_NOTHING for row in session.new):
        return True
    for row in session.dirty:
        if type(row) not in WATCHED:
            continue
        state = inspect(row)
        names = WATCHED[type(row)] or state.mapper.column_attrs.keys()
        if any(state.attrs[name].history.has_changes() for name in names):
            return True
    return False


@event.listens_for(Session, "after_flush")
def _count_planning_change(session: Session, _flush: UOWTransaction) -> None:
    # after_flush still sees what the flush wrote as new, dirty and deleted, with each attribute's history
    if not _changes_planning(session):
        return
    connection = session.connection()
    # a database still at an older revision (an upgrade writing rows there) has no counter to move yet
    if inspect(connection).has_table(PlanningInputs.__tablename__):
        connection.execute(update(PlanningInputs).values(version=col(PlanningInputs.version) + 1))
