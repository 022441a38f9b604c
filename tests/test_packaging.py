"""The wheel holds the whole program, proven without Docker: built from the checkout's files alone (what a fresh
clone and deploy/Dockerfile's build stage see), installed into a virtual environment that cannot see the source
tree, run from a folder outside the repository with no PYTHONPATH, it answers `duban --help` in Chinese, runs the
demo, migrates a new database and serves the dashboard.

The dependencies are the ones the wheel declares and no others: every distribution its Requires-Dist brings (with
their own requirements, extras and markers followed), taken from the environment running the tests and linked
into one folder that a .pth line puts on the new environment's path. So a module importing a package pyproject.toml
does not list (a test tool, say, or one that only came along with another) fails here as it would in the image,
and the running environment's editable install of duban, which points at this checkout, is never on the path.
"""

from __future__ import annotations

import email.parser
import importlib.metadata
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from duban.migrate import head_revision
from tests.test_repository import tracked_files

REPO = Path(__file__).resolve().parents[1]


def shipped_packages() -> list[str]:
    """The top-level packages pyproject.toml ships (its `include` patterns, `duban*` meaning duban and below)."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted({pattern.rstrip("*").rstrip(".") for pattern in patterns})


def checkout_files() -> list[str]:
    """The files a fresh clone has, as paths relative to the repository (tests/test_repository.py lists them)."""
    return sorted(path.relative_to(REPO).as_posix() for path in tracked_files(REPO) if path.is_file())


def declared_dependencies(wheel: Path) -> list[Path]:
    """The top-level files and folders (dist-info included) of every distribution `pip install <wheel>` would
    add, as installed in the environment running the tests."""
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        declared = email.parser.Parser().parsestr(archive.read(metadata).decode("utf-8"))
    extras_of: dict[str, set[str]] = {}
    pending = [(Requirement(line), {""}) for line in declared.get_all("Requires-Dist") or []]
    while pending:
        requirement, extras_of_requirer = pending.pop()
        marker = requirement.marker
        if marker is not None and not any(marker.evaluate({"extra": extra}) for extra in extras_of_requirer):
            continue  # another platform's, or an extra nobody asked for (duban's [test] and [dev])
        name = canonicalize_name(requirement.name)
        extras = set(requirement.extras) | {""}
        if name in extras_of and extras <= extras_of[name]:
            continue
        extras_of[name] = extras_of.get(name, set()) | extras
        distribution = importlib.metadata.distribution(name)
        pending += [(Requirement(line), extras_of[name]) for line in distribution.requires or []]
    entries: set[Path] = set()
    for name in extras_of:
        distribution = importlib.metadata.distribution(name)
        for file in distribution.files or []:
            if file.parts[0] not in ("..", "__pycache__"):
                entries.add(Path(str(distribution.locate_file(file.parts[0]))))
    return sorted(entry for entry in entries if entry.exists())


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    outside: Path  # a folder outside the repository: the commands' working directory, with no .env
    env: dict[str, str]

    def command(self, name: str) -> Path:
        return self.venv / "bin" / name

    def run(
        self, *args: str, database: Path | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if database is not None:
            env["DUBAN_DATABASE_URL"] = f"sqlite:///{database}"
        return subprocess.run(
            [str(self.command("duban")), *args],
            cwd=self.outside,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("packaging")
    source = root / "checkout"
    for name in checkout_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)

    dist = root / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(source)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("duban-*.whl")

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", str(wheel)],
        # a PYTHONPATH naming a checkout (with its .egg-info) would make pip think duban is installed already
        env={name: value for name, value in os.environ.items() if name != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pip.returncode == 0, pip.stderr
    site_packages = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    dependencies = root / "dependencies"
    dependencies.mkdir()
    for entry in declared_dependencies(wheel):
        (dependencies / entry.name).symlink_to(entry)
    (site_packages / "zz-declared-dependencies.pth").write_text(f"{dependencies}\n", encoding="utf-8")

    outside = root / "elsewhere"
    outside.mkdir()
    # no DUBAN_*, TELEGRAM_*, PYTHONPATH or VIRTUAL_ENV from the developer's shell: only what the program is given
    env = {
        "PATH": os.defpath,
        "HOME": str(outside),
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "DUBAN_DATABASE_URL": f"sqlite:///{outside / 'duban.db'}",
    }
    return Installed(wheel=wheel, venv=venv, outside=outside, env=env)


def test_the_wheel_holds_every_file_of_the_shipped_packages_and_nothing_else(installed: Installed) -> None:
    packages = shipped_packages()
    expected = {
        name
        for name in checkout_files()
        if name.split("/", 1)[0] in packages and "__pycache__" not in name.split("/")
    }
    with zipfile.ZipFile(installed.wheel) as wheel:
        shipped = {name for name in wheel.namelist() if ".dist-info/" not in name}

    assert sorted(expected - shipped) == [], "in the checkout's packages but not in the wheel"
    assert sorted(shipped - expected) == [], "in the wheel but not in the checkout's packages"
    # the program's data, named, so a narrowed package list cannot pass by shipping less of everything
    for data in (
        "bot/locale/zh_CN/LC_MESSAGES/duban.po",
        "web/templates/base.html",
        "web/static/style.css",
        "duban/migrations/env.py",
        "duban/migrations/script.py.mako",
        "duban/migrations/versions/0001_initial_schema.py",
        "seed_data/anqiu-2023.yaml",
        "seed_data/sources/anqiu-2023.txt",
    ):
        assert data in shipped


# Imports every module of the shipped packages in the new environment and names any that fails or that comes from
# anywhere but that environment. duban/migrations/env.py is left out: Alembic runs it (`duban db upgrade` below);
# so is duban/__main__.py, which is `python -m duban` and runs the program when imported.
IMPORT_ALL = """
import importlib, pkgutil, sys, traceback
from pathlib import Path
venv = Path(sys.prefix).resolve()
wrong = []
for top in sys.argv[1:]:
    modules = [top] + [
        info.name
        for info in pkgutil.walk_packages(importlib.import_module(top).__path__, top + ".")
        if info.name != "duban.migrations.env" and not info.name.endswith(".__main__")  # runs the program
    ]
    for name in modules:
        try:
            module = importlib.import_module(name)
        except Exception:
            wrong.append(f"{name}: {traceback.format_exc(limit=1)}")
            continue
        where = Path(module.__file__).resolve()
        if not where.is_relative_to(venv):
            wrong.append(f"{name} comes from {where}")
print(len(sys.modules))
sys.exit("\\n".join(wrong) or None)
"""


def test_every_module_imports_from_the_installed_wheel_alone(installed: Installed) -> None:
    packages = shipped_packages()
    assert {"bot", "duban", "models", "scheduler", "seed_data", "web"} <= set(packages)

    result = subprocess.run(
        [str(installed.command("python")), "-c", IMPORT_ALL, *packages],
        cwd=installed.outside,
        env=installed.env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    checkout_on_path = subprocess.run(
        [str(installed.command("python")), "-c", "import sys; print('\\n'.join(sys.path))"],
        cwd=installed.outside,
        env=installed.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert str(REPO) not in checkout_on_path


def test_the_installed_command_answers_help_in_chinese(installed: Installed) -> None:
    result = installed.run("--help")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("用法：duban")  # the .po file shipped and was read
    for command in ("demo", "run", "web", "db", "tongbao"):
        assert f"\n    {command} " in result.stdout


def test_the_installed_demo_runs_without_a_token_and_the_database_is_at_the_newest_schema(
    installed: Installed,
) -> None:
    demo_db = installed.outside / "demo-run" / "demo.db"

    result = installed.run("demo", "--database", str(demo_db))

    assert result.returncode == 0, result.stderr
    assert "安丘市" in result.stdout  # a plan from the shipped seed data, in the status table
    assert "Traceback" not in result.stderr
    current = installed.run("db", "current", database=demo_db)
    assert current.returncode == 0, current.stderr
    assert f"当前版本 {head_revision()}，最新版本 {head_revision()}" in current.stdout


def test_the_installed_migrations_build_a_new_database(installed: Installed) -> None:
    fresh = installed.outside / "fresh.db"

    result = installed.run("db", "upgrade", database=fresh)

    assert result.returncode == 0, result.stderr
    assert head_revision() in result.stdout
    assert fresh.is_file()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.headers.get("content-type", ""), response.read()


def test_the_installed_dashboard_serves_its_pages_and_stops_on_sigterm(installed: Installed) -> None:
    database = installed.outside / "web.db"
    assert installed.run("db", "upgrade", database=database).returncode == 0
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(installed.command("duban")), "web", "--listen", f"127.0.0.1:{port}"],
        cwd=installed.outside,
        env={**installed.env, "DUBAN_DATABASE_URL": f"sqlite:///{database}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        deadline = time.monotonic() + 60
        page: tuple[int, str, bytes] | None = None
        while page is None and time.monotonic() < deadline and process.poll() is None:
            try:
                page = _get(f"{base}/login")
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)  # polling a subprocess with a deadline, not waiting on the clock
        assert page is not None, f"the dashboard did not answer on {base}"
        status, content_type, body = page
        assert status == 200
        assert content_type.startswith("text/html")
        text = body.decode("utf-8")
        assert '<html lang="zh-CN">' in text  # a shipped template, rendered
        stylesheet_link = re.search(r'<link rel="stylesheet" href="(/static/[^"?]+)[^"]*">', text)
        assert stylesheet_link is not None, text

        status, content_type, stylesheet = _get(base + stylesheet_link.group(1))
        assert status == 200
        assert content_type.startswith("text/css")
        assert stylesheet == (REPO / "web" / stylesheet_link.group(1).lstrip("/")).read_bytes()
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
    # uvicorn shuts down and then re-raises the signal, so the exit status says how it ended
    assert process.returncode in (0, -signal.SIGTERM), errors
    assert "Traceback" not in errors
