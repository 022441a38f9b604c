"""The plan as published: plans, departments, tasks and their dated milestones."""

import datetime as dt

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, Relationship, SQLModel

from models import limits
from models.types import (
    RECURRING_ONLY,
    DepartmentRole,
    MilestoneStatus,
    Recurrence,
    ReportStatus,
    Section,
    UTCDateTime,
)


class Plan(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, unique=True, max_length=60)
    title: str = Field(max_length=200)
    issuer: str = Field(max_length=200)
    doc_number: str | None = Field(default=None, max_length=80)
    issued_on: dt.date
    region: str = Field(index=True, max_length=80)

    tasks: list["Task"] = Relationship(
        back_populates="plan", sa_relationship_kwargs={"order_by": "Task.position"}
    )


class Department(SQLModel, table=True):
    """A body of one county; two counties' 教体局 are two departments."""

    __table_args__ = (UniqueConstraint("region", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, max_length=120)
    region: str = Field(index=True, max_length=80)

    aliases: list["DepartmentAlias"] = Relationship(back_populates="department")
    task_links: list["TaskDepartment"] = Relationship(back_populates="department")


class DepartmentAlias(SQLModel, table=True):
    """Another name a plan prints for the same department (区发改局 for 区发展改革局)."""

    __table_args__ = (UniqueConstraint("region", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    region: str = Field(max_length=80)
    name: str = Field(max_length=120)

    department: Department = Relationship(back_populates="aliases")


class TaskDepartment(SQLModel, table=True):
    """Link between a task and a department, with the role the plan gives it."""

    task_id: int = Field(foreign_key="task.id", primary_key=True)
    department_id: int = Field(foreign_key="department.id", primary_key=True, index=True)
    role: DepartmentRole = Field(max_length=10)
    printed_as: str = Field(max_length=120)
    position: int = 0

    task: "Task" = Relationship(back_populates="department_links")
    department: Department = Relationship(back_populates="task_links")


class Task(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("plan_id", "ref"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    ref: str = Field(max_length=40)
    section: Section = Field(max_length=12)
    title: str = Field(max_length=200)
    text: str = Field(sa_column=Column(Text, nullable=False))
    position: int = 0

    plan: Plan = Relationship(back_populates="tasks")
    department_links: list["TaskDepartment"] = Relationship(
        back_populates="task",
        sa_relationship_kwargs={"order_by": "TaskDepartment.position", "cascade": "all, delete-orphan"},
    )
    milestones: list["Milestone"] = Relationship(
        back_populates="task", sa_relationship_kwargs={"order_by": "Milestone.due_on"}
    )

    def departments(self, role: DepartmentRole) -> list[Department]:
        return [link.department for link in self.department_links if link.role == role]


class Milestone(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("task_id", "due_on", "recurrence"),
        # the planner's date-window query reads one range of this index per reminder step
        Index("ix_milestone_status_recurrence_due_on", "status", "recurrence", "due_on"),
        # a county's recurring duties by its task ids: a few hundred rows found without reading the table's other
        # recurring duties (PostgreSQL, 2,000-task county at 100k tasks: 5 ms by the index above, 2.5 ms by this)
        Index(
            "ix_milestone_recurring_task_id",
            "task_id",
            postgresql_where=text(RECURRING_ONLY),
            sqlite_where=text(RECURRING_ONLY),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    due_on: dt.date = Field(index=True)
    target: str = Field(sa_column=Column(Text, nullable=False))
    recurrence: Recurrence = Field(default=Recurrence.none, max_length=10)
    until: dt.date | None = None
    status: MilestoneStatus = Field(default=MilestoneStatus.open, max_length=10, index=True)
    done_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # when and by what a milestone the plan no longer has was withdrawn (status withdrawn), e.g.
    # "duban seed anqiu-2023.yaml (operator)"; cleared if the plan lists it again
    withdrawn_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    withdrawn_by: str | None = Field(default=None, max_length=limits.WITHDRAWN_BY)
    # a coordinator may pause the overdue escalation, with a reason (/snooze N days reason)
    escalation_paused_until: dt.date | None = None
    escalation_pause_reason: str | None = Field(default=None, max_length=limits.PAUSE_REASON)
    # a copy of the newest progress report (latest reported_at, then highest id), kept by triggers on progressreport
    # (models/newest_report.py) for every write: a county's status reads it from each milestone's own row instead
    # of searching the reports of thousands of milestones; a status of a past day searches where it is newer
    latest_report_id: int | None = None  # no foreign key: a report already points here, and this is a copy
    latest_reported_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    latest_report_status: ReportStatus | None = Field(default=None, max_length=10)
    latest_report_percent: int | None = None

    task: "Task" = Relationship(back_populates="milestones")
