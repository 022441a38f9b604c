"""Each milestone's copy of its newest report is kept by triggers on progressreport, and repaired once

0015 copied the newest report onto its milestone (Milestone.latest_*) and left ORM events to keep the copy; every
other write (a bulk insert, an ORM bulk delete, a report edited or moved, raw SQL) left it stale, and on SQLite a
stale copy's id, reused by a report of another milestone, showed that milestone's report. Triggers now keep it for
every write, on both backends (models/newest_report.py, where create_all gets the same definitions: the SQL is
written out here as it stood, as a migration keeps the schema of its day). Then every copy that differs from its
milestone's newest report is recomputed, once.

A later migration that rebuilds progressreport or milestone on SQLite (batch mode) must drop these triggers first
and create them again after.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COPY = "latest_report_id, latest_reported_at, latest_report_status, latest_report_percent"
# the newest report of each milestone the WHERE names (latest reported_at, then highest id); NULLs where none is left
RECOMPUTE = (
    f"UPDATE milestone SET ({COPY}) = (SELECT r.id, r.reported_at, r.status, r.percent FROM progressreport r "
    "WHERE r.milestone_id = milestone.id ORDER BY r.reported_at DESC, r.id DESC LIMIT 1) WHERE {where}"
)
FUNCTION = "progressreport_newest_to_milestone"
INSERT, DELETE, UPDATE = (
    "progressreport_newest_after_insert",
    "progressreport_newest_after_delete",
    "progressreport_newest_after_update",
)
TRUNCATE = "progressreport_newest_after_truncate"  # PostgreSQL only
WATCHED = "id, milestone_id, reported_at, status, percent"

SQLITE = (
    f"CREATE TRIGGER {INSERT} AFTER INSERT ON progressreport\n"
    f"BEGIN\n    {RECOMPUTE.format(where='milestone.id = NEW.milestone_id')};\nEND",
    f"CREATE TRIGGER {DELETE} AFTER DELETE ON progressreport\n"
    f"BEGIN\n    {RECOMPUTE.format(where='milestone.id = OLD.milestone_id')};\nEND",
    f"CREATE TRIGGER {UPDATE} AFTER UPDATE OF {WATCHED} ON progressreport\n"
    f"BEGIN\n    {RECOMPUTE.format(where='milestone.id IN (OLD.milestone_id, NEW.milestone_id)')};\nEND",
)

POSTGRESQL = (
    f"""CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    touched integer[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE milestone SET ({COPY}) = (NULL, NULL, NULL, NULL) WHERE latest_report_id IS NOT NULL;
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        touched := ARRAY[NEW.milestone_id];
    ELSIF TG_OP = 'DELETE' THEN
        touched := ARRAY[OLD.milestone_id];
    ELSE
        touched := ARRAY[OLD.milestone_id, NEW.milestone_id];
    END IF;
    PERFORM 1 FROM milestone WHERE id = ANY (touched) ORDER BY id FOR NO KEY UPDATE;
    {RECOMPUTE.format(where="milestone.id = ANY (touched)")};
    RETURN NULL;
END
$$""",
    f"CREATE TRIGGER {INSERT} AFTER INSERT ON progressreport FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()",
    f"CREATE TRIGGER {DELETE} AFTER DELETE ON progressreport FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()",
    f"CREATE TRIGGER {UPDATE} AFTER UPDATE OF {WATCHED} ON progressreport "
    f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()",
    f"CREATE TRIGGER {TRUNCATE} AFTER TRUNCATE ON progressreport "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()",
)


def _drifted(differs: str) -> str:
    """The milestones whose copy differs from their newest report, or is set where no report is left."""
    return (
        "SELECT m.id FROM milestone m LEFT JOIN progressreport n ON n.id = (SELECT r.id FROM progressreport r "
        "WHERE r.milestone_id = m.id ORDER BY r.reported_at DESC, r.id DESC LIMIT 1) "
        f"WHERE m.latest_report_id {differs} n.id OR m.latest_reported_at {differs} n.reported_at "
        f"OR m.latest_report_status {differs} n.status OR m.latest_report_percent {differs} n.percent"
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE if sqlite else POSTGRESQL:
        op.execute(statement)
    # only the copies that differ are written: a large database rewrites a few rows, not every milestone
    op.execute(
        RECOMPUTE.format(where=f"milestone.id IN ({_drifted('IS NOT' if sqlite else 'IS DISTINCT FROM')})")
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in (INSERT, DELETE, UPDATE):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        return
    for name in (INSERT, DELETE, UPDATE, TRUNCATE):
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON progressreport")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
