"""The web dashboard's sign-in: single-use login links and browser sessions (token digests only)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("weblogin", "websession")


def upgrade() -> None:
    for table, end_column in (("weblogin", "used_at"), ("websession", "ended_at")):
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("contact_id", sa.Integer(), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("expires_at", sa.DateTime(), nullable=False),
            sa.Column(end_column, sa.DateTime(), nullable=True),
            sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
            sa.PrimaryKeyConstraint("id"),
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{table}_contact_id"), ["contact_id"], unique=False)
            batch_op.create_index(batch_op.f(f"ix_{table}_token_hash"), ["token_hash"], unique=True)


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_token_hash"))
            batch_op.drop_index(batch_op.f(f"ix_{table}_contact_id"))
        op.drop_table(table)
