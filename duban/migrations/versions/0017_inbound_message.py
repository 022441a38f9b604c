"""Incoming messages by the platform's id (DingTalk msgId, Telegram update_id), stored with their effect

A message redelivered after a restart, or to a second instance, was handled twice: the only duplicate filter was
in the DingTalk receiver's memory. The key (channel, message_id) is the primary key, so of two deliveries only one
can commit its effect; received_at's index lets the plan job forget rows older than a week.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inboundmessage",
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "message_id"),
    )
    op.create_index(op.f("ix_inboundmessage_received_at"), "inboundmessage", ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_inboundmessage_received_at"), table_name="inboundmessage")
    op.drop_table("inboundmessage")
