"""The outbox holds what to say, not how: a JSON payload instead of Telegram HTML, the platform's message id as
text, the department a message follows, and the bundle a row went out in.

Queued rows survive: a planner reminder becomes a structured row again (its key names the days before); any other
row keeps its text as a `legacy_text` payload, which renders as it was written.

Revision ID: 0006
Revises: 0004 (0005 belongs to another branch; the lead rechains at merge)
Create Date: 2026-11-30
"""

import json
import re
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLANNED = re.compile(r"^(reminder|co_notice):m\d+:c\d+:d(\d+):\d{4}-\d{2}-\d{2}$")
DEPARTMENT_KINDS = ("reminder", "co_notice", "rechase")

outbox = sa.table(
    "notification",
    sa.column("id", sa.Integer),
    sa.column("idempotency_key", sa.String),
    sa.column("kind", sa.String),
    sa.column("contact_id", sa.Integer),
    sa.column("department_id", sa.Integer),
    sa.column("chat_id", sa.BigInteger),
    sa.column("text", sa.Text),
    sa.column("payload", sa.JSON),
    sa.column("telegram_message_id", sa.BigInteger),
    sa.column("platform_message_id", sa.String),
)
contact = sa.table(
    "contact",
    sa.column("id", sa.Integer),
    sa.column("department_id", sa.Integer),
    sa.column("telegram_user_id", sa.BigInteger),
)


def payload_for(key: str, text: str) -> dict[str, object]:
    if planned := PLANNED.match(key):
        return {"days": int(planned.group(2)), "late_since": None}
    return {"legacy_text": text}


def upgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("department_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("payload", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("bundle_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("platform_message_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True)
        )
    connection = op.get_bind()
    departments = dict(connection.execute(sa.select(contact.c.id, contact.c.department_id)).all())
    rows = connection.execute(
        sa.select(
            outbox.c.id,
            outbox.c.idempotency_key,
            outbox.c.kind,
            outbox.c.contact_id,
            outbox.c.text,
            outbox.c.telegram_message_id,
        )
    ).all()
    for row_id, key, kind, contact_id, text, message_id in rows:
        connection.execute(
            outbox.update()
            .where(outbox.c.id == row_id)
            .values(
                payload=payload_for(key, text),
                platform_message_id=str(message_id) if message_id is not None else None,
                department_id=departments.get(contact_id) if kind in DEPARTMENT_KINDS else None,
            )
        )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.alter_column("payload", existing_type=sa.JSON(), nullable=False)
        batch_op.drop_index(batch_op.f("ix_notification_telegram_message_id"))
        batch_op.drop_column("telegram_message_id")
        batch_op.drop_column("chat_id")
        batch_op.drop_column("text")
        batch_op.create_index(batch_op.f("ix_notification_department_id"), ["department_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notification_bundle_id"), ["bundle_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_notification_platform_message_id"), ["platform_message_id"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_notification_department_id_department", "department", ["department_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("chat_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("telegram_message_id", sa.BigInteger(), nullable=True))
    connection = op.get_bind()
    chats = dict(connection.execute(sa.select(contact.c.id, contact.c.telegram_user_id)).all())
    rows = connection.execute(
        sa.select(outbox.c.id, outbox.c.contact_id, outbox.c.payload, outbox.c.platform_message_id)
    ).all()
    for row_id, contact_id, payload, message_id in rows:
        payload = json.loads(payload) if isinstance(payload, str) else payload or {}
        connection.execute(
            outbox.update()
            .where(outbox.c.id == row_id)
            .values(
                text=payload.get("legacy_text") or json.dumps(payload, ensure_ascii=False),
                chat_id=chats.get(contact_id),
                telegram_message_id=int(message_id) if message_id and message_id.isdigit() else None,
            )
        )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_constraint("fk_notification_department_id_department", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_notification_platform_message_id"))
        batch_op.drop_index(batch_op.f("ix_notification_bundle_id"))
        batch_op.drop_index(batch_op.f("ix_notification_department_id"))
        batch_op.alter_column("text", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("platform_message_id")
        batch_op.drop_column("bundle_id")
        batch_op.drop_column("payload")
        batch_op.drop_column("department_id")
        batch_op.create_index(
            batch_op.f("ix_notification_telegram_message_id"), ["telegram_message_id"], unique=False
        )
