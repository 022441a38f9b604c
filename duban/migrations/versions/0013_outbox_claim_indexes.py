"""Indexes for the dispatcher's claim: the rows still owed in due order, and a contact's last message of a kind

sent_at's index gains due_at and id, so a claim reads its batch in due order and stops; contact_id's index gains
kind and sent_at, so "was this contact sent a message of this kind in the last minute?" is one index range on
PostgreSQL whatever its statistics say (without them it chose kind's index and took 0.8 s per claim at 100k rows).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_notification_sent_at_due_at", "notification", ["sent_at", "due_at", "id"], unique=False
    )
    op.drop_index("ix_notification_sent_at", table_name="notification")
    op.create_index(
        "ix_notification_contact_id_kind_sent_at",
        "notification",
        ["contact_id", "kind", "sent_at"],
        unique=False,
    )
    op.drop_index("ix_notification_contact_id", table_name="notification")


def downgrade() -> None:
    op.create_index("ix_notification_contact_id", "notification", ["contact_id"], unique=False)
    op.drop_index("ix_notification_contact_id_kind_sent_at", table_name="notification")
    op.create_index("ix_notification_sent_at", "notification", ["sent_at"], unique=False)
    op.drop_index("ix_notification_sent_at_due_at", table_name="notification")
