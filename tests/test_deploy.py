"""deploy/: the image installs the wheel pyproject.toml describes (one list of packages) and runs as a user with a
health check; the build context leaves local state out; the env example, README's settings table and the program
name the same settings; the systemd unit runs where the example's relative paths land. Docker is not needed:
tests/test_packaging.py builds and runs the same wheel, and these tests read the files the image is built from."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

from tests.test_packaging import shipped_packages

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass(frozen=True)
class Stage:
    name: str | None
    base: str
    instructions: list[dict[str, Any]]

    def all(self, instruction: str) -> list[str]:
        return [item["value"] for item in self.instructions if item["instruction"] == instruction]

    def last(self, instruction: str) -> str:
        values = self.all(instruction)
        assert values, f"the stage {self.name or self.base} has no {instruction}"
        return values[-1]


def stages() -> list[Stage]:
    found: list[Stage] = []
    for item in DockerfileParser(str(DOCKERFILE)).structure:
        if item["instruction"] == "FROM":
            base, _, name = item["value"].partition(" AS ")
            found.append(Stage(name.strip() or None, base.strip(), []))
        elif item["instruction"] != "COMMENT":
            assert found, "an instruction before the first FROM"
            found[-1].instructions.append(item)
    return found


def exec_form(value: str) -> list[str]:
    argv = json.loads(value)
    assert isinstance(argv, list), value
    return [str(word) for word in argv]


def listen_port(argv: list[str]) -> str:
    """The port of --web-listen or --listen in a `duban run` command line."""
    for option in ("--web-listen", "--listen"):
        if option in argv:
            return argv[argv.index(option) + 1].rpartition(":")[2]
    raise AssertionError(f"no listen address in {argv}")


# ---------------------------------------------------------------- the image


def test_the_image_installs_the_wheel_its_build_stage_made_and_copies_no_package_by_hand() -> None:
    packages = set(shipped_packages())
    for stage in stages():
        for copy in stage.all("COPY") + stage.all("ADD"):
            words = [word for word in shlex.split(copy) if not word.startswith("--")]
            sources = {word.rstrip("/").removeprefix("./") for word in words[:-1]}
            assert not sources & packages, (
                f"copies a package by hand instead of installing the wheel: COPY {copy}"
            )

    *builders, runtime = stages()
    build = next((stage for stage in builders if any("pip wheel" in run for run in stage.all("RUN"))), None)
    assert build is not None and build.name, "a named build stage that runs `pip wheel`"
    assert runtime.all("COPY") == runtime.all("ADD") == [], "the runtime stage takes nothing from the context"
    installs = [run for run in runtime.all("RUN") if "pip install" in run]
    assert len(installs) == 1
    assert f"from={build.name}," in installs[0] and re.search(r"\S+\.whl\b", installs[0]), installs[0]


def test_the_runtime_stage_is_slim_with_no_build_tools_and_no_caches() -> None:
    runtime = stages()[-1]

    assert runtime.base == "python:3.11-slim"
    runs = runtime.all("RUN")
    apt = [run for run in runs if "apt-get install" in run]
    assert len(apt) == 1
    installed = re.search(r"apt-get install -y --no-install-recommends ([^&]+)", apt[0])
    assert installed is not None and installed.group(1).split() == ["fonts-noto-cjk"]
    assert "rm -rf /var/lib/apt/lists/*" in apt[0]  # in the same layer, or the lists stay in the image
    for run in runs:
        assert not re.search(r"\b(gcc|g\+\+|build-essential|make|git)\b", run), run
        if "pip install" in run:
            assert "--no-cache-dir" in run


def test_the_image_runs_as_a_user_and_checks_healthz_where_the_command_listens() -> None:
    runtime = stages()[-1]
    user = runtime.last("USER")
    assert user not in ("root", "0", "0:0")
    order = [item["instruction"] for item in runtime.instructions]
    assert order.index("USER") < order.index("CMD") and "USER" not in order[order.index("USER") + 1 :]

    check = runtime.last("HEALTHCHECK")
    url = re.search(r"http://127\.0\.0\.1:(\d+)/healthz", check)
    assert url is not None, check
    command = exec_form(runtime.last("CMD"))
    assert command[:2] == ["--log-json", "run"]
    assert listen_port(command) == url.group(1) == runtime.last("EXPOSE")


@pytest.fixture
def entrypoint_log(tmp_path: Path) -> Path:
    """A stand-in `duban` on PATH that records each call; `db upgrade` fails when UPGRADE_FAILS is set."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    stand_in = bin_dir / "duban"
    stand_in.write_text(
        '#!/bin/sh\necho "$*" >> "$CALLS"\n'
        'if [ "$1 $2" = "db upgrade" ] && [ -n "$UPGRADE_FAILS" ]; then echo "无法连接数据库" >&2; exit 1; fi\n',
        encoding="utf-8",
    )
    stand_in.chmod(0o755)
    return log


def _run_entrypoint(log: Path, arguments: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    runtime = stages()[-1]
    entrypoint = exec_form(runtime.last("ENTRYPOINT"))
    return subprocess.run(
        [*entrypoint, *arguments],
        env={"PATH": f"{log.parent / 'bin'}{os.pathsep}{os.defpath}", "CALLS": str(log), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_container_upgrades_the_database_before_it_runs_the_bot(entrypoint_log: Path) -> None:
    command = exec_form(stages()[-1].last("CMD"))

    result = _run_entrypoint(entrypoint_log, command)

    assert result.returncode == 0, result.stderr
    assert entrypoint_log.read_text().splitlines() == ["db upgrade", " ".join(command)]


def test_the_container_runs_any_other_command_as_given(entrypoint_log: Path) -> None:
    result = _run_entrypoint(entrypoint_log, ["status", "--department", "区教体局"])

    assert result.returncode == 0, result.stderr
    assert entrypoint_log.read_text().splitlines() == ["status --department 区教体局"]


def test_the_container_stops_with_the_upgrade_s_line_when_the_database_cannot_be_upgraded(
    entrypoint_log: Path,
) -> None:
    result = _run_entrypoint(entrypoint_log, exec_form(stages()[-1].last("CMD")), UPGRADE_FAILS="1")

    assert result.returncode == 1
    assert result.stderr == "无法连接数据库\n"
    assert entrypoint_log.read_text().splitlines() == ["db upgrade"]


def _ignored_by_docker(path: str) -> bool:
    """.dockerignore's patterns, read as Docker does for the kinds used there: `name`, `dir/`, `**/name`, `*.ext`."""
    patterns = [
        line.strip().strip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "!"))
    ]
    prefixes = [
        path.rsplit("/", depth)[0] for depth in range(path.count("/") + 1)
    ]  # the path and its folders
    return any(
        fnmatch.fnmatchcase(candidate, pattern)
        or (pattern.startswith("**/") and fnmatch.fnmatchcase(candidate.rsplit("/", 1)[-1], pattern[3:]))
        for pattern in patterns
        for candidate in prefixes
    )


def test_the_build_context_leaves_out_local_state_and_keeps_what_the_wheel_needs() -> None:
    for local in (
        ".git/config",
        ".venv/bin/python",
        "var/duban.db",
        ".env",
        "node_modules/x/package.json",
        "tests/e2e/node_modules/telegram-test-api/package.json",
        "duban/__pycache__/cli.cpython-311.pyc",
        "build/lib/duban/cli.py",  # a stale build folder would put deleted files into the wheel
        "duban.egg-info/SOURCES.txt",
    ):
        assert _ignored_by_docker(local), local
    for needed in (
        "pyproject.toml",
        "README.md",
        *(f"{package}/__init__.py" for package in shipped_packages()),
    ):
        assert not _ignored_by_docker(needed), needed


# ---------------------------------------------------------------- the settings: example, README, program

ENV_EXAMPLE = REPO / "deploy" / "duban.env.example"
SERVICE = REPO / "deploy" / "duban.service"
README = REPO / "README.md"
SETTING = re.compile(r"\b(?:DUBAN|TELEGRAM)_[A-Z0-9_]*[A-Z0-9]\b")


def settings_duban_reads() -> set[str]:
    """The variable of every field of duban/config.py's Settings: its alias, else the prefix and its name."""
    from duban.config import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    return {
        info.validation_alias if isinstance(info.validation_alias, str) else f"{prefix}{name}".upper()
        for name, info in Settings.model_fields.items()
    }


def example_settings() -> dict[str, str]:
    """NAME -> value for every `NAME=` line of the example, set or commented out (`# NAME=default`)."""
    found: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"#?\s*((?:DUBAN|TELEGRAM)_[A-Z0-9_]+)=(.*)", line.strip())
        if match:
            found.setdefault(match.group(1), match.group(2))
    return found


def readme_settings_table() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Settings\n") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"^\| `([A-Z0-9_]+)` \|", section, flags=re.MULTILINE)


def test_the_env_example_names_only_settings_duban_reads() -> None:
    read = settings_duban_reads()
    mentioned = set(SETTING.findall(ENV_EXAMPLE.read_text(encoding="utf-8")))

    assert (
        sorted(mentioned - read) == []
    )  # DUBAN_WEBHOOK_URL was one: only the old container's command read it
    assert sorted(set(example_settings()) - read) == []


def test_the_env_example_and_the_readme_settings_table_name_the_same_settings_and_all_of_them() -> None:
    table = readme_settings_table()

    assert len(table) == len(set(table)), "a setting listed twice in README"
    assert sorted(set(table) - set(example_settings())) == [], (
        "in README's settings table, not in the example"
    )
    assert sorted(set(example_settings()) - set(table)) == [], (
        "in the example, not in README's settings table"
    )
    assert sorted(settings_duban_reads() - set(table)) == [], "read by duban/config.py, not in README"


def test_the_env_example_as_shipped_is_a_working_sqlite_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Copied unchanged, the example loads without a refusal (empty means unset) and uses SQLite, the default:
    `duban demo` and `duban web` run with it before anyone has chosen a database server."""
    from duban.config import Settings

    for name in list(os.environ):
        if SETTING.fullmatch(name):
            monkeypatch.delenv(name)
    settings = Settings(_env_file=ENV_EXAMPLE)

    assert settings.database_url == "sqlite:///var/duban.db" == Settings.model_fields["database_url"].default
    assert (
        settings.telegram_bot_token is None and not settings.dingtalk_enabled and settings.secret_key is None
    )
    assert settings.web_base_url == example_settings()["DUBAN_WEB_BASE_URL"] == "http://127.0.0.1:8080"


def test_the_env_example_says_duban_run_and_duban_web_need_the_same_dashboard_address() -> None:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    setting = lines.index("DUBAN_WEB_BASE_URL=http://127.0.0.1:8080")
    start = setting
    while start > 0 and lines[start - 1].startswith("#"):
        start -= 1
    explanation = " ".join(line.lstrip("# ") for line in lines[start:setting])

    assert "Give `duban run` and `duban web` the same value" in explanation
    assert "sign-in links" in explanation


def unit_entries() -> dict[str, list[str]]:
    """KEY -> values of the systemd unit's active lines (comments aside)."""
    entries: dict[str, list[str]] = {}
    for line in SERVICE.read_text(encoding="utf-8").splitlines():
        key, equals, value = line.partition("=")
        if equals and not line.startswith(("#", ";", "[")):
            entries.setdefault(key.strip(), []).append(value.strip())
    return entries


def test_the_systemd_unit_reads_the_example_s_file_and_runs_where_its_paths_land() -> None:
    unit = unit_entries()
    example_header = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()[0]

    (env_file,) = unit["EnvironmentFile"]
    assert env_file == "/etc/duban/duban.env" and env_file in example_header
    (workdir,) = unit["WorkingDirectory"]
    assert workdir == stages()[-1].last("WORKDIR") == "/var/lib/duban"  # the container's too
    assert workdir in unit["ReadWritePaths"]
    assert sorted(set(SETTING.findall(SERVICE.read_text(encoding="utf-8"))) - settings_duban_reads()) == []

    (start,) = unit["ExecStart"]
    (before,) = unit["ExecStartPre"]
    program = start.split()[0]
    assert before == f"{program} db upgrade"
    assert start.split()[1:3] == ["--log-json", "run"]
    dashboard_port = example_settings()["DUBAN_WEB_BASE_URL"].rpartition(":")[2]
    assert listen_port(start.split()) == dashboard_port
