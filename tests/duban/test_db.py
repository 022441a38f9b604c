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


@pytest.mark.parametrize(
    ("server_says", "reason"),
    [
        (
            'connection failed: connection to server at "10.0.0.5", port 5433 failed: Connection refused\n'
            "\tIs the server running on that host and accepting TCP/IP connections?",
            "服务器拒绝连接：该地址上没有运行 PostgreSQL，或端口不对",
        ),
        ('FATAL:  password authentication failed for user "duban"', "用户名或密码错误"),
        ('FATAL:  role "duban" does not exist', "服务器上没有这个用户"),
        (
            'could not translate host name "db.internal" to address: Name or service not known',
            "无法解析主机名",
        ),
        ("connection timeout expired", "服务器未及时应答"),
        ("FATAL:  something new", "FATAL:  something new"),  # shown as the server said it
    ],
)
def test_why_the_server_cannot_be_reached_is_said_in_chinese(server_says: str, reason: str) -> None:
    url = make_url("postgresql+psycopg://duban@10.0.0.5:5433/county")
    error = sa_exc.OperationalError("connect", {}, Exception(server_says))
    assert _unreachable(url, error).render(CHINESE) == (
        f"无法连接 PostgreSQL 数据库 postgresql+psycopg://duban@10.0.0.5:5433/county（{reason}），"
        "请确认数据库服务在运行，并检查 DUBAN_DATABASE_URL"
    )
