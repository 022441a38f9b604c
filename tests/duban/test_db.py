"""Opening the database: a PostgreSQL database that is not there is refused with the fix, creating it."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from bot.i18n import gettext_for
from duban.db import _unreachable, open_database
from duban.errors import DatabaseError
from tests.conftest import EXTERNAL_URL, _on_sqlite

CHINESE = gettext_for("zh_CN")


@pytest.mark.parametrize(
    "server_says",
    [
        'connection failed: connection to server at "10.0.0.5", port 5433 failed: FATAL:  database "county" '
        "does not exist",
        '致命错误:  数据库 "county" 不存在',  # a server whose lc_messages is zh_CN
    ],
)
def test_a_missing_postgresql_database_is_answered_with_createdb(server_says: str) -> None:
    url = make_url("postgresql+psycopg://duban@10.0.0.5:5433/county")
    error = sa_exc.OperationalError("connect", {}, Exception(server_says))
    assert _unreachable(url, error).render(CHINESE) == (
        "PostgreSQL 服务器 10.0.0.5:5433 上没有数据库 county；请先创建：createdb -h 10.0.0.5 -p 5433 -U duban county"
        '（或在 psql 中执行 CREATE DATABASE "county";），再运行 duban db upgrade'
    )


def test_a_server_that_does_not_answer_is_not_told_to_create_a_database() -> None:
    url = make_url("postgresql+psycopg://duban@10.0.0.5:5433/county")
    error = sa_exc.OperationalError("connect", {}, Exception("connection refused"))
    assert "createdb" not in _unreachable(url, error).render(CHINESE)


@pytest.mark.skipif(_on_sqlite(), reason="needs the PostgreSQL server DUBAN_TEST_DATABASE_URL names")
def test_on_a_real_server_the_missing_database_gets_the_createdb_line() -> None:
    server = make_url(EXTERNAL_URL or "")
    missing = server.set(database="duban_test_never_created")
    with pytest.raises(DatabaseError) as refusal:
        open_database(missing.render_as_string(hide_password=False), create=False)
    line = refusal.value.render(CHINESE)
    assert "上没有数据库 duban_test_never_created；请先创建：createdb -h " in line
    assert line.endswith("再运行 duban db upgrade")
