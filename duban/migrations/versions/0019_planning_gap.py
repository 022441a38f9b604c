"""Days no tick planned, longer than the catch-up window, with the reminders they cost

A running process that slept through more days than the catch-up window (a database outage, a suspended VM)
dropped the older send days without a word. Now the tick after such a gap records the reminders of those days as
skipped, as a start does, and one `planning_gap` row says which days were not planned and how many reminders of
each plan were never sent, so the dashboard can tell coordinators (models.planning.PlanningGap).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # empty: the first start after the upgrade records the stop it ends, if that was long enough
    op.create_table(
        "planning_gap",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job", "first_day"),
    )
    op.create_index(op.f("ix_planning_gap_last_day"), "planning_gap", ["last_day"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_planning_gap_last_day"), table_name="planning_gap")
    op.drop_table("planning_gap")
