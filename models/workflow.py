"""What people do with the plan: invitations, 销号 requests and the audit trail."""

import datetime as dt
from enum import StrEnum

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models import limits
from models.types import ContactRole, UTCDateTime, utcnow


class Invite(SQLModel, table=True):
    """A one-time join link; only the SHA-256 of its token is stored."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    role: ContactRole = Field(max_length=12)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class CloseoutStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


class CloseoutRequest(SQLModel, table=True):
    """销号: a lead department says a milestone is done; a coordinator approves or rejects."""

    id: int | None = Field(default=None, primary_key=True)
    milestone_id: int = Field(foreign_key="milestone.id", index=True)
    report_id: int = Field(foreign_key="progressreport.id")
    requested_by: int = Field(foreign_key="contact.id")
    status: CloseoutStatus = Field(default=CloseoutStatus.pending, max_length=10, index=True)
    decided_by: int | None = Field(default=None, foreign_key="contact.id")
    reason: str | None = Field(default=None, max_length=limits.CLOSEOUT_REASON)
    requested_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """Who changed what, when: every report, approval and rejection."""

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    action: str = Field(max_length=40)
    milestone_id: int | None = Field(default=None, foreign_key="milestone.id", index=True)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class EscalationStep(SQLModel, table=True):
    """One rung of the overdue ladder reached for one recipient; the unique key makes each rung happen once.

    The notices themselves are bundled: a recipient gets one message a day listing every milestone that reached a
    rung, not one message per milestone.
    """

    __table_args__ = (UniqueConstraint("milestone_id", "instance_due_on", "step", "contact_id"),)

    id: int | None = Field(default=None, primary_key=True)
    milestone_id: int = Field(foreign_key="milestone.id", index=True)
    instance_due_on: dt.date
    step: int  # 0 = the day after the due date, then one per week overdue
    contact_id: int = Field(foreign_key="contact.id", index=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    notification_id: int | None = Field(default=None, foreign_key="notification.id")


class Lease(SQLModel, table=True):
    """Who runs the scheduler jobs: one row per job group, held by one process until it expires."""

    name: str = Field(primary_key=True, max_length=40)
    holder: str = Field(max_length=120)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
