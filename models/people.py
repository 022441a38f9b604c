"""The people who speak for departments, and what they report."""

import datetime as dt

from sqlalchemy import BigInteger, Column, ColumnElement, String, Text, and_, or_
from sqlmodel import Field, Relationship, SQLModel, col

from models import limits
from models.plan import Department, Milestone, Plan
from models.types import ContactRole, ReportStatus, UTCDateTime, utcnow


class Contact(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    # a coordinator or lead may be limited to one plan; empty means every plan of the region
    plan_id: int | None = Field(default=None, foreign_key="plan.id", index=True)
    name: str = Field(default="", max_length=limits.CONTACT_NAME)
    role: ContactRole = Field(default=ContactRole.contact, max_length=12)
    telegram_user_id: int | None = Field(default=None, sa_column=Column(BigInteger, unique=True, index=True))
    # DingTalk's userId (staff id) of the person; set when they joined by sending their code to the robot
    dingtalk_user_id: str | None = Field(
        default=None, sa_column=Column(String(64), unique=True, index=True, nullable=True)
    )
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


def reachable() -> ColumnElement[bool]:
    """Contacts a message can reach: joined on some channel (a Telegram or DingTalk id) and not blocked (active)."""
    return and_(
        col(Contact.active).is_(True),
        or_(col(Contact.telegram_user_id).is_not(None), col(Contact.dingtalk_user_id).is_not(None)),
    )


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
