"""Reminder delivery: outbox claims and acknowledgements, paused escalations, the escalation ladder's steps

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("milestone", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalation_paused_until", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("escalation_pause_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
        )
    op.create_table(
        "escalationstep",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("milestone_id", sa.Integer(), nullable=False),
        sa.Column("instance_due_on", sa.Date(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
        ),
        sa.ForeignKeyConstraint(
            ["milestone_id"],
            ["milestone.id"],
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notification.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("milestone_id", "instance_due_on", "step", "contact_id"),
    )
    with op.batch_alter_table("escalationstep", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_escalationstep_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_escalationstep_milestone_id"), ["milestone_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("escalationstep", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalationstep_milestone_id"))
        batch_op.drop_index(batch_op.f("ix_escalationstep_contact_id"))

    op.drop_table("escalationstep")
    with op.batch_alter_table("milestone", schema=None) as batch_op:
        batch_op.drop_column("escalation_pause_reason")
        batch_op.drop_column("escalation_paused_until")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_column("acknowledged_at")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")
