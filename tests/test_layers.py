"""Layers import downwards only: models ← duban ← scheduler ← bot ← web ← wiring (the CLI). The dashboard (web/)
reuses the chat's platform-neutral labels (bot/core/labels.py) and catalogue, so it sits above bot/; bot/ knows
nothing of it. Across the layers, a chat platform's library is imported by that platform's adapter alone.

Read from the source with ast, so a forbidden import anywhere in a module (also inside a function) fails here;
imports under `if TYPE_CHECKING:` are skipped, since they exist for the type checker only.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RANK = {"seed_data": 0, "models": 0, "duban": 1, "scheduler": 2, "bot": 3, "web": 4}
WIRING = {
    "duban/cli.py",
    "duban/__main__.py",
    "duban/launch.py",  # the console script: signals first, then the CLI (and its stop line, in the catalogue)
    "duban/robots_cli.py",  # `duban robot test` puts a group-robot sender together, as `duban run` does a channel
}  # `duban run` and the CLI put everything together


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _violations() -> list[str]:
    problems = []
    for package, rank in RANK.items():
        for path in sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else []:
            relative = path.relative_to(ROOT).as_posix()
            if relative in WIRING or "/migrations/" in relative:
                continue
            for line, module in _imports(ast.parse(path.read_text(encoding="utf-8"))):
                top = module.split(".")[0]
                if top in RANK and top != package and RANK[top] >= rank:
                    problems.append(f"{relative}:{line} imports {module}")
    return problems


# each chat platform's library, and the one package that may import it: an adapter translates, nothing else talks
# to a platform
PLATFORM_LIBRARIES = {"telegram": "bot/telegram/", "dingtalk_stream": "bot/dingtalk/"}


def _platform_violations() -> list[str]:
    problems = []
    for package in RANK:
        for path in sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else []:
            relative = path.relative_to(ROOT).as_posix()
            for line, module in _imports(ast.parse(path.read_text(encoding="utf-8"))):
                top = module.split(".")[0]
                adapter = PLATFORM_LIBRARIES.get(top)
                if adapter is not None and not relative.startswith(adapter):
                    problems.append(f"{relative}:{line} imports {module}")
    return problems


def test_only_a_platforms_adapter_imports_its_library() -> None:
    assert _platform_violations() == []


def test_the_core_loads_no_chat_platform() -> None:
    """Not even through what it imports: every module of bot/core/, imported in a fresh interpreter, leaves
    python-telegram-bot and dingtalk-stream unloaded."""
    core = sorted(path.stem for path in (ROOT / "bot" / "core").glob("*.py") if path.stem != "__init__")
    script = (
        "import importlib, sys\n"
        f"for name in {core!r}: importlib.import_module('bot.core.' + name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'telegram', 'dingtalk_stream'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert "commands" in core and "notices" in core
    assert done.stdout.strip() == "[]"


def test_every_layer_imports_only_the_layers_below_it() -> None:
    assert _violations() == []


def test_the_scheduler_knows_no_chat_platform() -> None:
    for path in (ROOT / "scheduler").rglob("*.py"):
        for _line, module in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            assert module.split(".")[0] not in ("bot", "telegram"), f"{path.name} imports {module}"


def test_the_platform_check_sees_a_library_outside_its_adapter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modules = {
        "bot/telegram/app.py": "from telegram.ext import Application\n",
        "bot/dingtalk/stream.py": "import dingtalk_stream\n",
        "bot/core/commands.py": "def f():\n    from telegram import Bot\n",
        "web/evidence.py": "import os\nfrom dingtalk_stream import ChatbotMessage\n",
        "duban/cli.py": "import telegram.error\n",
    }
    for relative, source in modules.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(source, encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert sorted(_platform_violations()) == [
        "bot/core/commands.py:2 imports telegram",
        "duban/cli.py:1 imports telegram.error",
        "web/evidence.py:2 imports dingtalk_stream",
    ]


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    tree = ast.parse(
        "import os\ndef f():\n    from bot.views import x\nif TYPE_CHECKING:\n    from bot import y\n"
    )
    assert [module for _line, module in _imports(tree)] == ["os", "bot.views"]
