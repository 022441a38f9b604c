"""Backups and JSON-lines logs."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from duban.cli import main
from duban.operations import JsonLinesFormatter, backup

NOW = dt.datetime(2026, 1, 5, 10, 0)


def test_sqlite_backup_is_a_complete_copy(cli_env: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    if not cli_env.startswith("sqlite"):
        pytest.skip("the SQLite backup path")
    assert main(["seed"]) == 0
    target = tmp_path / "copy.db"
    assert main(["backup", "--output", str(target)]) == 0
    assert f"已备份到 {target}" in capsys.readouterr().out
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT count(*) FROM task").fetchone() == (139,)


@pytest.mark.skipif(
    not Path("/proc/self").is_dir(), reason="needs a folder where no file can be made (/proc)"
)
def test_a_backup_that_cannot_be_written_says_why_in_chinese(tmp_path: Path) -> None:
    database = tmp_path / "duban.db"
    sqlite3.connect(database).close()
    with pytest.raises(ValueError) as refusal:
        backup(f"sqlite:///{database}", Path("/proc/duban-backup.db"), now=NOW)
    assert (
        str(refusal.value) == "/proc/duban-backup.db：无法打开或创建这个文件（文件夹不存在，或没有写入权限）"
    )


def test_postgres_backup_prints_the_pg_dump_line() -> None:
    said = backup("postgresql+psycopg://duban@db.internal:5433/duban", Path("x.dump"), now=NOW)
    assert said.endswith(
        "pg_dump --format=custom --file=x.dump --host=db.internal --port=5433 --username=duban duban"
    )


def test_log_lines_are_json_objects() -> None:
    record = logging.LogRecord("duban.test", logging.WARNING, __file__, 1, "提醒 %s 未送达", ("n1",), None)
    entry = json.loads(JsonLinesFormatter().format(record))
    assert (entry["level"], entry["logger"], entry["message"]) == ("WARNING", "duban.test", "提醒 n1 未送达")
