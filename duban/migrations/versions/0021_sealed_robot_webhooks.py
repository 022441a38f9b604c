"""Group robots' webhooks and secrets sealed at rest with DUBAN_SECRET_KEY

A group robot's webhook URL carries its credential (DingTalk's access_token, WeCom's key, Feishu's hook id) and
its secret signs the posts: whoever holds a copy of the database could post into the county's work groups. They
are now kept sealed (Fernet, duban/sealing.py) in `webhook_sealed` and `secret_sealed`. The rows stored before keep
their plain values, renamed `plain_webhook_url` and `plain_secret` (nullable now), until the first command that has
the key seals them and empties those (duban.robots.seal_robots: `duban db upgrade` right after this migration when
the key is set, else `duban robot add|list|test` or the start of `duban run`). A migration reads no settings, so the
sealing itself is not done here.

SQLite rebuilds grouprobot (batch mode) to make the old columns nullable; no trigger lives on it (the triggers
0020 made are on progressreport and survive). The rebuilt table's old pages keep no plain value: duban opens SQLite
with secure_delete on (duban/db.py), which zeroes deleted content.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("grouprobot", schema=None) as batch_op:
        batch_op.alter_column(
            "webhook_url",
            new_column_name="plain_webhook_url",
            existing_type=sa.String(length=500),
            nullable=True,
        )
        batch_op.alter_column(
            "secret",
            new_column_name="plain_secret",
            existing_type=sa.String(length=200),
            existing_nullable=True,
        )
        batch_op.add_column(
            sa.Column("webhook_sealed", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True)
        )
        batch_op.add_column(
            sa.Column("secret_sealed", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
        )


def downgrade() -> None:
    # the sealed values cannot be opened without the key, which a migration does not read: refuse rather than lose
    # the robots (remove them with `duban robot remove`, downgrade, and add them again)
    sealed = op.get_bind().exec_driver_sql("SELECT count(*) FROM grouprobot WHERE webhook_sealed IS NOT NULL")
    if sealed.scalar_one():
        raise RuntimeError("0021 cannot be undone while group robots are sealed; remove them first")
    with op.batch_alter_table("grouprobot", schema=None) as batch_op:
        batch_op.drop_column("secret_sealed")
        batch_op.drop_column("webhook_sealed")
        batch_op.alter_column(
            "plain_secret",
            new_column_name="secret",
            existing_type=sa.String(length=200),
            existing_nullable=True,
        )
        batch_op.alter_column(
            "plain_webhook_url",
            new_column_name="webhook_url",
            existing_type=sa.String(length=500),
            nullable=False,
        )
