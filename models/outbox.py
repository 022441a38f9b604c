"""The outbox: what the bot owes someone, one row per fact, keyed so it is owed once.

A row says what to tell (its kind, the milestone it is about and a structured payload) and whom (a contact, or a
department whose current contact it follows); it never holds finished text or a chat address. The text is made
when the row is sent, for the recipient's channel and language. The rows one contact is owed of one kind at one
moment go out together as one message: the dispatcher marks them with the id of the first (`bundle_id`).
"""

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


class Notification(SQLModel, table=True):
    __table_args__ = (
        # the dispatcher's claim reads the rows still owed (sent_at IS NULL) in due order and stops at its batch,
        # so its cost follows the batch, not the backlog; the re-chase reads a range of sent_at
        Index("ix_notification_sent_at_due_at", "sent_at", "due_at", "id"),
        # "was this contact sent a message of this kind in the last minute?", asked for every row a claim reads,
        # answered by one index range whatever the database's statistics say (contact_id alone: its first column)
        Index("ix_notification_contact_id_kind_sent_at", "contact_id", "kind", "sent_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # e.g. "reminder:m42:c7:d30:2025-12-31" — a second planner run finds the row and adds nothing
    idempotency_key: str = Field(unique=True, index=True, max_length=200)
    kind: str = Field(max_length=30, index=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    # set when the message is owed to a department: it goes to the department's contact at send time
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    milestone_id: int | None = Field(default=None, foreign_key="milestone.id", index=True)
    instance_due_on: dt.date | None = None
    # what the kind needs besides the milestone: days before, the step, a request id, a list of items...
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    due_at: dt.datetime = Field(sa_type=UTCDateTime, index=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    # the message this row went out in: the id of its first row; replies and "acknowledge all" use it
    bundle_id: int | None = Field(default=None, index=True)
    # the platform's id of the message (Telegram's message_id as text), so a reply maps back on any platform
    platform_message_id: str | None = Field(default=None, max_length=100, index=True)
    # a dispatcher claims a row before sending it, so two dispatchers never send the same row
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)  # 签收
