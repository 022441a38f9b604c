"""The five plans as reviewed YAML files, one per plan, and the schema they follow."""

from pathlib import Path

SEED_DIR = Path(__file__).resolve().parent


def seed_files() -> list[Path]:
    return sorted(SEED_DIR.glob("*.yaml"))
