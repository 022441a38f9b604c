"""Today's ORM writing into a database at an older revision: the columns later revisions add, for a while.

A migration test fills an old database with today's services (seeding, invites), which read and write every column
the models have; the columns added after that revision are there while they run and gone before the upgrade adds
them for real.
"""

from __future__ import annotations

from sqlalchemy import Engine

# table -> column -> SQL type, for the revisions before 0007
AFTER_0004 = {
    "contact": {
        "dingtalk_user_id": "VARCHAR(64)",  # 0007
        "report_prompt_reminder_id": "INTEGER",  # 0009
        "report_prompt_until": "TIMESTAMP",  # 0009
        "person_id": "INTEGER",  # 0018
    },
    "milestone": {  # 0015
        "latest_report_id": "INTEGER",
        "latest_reported_at": "TIMESTAMP",
        "latest_report_status": "VARCHAR(10)",
        "latest_report_percent": "INTEGER",
        "withdrawn_at": "TIMESTAMP",  # 0016
        "withdrawn_by": "VARCHAR(200)",
    },
}


def add_later_columns(engine: Engine, columns: dict[str, dict[str, str]] = AFTER_0004) -> None:
    with engine.begin() as connection:
        for table, added in columns.items():
            for column, sql_type in added.items():
                connection.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")


def drop_later_columns(engine: Engine, columns: dict[str, dict[str, str]] = AFTER_0004) -> None:
    with engine.begin() as connection:
        for table, added in columns.items():
            for column in added:
                connection.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
