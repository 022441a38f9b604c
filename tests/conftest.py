"""Shared fixtures: a real database (SQLite file, or the server DUBAN_TEST_DATABASE_URL names), seeded from
seed_data.

The tests run with their own settings, never the developer's: at session start every DUBAN_* variable and
TELEGRAM_BOT_TOKEN inherited from the shell is removed (but for the test-only ones in TEST_ONLY), and DUBAN_ENV_FILE
points at os.devnull, so no `.env` is read, in this process or in the `duban` processes the tests start. PostgreSQL
is chosen with DUBAN_TEST_DATABASE_URL alone (.ci/run sets it): a DUBAN_DATABASE_URL exported for the bot is not
the tests' server, and no test database is ever made or dropped on it.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from duban.config import ENV_FILE_VARIABLE, get_settings
from duban.db import create_schema, make_engine
from duban.migrate import has_tables
from duban.seeding import load_seed
from tests.ci import on_ci

# randomised tests draw the same examples on every CI run (a failure there is reproducible); locally they explore
settings.register_profile("ci", derandomize=True, database=None)
if on_ci():
    settings.load_profile("ci")

# variables the tests themselves read: the PostgreSQL server to make test databases on, the one the e2e instance
# test uses, and how many random examples the hostile-input test draws
TEST_ONLY = frozenset({"DUBAN_TEST_DATABASE_URL", "DUBAN_TEST_POSTGRES_URL", "DUBAN_HYPOTHESIS_EXAMPLES"})


def _forget_the_developers_settings() -> None:
    for name in list(os.environ):
        if (name.startswith("DUBAN_") and name not in TEST_ONLY) or name == "TELEGRAM_BOT_TOKEN":
            del os.environ[name]
    os.environ[ENV_FILE_VARIABLE] = os.devnull
    get_settings.cache_clear()


_forget_the_developers_settings()  # before any test module is imported, so none reads them either
EXTERNAL_URL = os.environ.get("DUBAN_TEST_DATABASE_URL")


class DatabaseTemplates:
    """Databases built once per run and copied for each test: empty, at the newest schema, or seeded too.

    Seeding writes some 450 flushes; copying a seeded database (a file on SQLite, CREATE DATABASE … TEMPLATE on
    PostgreSQL) takes a few milliseconds, and the copy is the same database a test would have seeded itself.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._server = None if _on_sqlite() else make_url(EXTERNAL_URL or "")
        self._prefix = f"duban_test_{uuid.uuid4().hex[:8]}"
        self._built: dict[str, str] = {}  # kind -> the template's URL
        self._made: list[str] = []  # PostgreSQL databases to drop at the end
        self._numbers = itertools.count(1)
        self.seeded_urls: set[str] = set()

    def fresh(self, tmp_path: Path, kind: str | None) -> str:
        """A new database for one test: empty where kind is None, else a copy of that template."""
        if self._server is None:
            target = tmp_path / "duban-test.db"
            if kind is not None:
                template = make_url(self._template(kind)).database or ""
                with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(target)) as copy:
                    source.backup(copy)
            url = f"sqlite:///{target}"
        else:
            name = f"{self._prefix}_{next(self._numbers)}"
            template = "" if kind is None else f' TEMPLATE "{make_url(self._template(kind)).database}"'
            self._admin(f'CREATE DATABASE "{name}"{template}')
            self._made.append(name)
            url = self._server.set(database=name).render_as_string(hide_password=False)
        if kind == "seeded":
            self.seeded_urls.add(url)
        return url

    def drop(self, url: str) -> None:
        if self._server is not None:
            self._admin(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
            self._made.remove(make_url(url).database or "")

    def close(self) -> None:
        for name in list(self._made):
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _template(self, kind: str) -> str:
        """The URL of the template of this kind, built on first use."""
        if kind not in self._built:
            if self._server is None:
                url = f"sqlite:///{self._directory / f'{kind}.db'}"
            else:
                name = f"{self._prefix}_{kind}"
                self._admin(f'CREATE DATABASE "{name}"')
                self._made.append(name)
                url = self._server.set(database=name).render_as_string(hide_password=False)
            engine = make_engine(url)
            create_schema(engine)
            if kind == "seeded":
                with Session(engine) as session:
                    load_seed(session=session)
            engine.dispose()  # a template must have no connection open while it is copied
            self._built[kind] = url
        return self._built[kind]

    def _admin(self, statement: str) -> None:
        assert self._server is not None
        admin = create_engine(self._server.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(statement))
        finally:
            admin.dispose()


def _on_sqlite() -> bool:
    return not EXTERNAL_URL or make_url(EXTERNAL_URL).get_backend_name() == "sqlite"


@pytest.fixture(scope="session")
def database_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseTemplates]:
    templates = DatabaseTemplates(tmp_path_factory.mktemp("templates"))
    yield templates
    templates.close()


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, database_templates: DatabaseTemplates
) -> Iterator[str]:
    """A new database for one test: seeded where the test asks for `seeded`, at the newest schema where it asks
    for `engine`, else empty (the CLI and migration tests make their own)."""
    wanted = set(request.fixturenames)
    kind = "seeded" if "seeded" in wanted else "schema" if "engine" in wanted else None
    url = database_templates.fresh(tmp_path, kind)
    yield url
    database_templates.drop(url)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    if not has_tables(engine):
        create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@pytest.fixture
def seeded(session: Session, database_url: str, database_templates: DatabaseTemplates) -> Session:
    if database_url not in database_templates.seeded_urls:
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
