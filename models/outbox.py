"""The outbox: every message that must go out, one row each, keyed so it is sent once."""

import datetime as dt

from sqlalchemy import BigInteger, Column, Text
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


class Notification(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # e.g. "reminder:m42:c7:d30:2025-12-31" — a second planner run finds the row and adds nothing
    idempotency_key: str = Field(unique=True, index=True, max_length=200)
    kind: str = Field(max_length=30, index=True)
    milestone_id: int | None = Field(default=None, foreign_key="milestone.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    chat_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    text: str = Field(sa_column=Column(Text, nullable=False))
    instance_due_on: dt.date | None = None
    due_at: dt.datetime = Field(sa_type=UTCDateTime, index=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    telegram_message_id: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))
    # a dispatcher claims a row before sending it, so two dispatchers never send the same row
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)  # 签收
