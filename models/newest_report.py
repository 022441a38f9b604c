"""Milestone.latest_*: each milestone's copy of its newest progress report, kept by the database itself.

A county's /status reads one row per milestone instead of searching the reports of thousands of milestones, so the
milestone row carries a copy of its newest report (latest reported_at, then highest id: `newest_first`). A copy
kept by the ORM's insert and delete events went stale for every other write: a bulk insert, an ORM bulk delete, a
report edited (its reported_at) or moved (its milestone_id), raw SQL; on SQLite a deleted report's id was then
reused by a report of another milestone, and the stale copy showed that milestone's report.

So triggers on progressreport keep it, on both backends, for every way a row can be written: after an insert, a
delete, and an update of any column the copy or its order reads (a moved report recomputes both milestones). Each
recomputes the copy from the milestone's rows (never from the copy it had), so a copy that drifted is right again
after the next write, and a reused id can only be found on the milestone whose report it now is. `duban db check`
compares every copy with its source and repairs drift (duban/derived.py).

The SQL is here once for the tables made by create_all (the after_create DDL below) and written out again in
migration 0020 for databases that upgrade; tests/duban/test_migrate.py holds the two to the same definitions. A
later migration that rebuilds progressreport or milestone on SQLite (Alembic's batch mode copies a table and renames
the copy) must drop these triggers first and create them again after: SQLite drops a table's triggers with it, and
refuses to rename a table while a trigger names one that is missing.
"""

from typing import Any

from sqlalchemy import Connection, Table, event

from models.people import ProgressReport

# the copy's columns, and the report columns they copy, in the same order
COPY_COLUMNS = ("latest_report_id", "latest_reported_at", "latest_report_status", "latest_report_percent")
REPORT_COLUMNS = ("id", "reported_at", "status", "percent")

# The newest report of each milestone the WHERE names, as `newest_first` orders reports; a milestone with no report
# left gets NULLs (a row-value subquery that finds no row gives NULL in every column, on both backends).
_COPY = ", ".join(COPY_COLUMNS)
_NEWEST = ", ".join(f"r.{c}" for c in REPORT_COLUMNS)
_RECOMPUTE = (
    f"UPDATE milestone SET ({_COPY}) = (SELECT {_NEWEST} FROM progressreport r "
    "WHERE r.milestone_id = milestone.id ORDER BY r.reported_at DESC, r.id DESC LIMIT 1) WHERE {where}"
)


def recompute(where: str) -> str:
    """UPDATE milestone rows matching `where` (SQL) to the copy of their newest report."""
    return _RECOMPUTE.format(where=where)


def drifted_milestones(dialect: str) -> str:
    """SELECT the ids of milestones whose copy differs from their newest report (or is set with no report)."""
    differs = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"  # NULL-safe on both backends
    compared = " OR ".join(
        f"m.{copy} {differs} n.{column}" for copy, column in zip(COPY_COLUMNS, REPORT_COLUMNS, strict=True)
    )
    return (
        "SELECT m.id FROM milestone m LEFT JOIN progressreport n ON n.id = (SELECT r.id FROM progressreport r "
        f"WHERE r.milestone_id = m.id ORDER BY r.reported_at DESC, r.id DESC LIMIT 1) WHERE {compared}"
    )


# what a write must change for the copy to change: the report's milestone, anything copied, anything ordered by
WATCHED = ("id", "milestone_id", "reported_at", "status", "percent")
TRIGGERS = (
    "progressreport_newest_after_insert",
    "progressreport_newest_after_delete",
    "progressreport_newest_after_update",
)
# PostgreSQL also clears the copies when progressreport is truncated (SQLite has no TRUNCATE: its DELETE fires rows)
POSTGRESQL_TRUNCATE_TRIGGER = "progressreport_newest_after_truncate"
POSTGRESQL_FUNCTION = "progressreport_newest_to_milestone"

SQLITE = (
    f"CREATE TRIGGER {TRIGGERS[0]} AFTER INSERT ON progressreport\n"
    f"BEGIN\n    {recompute('milestone.id = NEW.milestone_id')};\nEND",
    f"CREATE TRIGGER {TRIGGERS[1]} AFTER DELETE ON progressreport\n"
    f"BEGIN\n    {recompute('milestone.id = OLD.milestone_id')};\nEND",
    f"CREATE TRIGGER {TRIGGERS[2]} AFTER UPDATE OF {', '.join(WATCHED)} ON progressreport\n"
    f"BEGIN\n    {recompute('milestone.id IN (OLD.milestone_id, NEW.milestone_id)')};\nEND",
)

# One row-level function for the three row triggers. Two transactions writing reports of one milestone at once
# (READ COMMITTED) must not leave the copy of whichever committed first's snapshot: the function locks the milestone
# rows first, and only then reads the reports, in a statement of its own, whose snapshot (a plpgsql function is
# VOLATILE) is taken after the lock was granted, so it sees the other writer's committed report. The rows are locked
# in id order, so two moves between the same milestones cannot deadlock on each other.
POSTGRESQL = (
    f"""CREATE FUNCTION {POSTGRESQL_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    touched integer[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE milestone SET ({_COPY}) = (NULL, NULL, NULL, NULL) WHERE latest_report_id IS NOT NULL;
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        touched := ARRAY[NEW.milestone_id];
    ELSIF TG_OP = 'DELETE' THEN
        touched := ARRAY[OLD.milestone_id];
    ELSE
        touched := ARRAY[OLD.milestone_id, NEW.milestone_id];
    END IF;
    PERFORM 1 FROM milestone WHERE id = ANY (touched) ORDER BY id FOR NO KEY UPDATE;
    {recompute("milestone.id = ANY (touched)")};
    RETURN NULL;
END
$$""",
    f"CREATE TRIGGER {TRIGGERS[0]} AFTER INSERT ON progressreport "
    f"FOR EACH ROW EXECUTE FUNCTION {POSTGRESQL_FUNCTION}()",
    f"CREATE TRIGGER {TRIGGERS[1]} AFTER DELETE ON progressreport "
    f"FOR EACH ROW EXECUTE FUNCTION {POSTGRESQL_FUNCTION}()",
    f"CREATE TRIGGER {TRIGGERS[2]} AFTER UPDATE OF {', '.join(WATCHED)} ON progressreport "
    f"FOR EACH ROW EXECUTE FUNCTION {POSTGRESQL_FUNCTION}()",
    f"CREATE TRIGGER {POSTGRESQL_TRUNCATE_TRIGGER} AFTER TRUNCATE ON progressreport "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {POSTGRESQL_FUNCTION}()",
)


def create_statements(dialect: str) -> tuple[str, ...]:
    return SQLITE if dialect == "sqlite" else POSTGRESQL


def drop_statements(dialect: str) -> tuple[str, ...]:
    if dialect == "sqlite":
        return tuple(f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGERS)
    return (
        *(
            f"DROP TRIGGER IF EXISTS {name} ON progressreport"
            for name in (*TRIGGERS, POSTGRESQL_TRUNCATE_TRIGGER)
        ),
        f"DROP FUNCTION IF EXISTS {POSTGRESQL_FUNCTION}()",
    )


def expected_triggers(dialect: str) -> frozenset[str]:
    """The triggers on progressreport that keep the copy, by name."""
    return frozenset(TRIGGERS if dialect == "sqlite" else (*TRIGGERS, POSTGRESQL_TRUNCATE_TRIGGER))


def install(connection: Connection) -> None:
    """(Re)create the triggers: dropped first, so a database missing some, or with an older body, ends up right."""
    for statement in (*drop_statements(connection.dialect.name), *create_statements(connection.dialect.name)):
        connection.exec_driver_sql(statement)


def _after_create(_table: Table, connection: Connection, **_kw: Any) -> None:
    for statement in create_statements(connection.dialect.name):
        connection.exec_driver_sql(statement)


def _after_drop(_table: Table, connection: Connection, **_kw: Any) -> None:
    # SQLite and PostgreSQL drop a table's triggers with it; PostgreSQL's function stays behind
    if connection.dialect.name != "sqlite":
        connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {POSTGRESQL_FUNCTION}()")


# a database made by create_all (every new one: duban.migrate.create_schema) gets the triggers with the table
event.listen(ProgressReport.__table__, "after_create", _after_create)  # type: ignore[attr-defined]
event.listen(ProgressReport.__table__, "after_drop", _after_drop)  # type: ignore[attr-defined]
