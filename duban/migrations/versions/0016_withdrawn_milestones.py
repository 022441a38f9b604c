"""A milestone the plan no longer has is withdrawn (已撤销), with when and by what, instead of staying open

A re-seed or import that moved a due date used to add a second milestone and leave the first one open, reminded and
escalated for ever. Now the date moves in place, and a milestone the source no longer lists gets the status
`withdrawn`: kept with its reports, never reminded, escalated or counted again.

PostgreSQL keeps the statuses in the native enum type `milestonestatus` (0001), which needs the new value added;
SQLite stores the enum as text and needs nothing. ADD VALUE may run inside the upgrade's transaction (PostgreSQL
12+), as long as nothing in that transaction uses the new value, which nothing does.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


OLD_STATUS = sa.Enum("open", "done", name="milestonestatus")
NEW_STATUS = sa.Enum("open", "done", "withdrawn", name="milestonestatus")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TYPE milestonestatus ADD VALUE IF NOT EXISTS 'withdrawn'")
    with op.batch_alter_table("milestone", schema=None) as batch_op:
        if op.get_bind().dialect.name != "postgresql":
            # elsewhere the enum is a VARCHAR as long as its longest value (4, now 9): SQLite would store the
            # longer text anyway, but the declared type follows the model, as the schema test wants
            batch_op.alter_column(
                "status", existing_type=OLD_STATUS, type_=NEW_STATUS, existing_nullable=False
            )
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("withdrawn_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )


def downgrade() -> None:
    # an older duban knows no withdrawn milestone; done is the status that keeps it unreminded and out of the
    # overdue ladder (PostgreSQL cannot drop an enum value, so the type keeps it, unused)
    op.execute("UPDATE milestone SET status = 'done', done_at = withdrawn_at WHERE status = 'withdrawn'")
    with op.batch_alter_table("milestone", schema=None) as batch_op:
        batch_op.drop_column("withdrawn_by")
        batch_op.drop_column("withdrawn_at")
