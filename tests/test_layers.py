"""Layers import downwards only: models ← duban ← scheduler ← bot ← web ← wiring (the CLI). The dashboard (web/)
reuses the chat's platform-neutral views and catalogue, so it sits above bot/; bot/ knows nothing of it.

Read from the source with ast, so a forbidden import anywhere in a module (also inside a function) fails here;
imports under `if TYPE_CHECKING:` are skipped, since they exist for the type checker only.
"""

from __future__ import annotations

import ast
from pathlib import Path

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


def test_every_layer_imports_only_the_layers_below_it() -> None:
    assert _violations() == []


def test_the_scheduler_knows_no_chat_platform() -> None:
    for path in (ROOT / "scheduler").rglob("*.py"):
        for _line, module in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            assert module.split(".")[0] not in ("bot", "telegram"), f"{path.name} imports {module}"


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    tree = ast.parse(
        "import os\ndef f():\n    from bot.views import x\nif TYPE_CHECKING:\n    from bot import y\n"
    )
    assert [module for _line, module in _imports(tree)] == ["os", "bot.views"]
