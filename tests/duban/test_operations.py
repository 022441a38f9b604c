"""Backups and JSON-lines logs."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.i18n import LOCALE_DIR, gettext_for
from duban import redaction, workdays
from duban.cli import main
from duban.operations import (
    PROCESS_LOGGER,
    JsonLinesFormatter,
    TranslatingFormatter,
    backup,
    configure_logging,
)

NOW = dt.datetime(2026, 1, 5, 10, 0)
PO_FILE = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "duban.po"


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


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """configure_logging replaces the root's handlers; pytest's come back afterwards."""
    root, process = logging.getLogger(), logging.getLogger(PROCESS_LOGGER)
    saved = root.handlers[:], root.level, process.handlers[:], process.level, process.propagate
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    process.handlers[:], process.level, process.propagate = saved[2], saved[3], saved[4]


@pytest.mark.parametrize(
    ("json_lines", "says"),
    [
        (
            False,
            "注意：chinesecalendar 尚无 2100 年的法定节假日安排，暂按周一至周五为工作日计算；请升级 chinesecalendar "
            "软件包。",
        ),
        (
            True,
            "chinesecalendar has no official holiday data for 2100; treating Monday-Friday as working days. "
            "Upgrade the chinesecalendar package.",
        ),
    ],
    ids=["chinese line", "json stays english"],
)
def test_a_warning_among_a_commands_output_is_one_line_in_the_operators_language(
    json_lines: bool, says: str, logging_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(verbose=False, json_lines=json_lines, gettext=gettext_for("zh_CN"))
    workdays._warn_uncovered_year.cache_clear()
    workdays.is_working_day.cache_clear()

    assert workdays.is_working_day(dt.date(2100, 1, 4))  # a Monday, in a year the calendar does not cover

    [line] = capsys.readouterr().err.splitlines()
    assert (json.loads(line)["message"] if json_lines else line) == says


def test_the_process_lines_are_said_without_verbose(
    logging_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(verbose=False, json_lines=False, gettext=gettext_for("zh_CN"))
    logging.getLogger("duban.anything").info("Database: %s", "quiet without -v")
    logging.getLogger(PROCESS_LOGGER).info(
        "Database: %s", redaction.database_url("postgresql+psycopg://duban:pw@db/duban")
    )
    assert capsys.readouterr().err == "数据库：postgresql+psycopg://duban:***@db/duban\n"


def test_every_translated_log_line_keeps_its_placeholders_in_order() -> None:
    """A log line's translation is formatted with the English line's arguments: the same conversions, in order."""
    conversion = re.compile(r"%[-#0 +]*\d*(?:\.\d+)?[sdgfr]")
    with PO_FILE.open("rb") as po_file:
        catalog = read_po(po_file, locale="zh_CN")
    differing = [
        (message.id, message.string)
        for message in catalog
        if isinstance(message.id, str)
        and "python-format" in message.flags
        and [c[-1] for c in conversion.findall(message.id)]
        != [c[-1] for c in conversion.findall(message.string)]
    ]
    assert differing == []


def test_a_translation_that_does_not_fit_its_arguments_leaves_the_line_english() -> None:
    formatter = TranslatingFormatter("%(message)s", lambda text: "第 %d 条" if text == "line %s" else text)
    record = logging.makeLogRecord({"msg": "line %s", "args": ("seven",)})
    assert formatter.format(record) == "line seven"
