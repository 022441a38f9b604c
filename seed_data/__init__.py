"""The five plans as reviewed YAML files, one per plan, and the schema they follow.

sources/ holds the plan documents the YAML files transcribe (each file's `source`), as plain text, so
that the seed-data tests and `duban import-agreement` work from a clone or an installed wheel alone.
"""

from pathlib import Path

SEED_DIR = Path(__file__).resolve().parent
SOURCE_DIR = SEED_DIR / "sources"


def seed_files() -> list[Path]:
    return sorted(SEED_DIR.glob("*.yaml"))


def source_files() -> list[Path]:
    return sorted(SOURCE_DIR.glob("*.txt"))
