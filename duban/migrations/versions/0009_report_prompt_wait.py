"""DingTalk's wait for a report after a reminder's 汇报 link, kept on the contact so it survives a restart

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("report_prompt_reminder_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("report_prompt_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_column("report_prompt_until")
        batch_op.drop_column("report_prompt_reminder_id")
