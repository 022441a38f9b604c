"""The people who speak for departments, and what they report."""

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Column, ColumnElement, String, Text, UniqueConstraint, and_, or_
from sqlmodel import Field, Relationship, SQLModel, col

from models import limits
from models.plan import Department, Milestone, Plan
from models.types import ContactRole, ReportStatus, UTCDateTime, utcnow


class Contact(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    # anyone may be limited to one plan: a coordinator or lead reads only it, a department's contact sees, reports on
    # and is reminded of only their department's tasks in it; empty means every plan of the region
    plan_id: int | None = Field(default=None, foreign_key="plan.id", index=True)
    name: str = Field(default="", max_length=limits.CONTACT_NAME)
    role: ContactRole = Field(default=ContactRole.contact, max_length=12)
    telegram_user_id: int | None = Field(default=None, sa_column=Column(BigInteger, unique=True, index=True))
    # DingTalk's userId (staff id) of the person; set when they joined by sending their code to the robot
    dingtalk_user_id: str | None = Field(
        default=None, sa_column=Column(String(64), unique=True, index=True, nullable=True)
    )
    # the first contact row of the person this row belongs to, or None where this row is their first: a person who
    # takes up a new invitation (a contact made coordinator) gets a new row, and a 销号 must not be approved by the
    # person who asked for it under their old row
    person_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    language: str = Field(default="zh_CN", max_length=10)
    active: bool = True
    joined_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # on DingTalk, after the 汇报 link of a reminder (/rep N alone), the person's next text is their report on
    # reminder row N until this moment; in the database so a restart or a second instance keeps the wait. No
    # foreign key: notification already points at contact, and a wait is short-lived (its row is checked on use)
    report_prompt_reminder_id: int | None = None
    report_prompt_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)

    department: Department = Relationship()
    plan: Plan | None = Relationship()


def person_of(contact: Contact) -> int:
    """The person a contact row speaks for: rows linked by taking up a new invitation are one person."""
    assert contact.id is not None
    return contact.person_id if contact.person_id is not None else contact.id


class ListedMilestone(SQLModel, table=True):
    """The number a contact was shown for a milestone in their 任务 list; to them it means that milestone for good.

    A list numbered 1..n afresh each time renumbers when a milestone is closed out, and "汇报 2" typed from the
    list seen before would land on whatever is second now. So a number, once shown to a contact, is never given to
    another milestone for them, and a number they were never shown is refused. The milestone is empty only where
    its plan was removed: the number stays taken.
    """

    __table_args__ = (UniqueConstraint("contact_id", "milestone_id"),)

    contact_id: int = Field(foreign_key="contact.id", primary_key=True)
    number: int = Field(primary_key=True)
    milestone_id: int | None = Field(default=None, foreign_key="milestone.id", index=True)
    listed_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProgressReport(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    milestone_id: int = Field(foreign_key="milestone.id", index=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    status: ReportStatus = Field(max_length=10)
    percent: int | None = Field(default=None, ge=0, le=100)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    evidence_file_id: str | None = Field(default=None, max_length=200)
    reported_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)

    milestone: Milestone = Relationship()
    contact: Contact = Relationship()


def newest_first(report: Any = ProgressReport) -> tuple[Any, Any]:
    """ORDER BY for reports newest first: latest reported_at, then highest id (`report` may be an alias). The one
    order "latest report" means everywhere; Milestone.latest_*'s triggers spell it in SQL (models/newest_report.py)."""
    return col(report.reported_at).desc(), col(report.id).desc()


def reachable() -> ColumnElement[bool]:
    """Contacts a message can reach: joined on some channel (a Telegram or DingTalk id) and not blocked (active)."""
    return and_(
        col(Contact.active).is_(True),
        or_(col(Contact.telegram_user_id).is_not(None), col(Contact.dingtalk_user_id).is_not(None)),
    )


def covers_plan(plan_id: Any) -> ColumnElement[bool]:
    """Contacts whose scope takes in this plan (a column, such as Task.plan_id on a join already made, or a value):
    those limited to no plan (every plan of their county) and those limited to this one."""
    return or_(col(Contact.plan_id).is_(None), col(Contact.plan_id) == plan_id)


def channel_of(contact: Contact) -> str | None:
    """The channel a contact's messages go to: the one whose id is set.

    A contact linked on both (a coordinator's invitation said so) is sent on DingTalk: they joined there second
    because Telegram does not reach them where they work.
    """
    if contact.dingtalk_user_id is not None:
        return "dingtalk"
    if contact.telegram_user_id is not None:
        return "telegram"
    return None
