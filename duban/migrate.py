"""Schema migrations with Alembic: upgrade, and a check that refuses to run on an out-of-date schema.

A new database is made at the newest schema and stamped, so `duban db upgrade` always knows where it stands
(Alembic's recipe: create_all, then stamp head; a test keeps the models and the newest revision equal).
A database made by an older duban without a stamp (its tables made directly from the models) is recognised by
its tables, columns and indexes, stamped with the revision it matches, and upgraded from there.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, inspect
from sqlmodel import SQLModel

import models  # noqa: F401  (registers every table)
from duban.errors import DatabaseError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"

# table -> (columns, index names, trigger names): what a revision's schema looks like, as far as an unstamped
# database shows it (0020 adds triggers alone: without them 0018's tables would pass for 0020's and never get them)
Shape = dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]]


class SchemaOutOfDate(DatabaseError):
    """The database is behind (or ahead of) this version of duban; the message says what to run."""


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def head_revision() -> str:
    head = _scripts().get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config(engine)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # batch mode changes a SQLite column by copying the table, dropping it and renaming the copy; with
            # foreign keys enforced, dropping a table others point at (milestone, 0016) fails. Alembic's advice:
            # turn them off around the migration. The pragma is ignored inside a transaction, so it goes first;
            # the copy keeps every row and id, so nothing points nowhere afterwards.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def stamp(engine: Engine, revision: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.stamp(config, revision)


def create_schema(engine: Engine) -> None:
    """The tables of the models, stamped with the newest revision: how every new database comes into being."""
    SQLModel.metadata.create_all(engine)
    stamp(engine, "head")


def has_tables(engine: Engine) -> bool:
    return bool(inspect(engine).get_table_names())


def ensure_schema(engine: Engine) -> None:
    """A brand-new database is created at the newest schema; an existing one must already be up to date."""
    current = current_revision(engine)
    if current is None and not has_tables(engine):
        create_schema(engine)
        return
    if current is not None:
        _refuse_unknown(current)
    if current != head_revision():
        raise SchemaOutOfDate(
            "The database schema is at version {current}; this duban needs {head}. Run first: duban db upgrade",
            current=current or "（无）",
            head=head_revision(),
        )


def upgrade_any(engine: Engine) -> None:
    """`duban db upgrade`: from any revision, from nothing, or from an unstamped database an older duban made."""
    current = current_revision(engine)
    if current is None and has_tables(engine):
        stamp(engine, _revision_matching(engine))
    elif current is not None:
        _refuse_unknown(current)
    upgrade(engine)


def _refuse_unknown(current: str) -> None:
    """A revision this duban has no script for: a newer duban made the database, and no upgrade can help."""
    if current not in _revisions_newest_first():
        raise SchemaOutOfDate(
            "The database schema is at version {current}, which this duban does not know; a newer duban made it. "
            "Install that version again",
            current=current,
        )


def _revision_matching(engine: Engine) -> str:
    shape = _shape(engine)
    for revision in _revisions_newest_first():
        if _revision_shape(revision) == shape:
            return revision
    raise DatabaseError(
        "The database has tables but no schema version, and they match no version of duban; "
        "restore it from a backup or point DUBAN_DATABASE_URL at a new database"
    )


def _revisions_newest_first() -> list[str]:
    return [script.revision for script in _scripts().walk_revisions()]


def _shape(engine: Engine) -> Shape:
    inspector = inspect(engine)
    with engine.connect() as connection:
        on = triggers(connection)
    return {
        table: (
            frozenset(column["name"] for column in inspector.get_columns(table)),
            # the ix_ indexes the models declare; backends differ in the indexes behind unique constraints
            frozenset(
                str(index["name"])
                for index in inspector.get_indexes(table)
                if str(index["name"]).startswith("ix_")
            ),
            on.get(table, frozenset()),
        )
        for table in inspector.get_table_names()
        if table != VERSION_TABLE
    }


def triggers(connection: Connection, *, truncate: bool = False) -> dict[str, frozenset[str]]:
    """The triggers a database has, by table: those the schema made, not the ones PostgreSQL makes for foreign
    keys. PostgreSQL's TRUNCATE triggers only where `truncate`: a revision's shape is built on SQLite, which has
    no TRUNCATE, so a shape leaves them out."""
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")
    else:
        rows = connection.exec_driver_sql(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE NOT t.tgisinternal AND n.nspname = current_schema()"
            + ("" if truncate else " AND (t.tgtype & 32) = 0")  # 32: TRIGGER_TYPE_TRUNCATE
        )
    found: dict[str, set[str]] = {}
    for table, name in rows:
        found.setdefault(table, set()).add(name)
    return {table: frozenset(names) for table, names in found.items()}


@lru_cache
def _revision_shape(revision: str) -> Shape:
    """The shape a revision gives, built in a scratch in-memory SQLite database."""
    scratch = create_engine("sqlite://")
    try:
        upgrade(scratch, revision)
        return _shape(scratch)
    finally:
        scratch.dispose()
