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
