"""Engine creation and the session boundary. Only the edges (CLI, bot, jobs) open sessions.

`open_database` is the one way a command gets its database: commands that write make a new one at the newest
schema (stamped, so `duban db upgrade` knows it); commands that only read refuse one that does not exist.
"""

from __future__ import annotations

import fcntl
import re
import shlex
from pathlib import Path
from typing import IO

from sqlalchemy import URL, Engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import create_engine

import models  # noqa: F401  (registers every table)
from duban.errors import DatabaseError, Phrase, os_reason
from duban.migrate import create_schema as create_schema  # tests and benches make databases through db
from duban.migrate import ensure_schema, has_tables

SQLITE_EXAMPLE = "sqlite:///var/duban.db"
POSTGRES_EXAMPLE = "postgresql+psycopg://duban@127.0.0.1:5432/duban"


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # psycopg prepares a statement after a few runs and may keep a plan made while a table was small;
    # the planner's key lookups slowed twentyfold that way on a long-running process (bench/FIGURES-scale.md)
    return create_engine(url, pool_pre_ping=True, connect_args={"prepare_threshold": None})


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # in WAL mode NORMAL syncs at checkpoints, not at every commit (SQLite's own advice for WAL): a crash of
    # duban loses nothing; a power cut may lose the last commits. The dispatcher commits twice a message, and
    # with FULL each commit's fsync was a quarter of a message's cost (bench/README.md, 2026-12-07)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    # deleted content is overwritten with zeros, not left in free pages: a value sealed since (a group robot's
    # webhook, migration 0021) or deleted leaves no copy in the file or a backup of it. SQLite's own default is off
    # (Debian's build turns it on)
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def open_database(url: str, *, create: bool) -> Engine:
    """An engine on a database at the newest schema, or DatabaseError saying in one line what is wrong.

    create=True (commands that write): a database that does not exist yet is made at the newest schema and
    stamped. create=False (commands that only read): a missing or empty database is refused and nothing is
    created. Either way an out-of-date schema is refused with the command that upgrades it.
    """
    engine = connect(url, create=create)
    try:
        if not create and not has_tables(engine):
            raise _missing(engine.url)
        ensure_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def connect(url: str, *, create: bool) -> Engine:
    """An engine whose database answers, without touching its schema (`duban db` works on any revision)."""
    parsed = parse_database_url(url)
    path = sqlite_file(parsed)
    if path is not None:
        if path.is_dir():
            raise DatabaseError(
                "DUBAN_DATABASE_URL names a folder, {path}; name a file, like {example}",
                path=path,
                example=SQLITE_EXAMPLE,
            )
        if not create and (not path.exists() or path.stat().st_size == 0):
            raise _missing(parsed)
    try:
        engine = make_engine(parsed.render_as_string(hide_password=False))
    except OSError as error:  # the folder for a new SQLite file cannot be made
        raise DatabaseError(
            "Cannot create the database {path}: {reason}", path=path, reason=os_reason(error)
        ) from None
    try:
        with engine.connect():
            pass
    except sa_exc.DBAPIError as error:
        engine.dispose()
        raise _unreachable(parsed, error) from None
    return engine


def parse_database_url(url: str) -> URL:
    """DUBAN_DATABASE_URL as SQLAlchemy reads it: SQLite or PostgreSQL (through psycopg), nothing else."""
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError:
        raise DatabaseError(
            "DUBAN_DATABASE_URL={url} is not a database URL; write it like {sqlite} or {postgres}",
            url=url,
            sqlite=SQLITE_EXAMPLE,
            postgres=POSTGRES_EXAMPLE,
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.get_driver_name() != "psycopg":
        return parsed.set(drivername="postgresql+psycopg")  # the driver duban installs
    if backend not in {"sqlite", "postgresql"}:
        raise DatabaseError(
            "duban works with SQLite or PostgreSQL, not {backend}; write DUBAN_DATABASE_URL like {sqlite} or {postgres}",
            backend=backend,
            sqlite=SQLITE_EXAMPLE,
            postgres=POSTGRES_EXAMPLE,
        )
    return parsed


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite database; None for PostgreSQL and in-memory SQLite."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def new_sqlite_file(url: str) -> Path | None:
    """The file a command would create: a SQLite database that does not exist yet (None otherwise)."""
    try:
        path = sqlite_file(make_url(url))
    except sa_exc.ArgumentError:
        return None
    return path if path is not None and not path.exists() else None


def discard_sqlite_file(path: Path) -> None:
    """Remove a SQLite database and its WAL files (a command that made it and then failed)."""
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        file.unlink(missing_ok=True)


def _where(url: URL) -> str:
    path = sqlite_file(url)
    return str(path) if path is not None else url.render_as_string(hide_password=True)


def _missing(url: URL) -> DatabaseError:
    return DatabaseError(
        "There is no duban database at {where}; check DUBAN_DATABASE_URL, or create one with duban seed",
        where=_where(url),
    )


def _unreachable(url: URL, error: sa_exc.DBAPIError) -> DatabaseError:
    reason = str(error.orig).strip().splitlines()[0] if str(error.orig).strip() else type(error.orig).__name__
    if url.get_backend_name() == "sqlite":
        return DatabaseError(
            "{where} is not a SQLite database duban can open ({reason}); check DUBAN_DATABASE_URL",
            where=_where(url),
            reason=reason,
        )
    if _NO_SUCH_DATABASE.search(reason):
        return _create_it(url)
    known = next((Phrase(phrase) for pattern, phrase in _SERVER_REASONS if pattern.search(reason)), None)
    return DatabaseError(
        "Cannot reach the PostgreSQL database {where} ({reason}); check that the server runs and DUBAN_DATABASE_URL",
        where=_where(url),
        reason=known or reason,
    )


# the server's words (English, or Chinese where its lc_messages is zh_CN): psycopg gives no SQLSTATE on connect
_NO_SUCH_DATABASE = re.compile(r'database "[^"]*" does not exist|数据库 ?"[^"]*" ?不存在')


# libpq's English for the usual causes, said in the catalogue's words; anything else is shown as the server said it
_SERVER_REASONS = [
    (
        re.compile(r"Connection refused|拒绝连接"),
        "the server refused the connection: it does not run there, or on another port",
    ),
    (
        re.compile(r"password authentication failed|no password supplied|密码认证失败"),
        "the user name or password is wrong",
    ),
    (
        re.compile(r"could not translate host name|Name or service not known|nodename nor servname"),
        "the host name is not known",
    ),
    (re.compile(r"timeout expired|timed out"), "the server did not answer in time"),
    (re.compile(r'role "[^"]*" does not exist|角色 ?"[^"]*" ?不存在'), "the server has no such user"),
    (re.compile(r"no pg_hba.conf entry"), "the server does not let this machine or user in (pg_hba.conf)"),
]


def _create_it(url: URL) -> DatabaseError:
    """The server answers, the database is not there: the fix is to create it (duban makes no databases on a
    server; the operator chooses its owner and encoding)."""
    name = url.database or ""
    createdb = ["createdb", "-h", url.host or "localhost", "-p", str(url.port or 5432)]
    if url.username:
        createdb += ["-U", url.username]
    quoted = name.replace('"', '""')
    return DatabaseError(
        "The PostgreSQL server {server} has no database {name}; create it with {createdb} (or in psql: "
        'CREATE DATABASE "{quoted}";), then run duban db upgrade',
        server=f"{url.host or 'localhost'}:{url.port or 5432}",
        name=name,
        createdb=shlex.join([*createdb, name]),
        quoted=quoted,
    )


class AlreadyRunning(DatabaseError):
    """A second `duban run` on one SQLite file."""


def single_instance_on_sqlite(engine: Engine) -> IO[str] | None:
    """A SQLite file serves one process; a second `duban run` on it refuses to start, saying why."""
    url = make_url(str(engine.url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    lock_path = Path(url.database + ".lock")
    handle = lock_path.open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise AlreadyRunning(
            "Another duban process is using {path}. SQLite serves one instance; for several, use PostgreSQL "
            "(DUBAN_DATABASE_URL) in webhook mode",
            path=url.database,
        ) from None
    handle.write(str(Path("/proc/self").resolve().name))
    handle.flush()
    return handle
