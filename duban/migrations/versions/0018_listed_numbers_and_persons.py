"""The numbers a contact was shown, and the person behind a contact's rows

`汇报 2` was looked up in the 任务 list as it stood when the report came in; after a 销号 the list renumbered and the
report landed on another milestone. `listedmilestone` keeps, per contact, the number each milestone was shown
under, so a typed number means what the person saw (models.people.ListedMilestone).

A person who took up a new invitation (a contact made coordinator) got a second row, and the check that a 销号 is
not approved by the person who asked compared rows. `contact.person_id` links a person's later rows to their first.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "listedmilestone",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("milestone_id", sa.Integer(), nullable=True),
        sa.Column("listed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.ForeignKeyConstraint(["milestone_id"], ["milestone.id"]),
        sa.PrimaryKeyConstraint("contact_id", "number"),
        sa.UniqueConstraint("contact_id", "milestone_id"),
    )
    op.create_index(
        op.f("ix_listedmilestone_milestone_id"), "listedmilestone", ["milestone_id"], unique=False
    )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds no constraint to a table, and rebuilding contact (a batch) fails while other tables' foreign
        # keys point at it; an added column may carry its REFERENCES clause
        op.execute("ALTER TABLE contact ADD COLUMN person_id INTEGER REFERENCES contact (id)")
    else:
        op.add_column(
            "contact", sa.Column("person_id", sa.Integer(), sa.ForeignKey("contact.id"), nullable=True)
        )
    op.create_index(op.f("ix_contact_person_id"), "contact", ["person_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_contact_person_id"), table_name="contact")
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_column("person_id")
    op.drop_index(op.f("ix_listedmilestone_milestone_id"), table_name="listedmilestone")
    op.drop_table("listedmilestone")
