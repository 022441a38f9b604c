"""Whether this run is CI, read one way everywhere: there, a test that needs a tool or a service the run is meant
to have fails instead of skipping, so nothing CI should run is quietly left out."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def unavailable(reason: str) -> NoReturn:
    """Skip locally; fail on CI, naming what is missing."""
    if on_ci():
        pytest.fail(f"cannot run on CI: {reason}", pytrace=False)
    pytest.skip(reason)
