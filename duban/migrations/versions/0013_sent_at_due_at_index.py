"""The rows still owed in due order: sent_at's index gains due_at and id, so the dispatcher's claim reads its batch

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


def downgrade() -> None:
    op.create_index("ix_notification_sent_at", "notification", ["sent_at"], unique=False)
    op.drop_index("ix_notification_sent_at_due_at", table_name="notification")
