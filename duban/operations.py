"""Operations: backups, JSON-lines logs, and who runs a command."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import pwd
import sqlite3
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url

from duban import redaction


def backup(database_url: str, output: Path | None, *, now: dt.datetime) -> str:
    """SQLite: a consistent copy made with the online backup API while the bot runs. PostgreSQL: the pg_dump line.

    Returns what to tell the operator.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("内存中的数据库无法备份")
        target = output or Path(url.database).with_name(f"duban-backup-{now:%Y%m%d-%H%M%S}.db")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with sqlite3.connect(url.database) as source, sqlite3.connect(target) as copy:
                source.backup(copy)
            copy.close()
        except sqlite3.Error as exc:  # an unwritable target, a full disk
            raise ValueError(f"{target}：{_sqlite_reason(exc)}") from None
        return f"已备份到 {target}"
    if url.get_backend_name() == "postgresql":
        parts = ["pg_dump", "--format=custom", f"--file={output or f'duban-{now:%Y%m%d-%H%M%S}.dump'}"]
        if url.host:
            parts.append(f"--host={url.host}")
        if url.port:
            parts.append(f"--port={url.port}")
        if url.username:
            parts.append(f"--username={url.username}")
        parts.append(url.database or "")
        return "PostgreSQL 请用 pg_dump 备份（可在运行中执行）：\n" + " ".join(parts)
    raise ValueError(f"不支持备份 {url.get_backend_name()} 数据库")


# SQLite's English ("unable to open database file") by its error name, as the operator can act on it
_SQLITE_REASONS = {
    "SQLITE_CANTOPEN": "无法打开或创建这个文件（文件夹不存在，或没有写入权限）",
    "SQLITE_FULL": "磁盘空间不足",
    "SQLITE_READONLY": "文件系统只读，或没有写入权限",
    "SQLITE_PERM": "没有权限",
    "SQLITE_IOERR": "磁盘读写出错",
    "SQLITE_BUSY": "数据库正被占用，请稍后再试",
    "SQLITE_LOCKED": "数据库正被占用，请稍后再试",
    "SQLITE_NOTADB": "不是 SQLite 数据库文件",
    "SQLITE_CORRUPT": "数据库文件已损坏",
}


def _sqlite_reason(error: sqlite3.Error) -> str:
    name = getattr(error, "sqlite_errorname", "") or ""
    for prefix, reason in _SQLITE_REASONS.items():
        if name == prefix or name.startswith(f"{prefix}_"):  # SQLITE_IOERR_WRITE and the like
            return reason
    return f"SQLite 出错（{name or type(error).__name__}）"


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line, for journald, Loki and the like."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# the lines that say what a running process does (channels up, dashboard address, scheduler role, stop): shown
# without -v, as plain lines, because they are the process's answer to "is it working?"
PROCESS_LOGGER = "duban.process"


class TranslatingFormatter(logging.Formatter):
    """Log lines in the operator's language: a record whose format string is a msgid of the catalogue (English,
    with %-placeholders) is written with its translation; any other line (a library's) as it came."""

    def __init__(self, fmt: str, gettext: Callable[[str], str]) -> None:
        super().__init__(fmt)
        self._gettext = gettext

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.msg, str) and record.msg:
            translated = self._gettext(record.msg)
            if translated != record.msg:
                candidate = logging.makeLogRecord({**record.__dict__, "msg": translated})
                try:
                    candidate.getMessage()
                    record = candidate
                except (TypeError, ValueError):  # a translation whose placeholders differ: the English line
                    pass
        return super().format(record)


def configure_logging(
    *, verbose: bool, json_lines: bool, gettext: Callable[[str], str] | None = None
) -> None:
    """Every command's logging: one handler on stderr, and no secret in any line (duban.redaction).

    Without -v a line is its message alone, translated by `gettext` (a warning among a command's output reads as
    one sentence); with -v it carries time, level and logger; JSON lines stay English, for the machines that read
    them. The process logger always speaks, in the same form, on a handler of its own.
    """
    redaction.install()
    translate = gettext or (lambda text: text)

    def handler(fmt: str) -> logging.Handler:
        made = logging.StreamHandler()
        made.setFormatter(JsonLinesFormatter() if json_lines else TranslatingFormatter(fmt, translate))
        return made

    detailed = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        handlers=[handler(detailed if verbose else "%(message)s")],
        force=True,
    )
    # APScheduler warns on every tick a job is still running ("skipped: maximum number of running instances"),
    # which a long send batch makes routine; its errors (a job that raised) still show
    logging.getLogger("apscheduler").setLevel(logging.INFO if verbose else logging.ERROR)
    process = logging.getLogger(PROCESS_LOGGER)
    for old in process.handlers[:]:
        process.removeHandler(old)
    process.addHandler(handler("%(asctime)s %(message)s" if verbose else "%(message)s"))
    process.setLevel(logging.INFO)
    process.propagate = False


def run_by(command: str) -> str:
    """The command line and the system account running it, for the rows a command changes on nobody's report
    (a milestone withdrawn by a re-seed): `duban seed anqiu-2023.yaml (alice)`."""
    try:
        account = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # an account without a name (a container run with a bare uid)
        account = f"uid {os.getuid()}"
    return f"{command} ({account})"
