"""One time zone, DUBAN_TIMEZONE: the code names the county's zone once, as the settings' default.

A reminder once said 23 days were left while /status, in the configured zone, counted 24: notices, views and the
outbox each fell back to their own Asia/Shanghai. Now the zone comes down from Settings.tz; these checks keep a
literal zone, or a parameter quietly defaulting to one, from coming back. (tests/dingtalk/test_time_zone.py shows
the behaviour with another zone set.)
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("duban", "bot", "scheduler", "web", "models")
SETTINGS = "duban/config.py"  # DEFAULT_TIMEZONE: the one place the zone is written
_ZONE = re.compile(r"Asia/Shanghai|Shanghai|UTC\+8|\+08:00|hours=8\b")
# parameters that still default to the settings' default, each with its reason; every other takes the settings' tz
DEFAULTS_LEFT: set[str] = set()


def _sources(*suffixes: str) -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.suffix in suffixes and "/migrations/" not in path.as_posix()
    )


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_no_module_names_a_time_zone_but_the_settings() -> None:
    found = [
        f"{_relative(path)}:{number}: {line.strip()}"
        for path in _sources(".py", ".html", ".js")
        if _relative(path) != SETTINGS
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if _ZONE.search(line)
    ]
    assert found == []


def _defaults_to_county_tz(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "COUNTY_TZ"


def test_no_parameter_or_field_defaults_to_a_zone_but_those_listed() -> None:
    found = set()
    for path in _sources(".py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                defaults = [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
                if any(_defaults_to_county_tz(d) for d in defaults):
                    found.add(f"{_relative(path)}:{node.name}")
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if (
                        isinstance(item, ast.AnnAssign)
                        and item.value is not None
                        and _defaults_to_county_tz(item.value)
                    ):
                        found.add(f"{_relative(path)}:{node.name}.{ast.unparse(item.target)}")
    assert found == DEFAULTS_LEFT


def test_the_check_sees_a_zone_written_in_code() -> None:
    assert _ZONE.search('TZ = ZoneInfo("Asia/Shanghai")')
    assert _defaults_to_county_tz(ast.parse("def f(tz=COUNTY_TZ): ...").body[0].args.defaults[0])  # type: ignore[attr-defined]
