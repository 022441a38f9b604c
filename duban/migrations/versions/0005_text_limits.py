"""Text limits: a /reject reason may be as long as validation allows (2,000 characters, was VARCHAR(500))

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("closeoutrequest", schema=None) as batch_op:
        batch_op.alter_column(
            "reason",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=500),
            type_=sqlmodel.sql.sqltypes.AutoString(length=2000),
            existing_nullable=True,
        )


def downgrade() -> None:
    # reasons longer than the old column are cut rather than refusing the downgrade
    op.execute("UPDATE closeoutrequest SET reason = substr(reason, 1, 500) WHERE length(reason) > 500")
    with op.batch_alter_table("closeoutrequest", schema=None) as batch_op:
        batch_op.alter_column(
            "reason",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=2000),
            type_=sqlmodel.sql.sqltypes.AutoString(length=500),
            existing_nullable=True,
        )
