"""Every command, each kind of mistake: one line on stderr in the user's language, a non-zero exit, no traceback,
and the database file as it was (same bytes), or not created at all."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import text
from telegram.error import InvalidToken, NetworkError

import bot.telegram.process
from bot.i18n import gettext_for
from duban.cli import main
from duban.config import get_settings
from duban.db import make_engine
from duban.errors import ConfigurationError
from duban.migrate import head_revision, upgrade

PLAN_DOCUMENT = Path(__file__).resolve().parents[1] / "plan_import" / "fixtures" / "qishan-2024.txt"
DUBAN = Path(sys.executable).parent / "duban"  # the console script pip installed
TOKEN = "123456789:AAHtesttoken"

# every command, with arguments that would work on a seeded database
COMMANDS: dict[str, list[str]] = {
    "seed": ["seed"],
    "export": ["export"],
    "export-xlsx": ["export", "--format", "xlsx", "--output", "台账.xlsx"],
    "status": ["status"],
    "reminders": ["reminders", "--from", "2025-06-01"],
    "backup": ["backup", "--output", "copy.db"],
    "invite": ["invite", "--department", "区教体局"],
    "run": ["run"],
    "demo": ["demo", "--database", "demo.db"],
    "import-plan": ["import-plan", str(PLAN_DOCUMENT), "--load", "--key", "qishan"],
    "import-xlsx": [
        "import-xlsx",
        "项目.xlsx",
        "--plan",
        "demo-2024",
        "--region",
        "某县",
        "--title",
        "某县方案",
        "--issued-on",
        "2024-03-01",
    ],
    "db-upgrade": ["db", "upgrade"],
    "db-current": ["db", "current"],
}
USES_DATABASE_URL = [name for name in COMMANDS if name != "demo"]


@dataclass
class Mistake:
    """A bad setting: the environment to run with, and what the one line must say."""

    env: dict[str, str]
    says: str
    commands: list[str] = field(default_factory=lambda: list(COMMANDS))


MISTAKES = {
    "url-garbage": Mistake(
        {"DUBAN_DATABASE_URL": "garbage"},
        "DUBAN_DATABASE_URL=garbage 不是数据库地址，应写作 sqlite:///var/duban.db",
        USES_DATABASE_URL,
    ),
    "url-mysql": Mistake(
        {"DUBAN_DATABASE_URL": "mysql://duban@127.0.0.1/duban"},
        "duban 只支持 SQLite 和 PostgreSQL，不支持 mysql",
        USES_DATABASE_URL,
    ),
    "postgres-down": Mistake(
        {"DUBAN_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/duban"},
        "无法连接 PostgreSQL 数据库 postgresql+psycopg://postgres@127.0.0.1:1/duban",
        USES_DATABASE_URL,
    ),
    "not-sqlite": Mistake(
        {"DUBAN_DATABASE_URL": "sqlite:///notes.txt"},
        "notes.txt 不是可以打开的 SQLite 数据库",
        USES_DATABASE_URL,
    ),
    "timezone": Mistake(
        {"DUBAN_TIMEZONE": "Asia/Beijing"},
        "DUBAN_TIMEZONE 的值无法使用（Asia/Beijing），应写作 DUBAN_TIMEZONE=Asia/Shanghai 这样",
    ),
    "reminder-days-text": Mistake(
        {"DUBAN_REMINDER_DAYS": "每月"},
        "DUBAN_REMINDER_DAYS 的值无法使用（每月），应写作 DUBAN_REMINDER_DAYS=180,90,30,7,1 这样",
    ),
    "reminder-days-negative": Mistake(
        {"DUBAN_REMINDER_DAYS": "[30,-7]"},
        "DUBAN_REMINDER_DAYS 的值无法使用（[30,-7]）",
    ),
    # the README's and the env example's own placeholders, copied as they are: refused naming the setting
    "token-placeholder": Mistake(
        {"TELEGRAM_BOT_TOKEN": "123456789:AAH…"},
        "TELEGRAM_BOT_TOKEN 仍是示例中的占位内容（123456789:AAH…），请填入真实的值",
    ),
    "dingtalk-secret-placeholder": Mistake(
        {"DUBAN_DINGTALK_CLIENT_SECRET": "你的AppSecret"},
        "DUBAN_DINGTALK_CLIENT_SECRET 仍是示例中的占位内容（你的AppSecret），请填入真实的值",
    ),
    "dingtalk-id-placeholder": Mistake(
        {"DUBAN_DINGTALK_CLIENT_ID": "ding…", "DUBAN_DINGTALK_CLIENT_SECRET": "…"},
        "DUBAN_DINGTALK_CLIENT_ID 仍是示例中的占位内容（ding…），请填入真实的值",
    ),
    "corp-id-placeholder": Mistake(
        {"DUBAN_DINGTALK_CORP_ID": "<CorpId>"},
        "DUBAN_DINGTALK_CORP_ID 仍是示例中的占位内容（<CorpId>），请填入真实的值",
    ),
    "webhook-secret-placeholder": Mistake(
        {"DUBAN_WEBHOOK_SECRET": "your-webhook-secret"},
        "DUBAN_WEBHOOK_SECRET 仍是示例中的占位内容（your-webhook-secret），请填入真实的值",
    ),
    "document-code-with-brackets": Mistake(
        {"DUBAN_DOCUMENT_CODE": "淄教督〔2026〕"},
        "DUBAN_DOCUMENT_CODE 的值无法使用（淄教督〔2026〕），应写作 DUBAN_DOCUMENT_CODE=淄教督 这样",
        ["status"],
    ),
    "secret-key-placeholder": Mistake(
        {"DUBAN_SECRET_KEY": "changeme"},
        'DUBAN_SECRET_KEY 不是可用的密钥；请用 python -c "from cryptography.fernet import Fernet; '
        'print(Fernet.generate_key().decode())" 生成一个，填入 DUBAN_SECRET_KEY',
    ),
}


@pytest.fixture(scope="module")
def seeded_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded SQLite database, made once; each test works on its own copy."""
    folder = tmp_path_factory.mktemp("seeded")
    path = folder / "duban.db"
    previous = os.environ.get("DUBAN_DATABASE_URL")
    os.environ["DUBAN_DATABASE_URL"] = f"sqlite:///{path}"
    get_settings.cache_clear()
    try:
        assert main(["seed"]) == 0
    finally:
        if previous is None:
            del os.environ["DUBAN_DATABASE_URL"]
        else:
            os.environ["DUBAN_DATABASE_URL"] = previous
        get_settings.cache_clear()
    return path


@dataclass
class Workspace:
    folder: Path
    database: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def duban(self, argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
        """Run `duban ARGV` through main() in this folder with these settings; (exit code, stdout, stderr)."""
        for name, value in (env or {}).items():
            self.monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        self.capsys.readouterr()
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse refuses with exit 2
            code = int(exit_.code or 0)
        out, err = self.capsys.readouterr()
        get_settings.cache_clear()
        return code, out, err

    def contents(self) -> bytes | None:
        return self.database.read_bytes() if self.database.exists() else None


@pytest.fixture
def workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Workspace]:
    monkeypatch.chdir(tmp_path)
    for name in (
        "DUBAN_DATABASE_URL",
        "DUBAN_TIMEZONE",
        "DUBAN_REMINDER_DAYS",
        "DUBAN_LANGUAGE",
        "DUBAN_SECRET_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    database = tmp_path / "duban.db"
    monkeypatch.setenv("DUBAN_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    (tmp_path / "notes.txt").write_text("这不是数据库\n" * 200, encoding="utf-8")
    _project_list(tmp_path / "项目.xlsx")
    yield Workspace(tmp_path, database, monkeypatch, capsys)
    get_settings.cache_clear()


def _project_list(path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["序号", "项目名称", "主要任务", "完成时限", "责任分工"])
    sheet.append([1, "校舍改造", "改造校舍3万平方米。", "2025年底前", "县教育局、县财政局"])
    workbook.save(path)


def assert_one_line(err: str, says: str) -> None:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert says in lines[0]


# ---------------------------------------------------------------- bad settings × every command


@pytest.mark.parametrize(
    ("mistake", "command"),
    [(mistake, command) for mistake, m in MISTAKES.items() for command in m.commands],
)
def test_a_bad_setting_is_one_line_and_writes_nothing(
    workspace: Workspace, seeded_file: Path, mistake: str, command: str
) -> None:
    shutil.copy(seeded_file, workspace.database)
    before = workspace.contents()
    notes = (workspace.folder / "notes.txt").read_bytes()
    files = sorted(p.name for p in workspace.folder.iterdir())

    code, out, err = workspace.duban(COMMANDS[command], MISTAKES[mistake].env)

    assert code == 1
    assert_one_line(err, MISTAKES[mistake].says)
    if command != "import-plan":  # which reads the document and says what it found before loading
        assert out == ""
    assert workspace.contents() == before
    assert (workspace.folder / "notes.txt").read_bytes() == notes
    assert sorted(p.name for p in workspace.folder.iterdir()) == files


# ---------------------------------------------------------------- a database of another version


def _at_revision(path: Path, revision: str) -> None:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine, revision)
    if revision == "0002":  # then pretend a newer duban moved it on
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()


@pytest.mark.parametrize(
    ("state", "says"),
    [
        ("0001", f"数据库结构版本为 0001，本程序需要 {head_revision()}。请先运行：duban db upgrade"),
        ("0002", "数据库结构版本为 9999，本程序不认识这个版本，它由更新的 duban 创建"),
    ],
    ids=["older", "newer"],
)
@pytest.mark.parametrize("command", [c for c in USES_DATABASE_URL if not c.startswith("db-")])
def test_a_database_of_another_version_is_refused_unchanged(
    workspace: Workspace, state: str, says: str, command: str
) -> None:
    _at_revision(workspace.database, state)
    before = workspace.contents()
    code, _out, err = workspace.duban(COMMANDS[command])
    assert code == 1
    assert_one_line(err, says)
    assert workspace.contents() == before


def test_db_upgrade_refuses_a_database_a_newer_duban_made(workspace: Workspace) -> None:
    _at_revision(workspace.database, "0002")
    before = workspace.contents()
    code, _out, err = workspace.duban(["db", "upgrade"])
    assert code == 1
    assert_one_line(
        err, "数据库结构版本为 9999，本程序不认识这个版本，它由更新的 duban 创建。请重新安装那个版本"
    )
    assert workspace.contents() == before


# ---------------------------------------------------------------- a database that is not there


@pytest.mark.parametrize("command", ["export", "export-xlsx", "status", "reminders", "backup", "db-current"])
def test_reading_a_database_that_does_not_exist_names_it_and_creates_nothing(
    workspace: Workspace, command: str
) -> None:
    typo = workspace.folder / "dubna.db"
    code, out, err = workspace.duban(COMMANDS[command], {"DUBAN_DATABASE_URL": f"sqlite:///{typo}"})
    assert code == 1
    assert_one_line(err, f"{typo} 还没有 duban 数据库，请先运行 duban seed")
    assert not typo.exists()
    assert not (workspace.folder / "台账.xlsx").exists() and not (workspace.folder / "copy.db").exists()


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("invite", "还没有 duban 数据库，请先运行 duban seed"),  # nothing to invite to in an empty database
        (
            "import-xlsx-without-plan",
            "项目.xlsx：工作表“Sheet”：这是重点项目清单，请用 --plan 指定要导入的方案。未导入任何内容。",
        ),
    ],
)
def test_a_command_that_writes_and_fails_leaves_no_new_database(
    workspace: Workspace, command: str, says: str
) -> None:
    argv = ["import-xlsx", "项目.xlsx"] if command == "import-xlsx-without-plan" else COMMANDS[command]
    code, _out, err = workspace.duban(argv)
    assert code == 1
    assert_one_line(err, says)
    assert not workspace.database.exists()


# ---------------------------------------------------------------- bad input, refused while parsing


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["run", "--listen", "nonsense"],
            "duban run：参数 --listen：“nonsense”不是 主机:端口，应写作 127.0.0.1:8443",
        ),
        (["run", "--listen", "127.0.0.1:99999"], "“127.0.0.1:99999”不是 主机:端口"),
        (
            ["run", "--webhook-url", "bot.example.gov.cn"],
            "“bot.example.gov.cn”不是网址，应写作 https://bot.example.gov.cn",
        ),
        (["backup", "--output", "."], "duban backup：参数 --output：“.”是一个文件夹，请写出其中的文件名"),
        (
            ["export", "--format", "xlsx", "--output", "."],
            "“.”是一个文件夹，请写出其中的文件名，例如 台账.xlsx",
        ),
        (["backup", "--output", "no/such/folder/x.db"], "文件夹“no/such/folder”不存在"),
        (["reminders", "--days", "99999999"], "“99999999”不是有效的天数，请写 1 到 3660 之间的整数"),
        (["reminders", "--days", "-5"], "“-5”不是有效的天数"),
        (["reminders", "--days", "0"], "“0”不是有效的天数"),
        (["reminders", "--from", "9999-12-31"], "“9999-12-31”不是可用的日期，请写作 YYYY-MM-DD"),
        (["reminders", "--from", "2025-13-40"], "“2025-13-40”不是可用的日期"),
        (["import-xlsx", "项目.xlsx", "--issued-on", "2024-02-30"], "“2024-02-30”不是日期"),
        (["invite"], "请用 --department 指明部门（或用 --list、--cancel N）。"),
        (["export", "--format", "pdf"], "无效的选项：'pdf'"),
        (
            ["export", "--format", "xlsx", "--output", "t.csv"],
            "duban export 只写 .json 或 .xlsx 文件，不能写“t.csv”；请命名为 t.xlsx 这样。未写入任何内容",
        ),
        (
            ["export", "--output", "台账"],
            "duban export 只写 .json 或 .xlsx 文件，不能写“台账”；请命名为 台账.xlsx",
        ),
        (
            ["export", "--format", "xlsx", "--output", "t.json"],
            "--format xlsx 与文件名“t.json”不符；请命名为 t.xlsx，或不写 --format。未写入任何内容",
        ),
        (
            ["export", "--format", "json", "--output", "T.XLSX"],
            "--format json 与文件名“T.XLSX”不符；请命名为 T.json",
        ),
        (["nosuch"], "无效的选项：'nosuch'"),
    ],
)
def test_bad_input_is_refused_before_anything_is_opened(
    workspace: Workspace, seeded_file: Path, argv: list[str], says: str
) -> None:
    shutil.copy(seeded_file, workspace.database)
    before = workspace.contents()
    code, out, err = workspace.duban(argv)
    assert code == 2
    assert_one_line(err, says)
    assert out == ""
    assert workspace.contents() == before


# ---------------------------------------------------------------- bad input the command finds


def test_a_seed_file_with_an_impossible_date_loads_nothing(workspace: Workspace, seeded_file: Path) -> None:
    shutil.copy(seeded_file, workspace.database)
    before = workspace.contents()
    seed = workspace.folder / "bad.yaml"
    source = Path(__file__).resolve().parents[2] / "seed_data" / "pengshui-2023.yaml"
    seed.write_text(source.read_text(encoding="utf-8").replace("due_on: 2023-04-25", "due_on: 2025-13-40", 1))

    code, _out, err = workspace.duban(["seed", str(seed)])

    assert code == 1
    assert_one_line(
        err,
        "种子数据有误，未载入任何内容：bad.yaml：任务 （一）1（tasks[0]），字段 milestones.0.due_on：不是有效日期",
    )
    assert workspace.contents() == before


@pytest.mark.parametrize(("name", "magic"), [("台账.xlsx", b"PK"), ("plans.JSON", b"{")])
def test_without_format_the_file_name_decides(
    workspace: Workspace, seeded_file: Path, name: str, magic: bytes
) -> None:
    shutil.copy(seeded_file, workspace.database)
    code, _out, err = workspace.duban(["export", "--output", name])
    assert (code, err) == (0, "")
    assert (workspace.folder / name).read_bytes().startswith(magic)


def test_import_xlsx_for_a_plan_no_sheet_belongs_to_is_refused(
    workspace: Workspace, seeded_file: Path
) -> None:
    shutil.copy(seeded_file, workspace.database)
    code, _out, err = workspace.duban(["export", "--format", "xlsx", "--output", "台账.xlsx"])
    assert (code, err) == (0, "")
    before = workspace.contents()

    code, out, err = workspace.duban(["import-xlsx", "台账.xlsx", "--plan", "nosuch"])

    assert code == 1
    assert_one_line(err, "台账.xlsx：没有工作表属于方案 nosuch；数据库中的方案：anqiu-2023、")
    assert workspace.contents() == before


def test_run_without_a_token_says_which_variable(workspace: Workspace, seeded_file: Path) -> None:
    shutil.copy(seeded_file, workspace.database)
    before = workspace.contents()
    code, _out, err = workspace.duban(["run"], {"TELEGRAM_BOT_TOKEN": ""})
    assert code == 1
    assert_one_line(err, "没有设置 TELEGRAM_BOT_TOKEN，请填入 @BotFather 给出的令牌")
    assert workspace.contents() == before


@pytest.mark.parametrize(
    "empty",
    [
        {"TELEGRAM_BOT_TOKEN": ""},
        {"DUBAN_TIMEZONE": "", "DUBAN_REMINDER_DAYS": "", "DUBAN_LANGUAGE": "", "DUBAN_WEBHOOK_SECRET": ""},
    ],
    ids=["token", "others"],
)
def test_an_empty_variable_counts_as_unset_and_status_never_needs_a_token(
    workspace: Workspace, seeded_file: Path, empty: dict[str, str]
) -> None:
    shutil.copy(seeded_file, workspace.database)
    code, out, err = workspace.duban(["status"], empty)
    assert (code, err) == (0, "")
    assert "按方案" in out


def test_the_line_follows_the_interface_language(workspace: Workspace) -> None:
    code, _out, err = workspace.duban(["status"], {"DUBAN_LANGUAGE": "en", "DUBAN_TIMEZONE": "Asia/Beijing"})
    assert code == 1
    assert err == (
        "DUBAN_TIMEZONE has a value duban cannot use (Asia/Beijing); write it like DUBAN_TIMEZONE=Asia/Shanghai\n"
    )


# ---------------------------------------------------------------- network trouble at start-up


class Unreachable:
    """An application whose first Bot API call fails `failures` times, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def initialize(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise NetworkError("httpx.ConnectError: All connection attempts failed")


def test_startup_retries_network_trouble_with_a_doubling_wait(caplog: pytest.LogCaptureFixture) -> None:
    waits: list[float] = []

    async def pause(seconds: float) -> None:
        waits.append(seconds)

    application = Unreachable(failures=3)
    asyncio.run(bot.telegram.process.connect_to_telegram(application, sleep=pause))  # type: ignore[arg-type]

    assert application.calls == 4
    assert waits == [1.0, 2.0, 4.0]
    assert [r.getMessage() for r in caplog.records if r.name == "bot.telegram.process"] == [
        f"Telegram Bot API not reachable (httpx.ConnectError: All connection attempts failed); "
        f"try {n} of 6, next in {w:g} s"
        for n, w in ((1, 1), (2, 2), (3, 4))
    ]


def test_a_token_telegram_refuses_is_not_retried() -> None:
    class Refusing:
        calls = 0

        async def initialize(self) -> None:
            self.calls += 1
            raise InvalidToken("Unauthorized")

    async def pause(seconds: float) -> None:
        raise AssertionError("no retry for a refused token")

    application = Refusing()
    with pytest.raises(ConfigurationError) as refused:
        asyncio.run(bot.telegram.process.connect_to_telegram(application, sleep=pause))  # type: ignore[arg-type]
    assert application.calls == 1
    assert refused.value.render(gettext_for("zh_CN")) == (
        "Telegram 拒绝了 TELEGRAM_BOT_TOKEN（Unauthorized），请填入 @BotFather 给出的令牌"
    )


def test_run_with_no_network_logs_each_try_then_one_line(
    workspace: Workspace, seeded_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(seeded_file, workspace.database)
    waits: list[float] = []

    async def pause(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(bot.telegram.process, "startup_pause", pause)
    # port 9 (discard) refuses connections on a machine without it: no network to Telegram
    code, _out, err = workspace.duban(["run", "--base-url", "http://127.0.0.1:9/bot"])

    assert code == 1
    assert "Traceback" not in err
    *tries, last = err.splitlines()
    assert tries == [  # in the operator's language, the message alone without -v
        f"无法连接 Telegram Bot API（httpx.ConnectError: All connection attempts failed）；第 {n} 次，共 6 次，"
        f"{w:g} 秒后重试"
        for n, w in ((1, 1), (2, 2), (3, 4), (4, 8), (5, 16))
    ]
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert last.startswith("尝试 6 次仍无法连接 Telegram Bot API（")


def test_run_refuses_a_second_address_for_the_health_check(workspace: Workspace, seeded_file: Path) -> None:
    shutil.copy(seeded_file, workspace.database)
    code, out, err = workspace.duban(
        ["run", "--listen", "127.0.0.1:8081", "--web-listen", "127.0.0.1:8080"],
        {"TELEGRAM_BOT_TOKEN": "123:abc"},
    )
    assert (code, out) == (1, "")
    assert_one_line(err, "--web-listen 已同时提供网页端和 /healthz，请去掉 --listen")


# ---------------------------------------------------------------- through the installed `duban` script


def _script(argv: list[str], folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DUBAN_", "TELEGRAM_"))}
    return subprocess.run(
        [str(DUBAN), *argv],
        cwd=folder,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("argv", "env", "says"),
    [
        (["status"], {"DUBAN_DATABASE_URL": "garbage"}, "DUBAN_DATABASE_URL=garbage 不是数据库地址"),
        (["status"], {"DUBAN_DATABASE_URL": "sqlite:///dubna.db"}, "dubna.db 还没有 duban 数据库"),
        (["reminders", "--days", "-5"], {}, "“-5”不是有效的天数"),
        (["run"], {"TELEGRAM_BOT_TOKEN": ""}, "没有设置 TELEGRAM_BOT_TOKEN"),
        (["plans", "remove", "Anqiu 2023"], {}, "“Anqiu 2023”不能作为方案编号"),
        (["plans", "list"], {"DUBAN_DATABASE_URL": "sqlite:///dubna.db"}, "dubna.db 还没有 duban 数据库"),
    ],
)
def test_the_console_script_prints_one_line(
    tmp_path: Path, argv: list[str], env: dict[str, str], says: str
) -> None:
    done = _script(argv, tmp_path, **env)
    assert done.returncode != 0
    assert_one_line(done.stderr, says)
    assert list(tmp_path.iterdir()) == []


def test_export_into_a_closed_pipe_stops_quietly(tmp_path: Path, seeded_file: Path) -> None:
    url = f"sqlite:///{seeded_file}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DUBAN_", "TELEGRAM_"))}
    done = subprocess.run(
        f"'{DUBAN}' export | head -n 1",
        shell=True,
        cwd=tmp_path,
        env={**environment, "DUBAN_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout == "{\n"
    assert done.stderr == ""
