"""Shared fixtures: a real database (SQLite file, or DUBAN_DATABASE_URL), seeded from seed_data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from duban.config import get_settings
from duban.db import create_schema, make_engine
from duban.seeding import load_seed

EXTERNAL_URL = os.environ.get("DUBAN_TEST_DATABASE_URL") or os.environ.get("DUBAN_DATABASE_URL")


def _fresh_database_url(tmp_path: Path) -> Iterator[str]:
    """A new empty database for one test: a temp SQLite file, or a new database on the given server."""
    if not EXTERNAL_URL or make_url(EXTERNAL_URL).get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'duban-test.db'}"
        return
    server = make_url(EXTERNAL_URL)
    name = f"duban_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    yield from _fresh_database_url(tmp_path)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@pytest.fixture
def seeded(session: Session) -> Session:
    load_seed(session=session)
    return session


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> str:
    """Point the settings the CLI reads at a fresh database."""
    monkeypatch.setenv("DUBAN_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()
