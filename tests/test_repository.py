"""A clone needs nothing beside it: no tracked file reads a path outside the repository.

The seed-data tests once read the plan documents from a `shared` folder next to the checkout; CI had
that folder, a fresh clone did not. This guard reads every tracked file (Markdown prose aside, which
may tell the story) for three kinds of reference: the sibling folder itself, an absolute path on a
developer's machine, and a Python `Path(__file__)` climbing above the repository root.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# spelled with character classes so that this file does not match itself
_OUTSIDE = re.compile(r"\.\.[/\\]shared\b|\bshared[/\\]seeds\b|(?<![\w.-])/(?:work|home|root|Users)/")
_CLIMB = re.compile(
    r"Path\(__file__\)(?:\.resolve\(\))?(?P<before>(?:\.parent\b)*)(?:\.parents\[(?P<n>\d+)\])?"
    r"(?P<after>(?:\.parent\b)*)"
)
_UNTRACKED_DIRS = {"node_modules", "build", "dist", "__pycache__"}


def tracked_files(root: Path = ROOT) -> list[Path]:
    """The files git tracks; outside a git checkout (an unpacked sdist), every file but tool folders."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return [
            path
            for path in root.rglob("*")
            if path.is_file()
            and not any(
                part.startswith(".") or part in _UNTRACKED_DIRS or part.endswith(".egg-info")
                for part in path.relative_to(root).parts[:-1]
            )
        ]
    return [root / name for name in listed.split("\0") if name]


def outside_references(relative: str, text: str) -> list[str]:
    """'line: excerpt' for each reference in `text` (a file at `relative`) to a path outside the repo."""
    found = []
    depth = len(Path(relative).parts)
    for number, line in enumerate(text.splitlines(), start=1):
        if _OUTSIDE.search(line):
            found.append(f"{number}: {line.strip()}")
            continue
        if not relative.endswith(".py"):
            continue
        for climb in _CLIMB.finditer(line):
            levels = climb["before"].count(".parent") + climb["after"].count(".parent")
            levels += int(climb["n"]) + 1 if climb["n"] is not None else 0
            if levels > depth:
                found.append(f"{number}: {line.strip()}")
    return found


def test_no_tracked_file_refers_to_a_path_outside_the_repository() -> None:
    offenders = []
    for path in tracked_files():
        relative = path.relative_to(ROOT).as_posix()
        if path.suffix == ".md" or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        offenders += [f"{relative}:{hit}" for hit in outside_references(relative, text)]
    assert offenders == []


def test_the_guard_sees_each_kind_of_outside_reference() -> None:
    # the examples are assembled from pieces so that this file passes its own scan
    here = "Path(" + "__file__)"
    sibling = f'SOURCES = "{".."}/{"shared"}/seeds"'
    machine = f'open("/{"work"}/shared/STYLE.md")'
    climbs = {
        "duban/plan_import/agreement.py": f'{here}.resolve().parents[2].parent / "x"',
        "tests/seed_data/test_seed_files.py": f'{here}.resolve().parents[3] / "x"',
        "bench/crash_test.py": f"{here}.parent.parent.parent",
    }
    assert outside_references("duban/x.py", sibling) == [f"1: {sibling}"]
    assert outside_references("deploy/duban.env.example", machine) == [f"1: {machine}"]
    for relative, line in climbs.items():
        assert outside_references(relative, line) == [f"1: {line}"], relative


def test_the_guard_lets_paths_inside_the_repository_and_deploy_targets_pass() -> None:
    here = "Path(" + "__file__)"
    inside = {
        "tests/bench/test_scale_short.py": f"ROOT = {here}.resolve().parents[2]",
        "bench/crash_test.py": f"ROOT = {here}.resolve().parent.parent",
        "seed_data/__init__.py": f'SOURCE_DIR = {here}.resolve().parent / "sources"',
        "deploy/duban.service": "ExecStart=/opt/duban/venv/bin/duban --log-json run",
        "bench/planner_bench.py": 'default=Path("/tmp/duban-bench")',
    }
    for relative, line in inside.items():
        assert outside_references(relative, line) == [], relative


def test_an_installed_package_carries_the_plan_documents() -> None:
    """The seed-data tests and `duban import-agreement` read seed_data/sources: the wheel must ship it."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = settings["tool"]["setuptools"]["package-data"]["seed_data"]
    package = ROOT / "seed_data"
    documents = [path.relative_to(package).as_posix() for path in (package / "sources").glob("*.txt")]
    assert len(documents) == 5
    assert [d for d in documents if not any(fnmatch.fnmatch(d, p) for p in patterns)] == []


def test_whether_this_is_ci_is_read_in_one_place() -> None:
    """tests/ci.py reads CI one way (any case); a second reading elsewhere drifted before ("True" skipped a leg)."""
    readers = [
        path.relative_to(ROOT).as_posix()
        for folder in ("tests", "bench")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"""environ(\.get\(|\[)\s*["']CI["']""", path.read_text(encoding="utf-8"))
    ]
    assert readers == ["tests/ci.py"]
