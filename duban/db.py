"""Engine creation and the session boundary. Only the edges (CLI, bot, jobs) open sessions."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import SQLModel, create_engine

import models  # noqa: F401  (registers every table)


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
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_schema(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine)


class AlreadyRunning(RuntimeError):
    pass


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
            f"另一个 duban 进程正在使用 {url.database}。SQLite 只支持单个实例；多实例部署请使用 PostgreSQL"
            "（DUBAN_DATABASE_URL）并以 webhook 模式运行。"
        ) from None
    handle.write(str(Path("/proc/self").resolve().name))
    handle.flush()
    return handle
