"""The tests use their own settings: a DUBAN_* variable exported in the developer's shell, or a `.env` where pytest
runs, reaches neither the settings the tests read nor the database they make (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from duban.config import Settings

ROOT = Path(__file__).resolve().parent.parent
# a server no test may touch: the tests would CREATE and DROP duban_test_* databases on it
PRODUCTION = "postgresql+psycopg://postgres@192.0.2.1:5432/county_production"


def test_the_settings_the_tests_read_are_the_defaults(database_url: str) -> None:
    """Also the probe the next test runs in a polluted environment."""
    settings = Settings()
    assert (settings.database_url, settings.language, settings.timezone) == (
        "sqlite:///var/duban.db",
        "zh_CN",
        "Asia/Shanghai",
    )
    assert (settings.bot_username, settings.telegram_bot_token, settings.issuing_office) == (
        "duban_bot",
        None,
        None,
    )
    assert "county_production" not in database_url
    assert not {name for name in os.environ if name.startswith("DUBAN_") and "TEST" not in name} - {
        "DUBAN_ENV_FILE",
        "DUBAN_HYPOTHESIS_EXAMPLES",
    }


def test_an_exported_variable_and_a_dotenv_do_not_reach_the_tests(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "DUBAN_TIMEZONE=America/New_York\nDUBAN_BOT_USERNAME=from_dotenv\nDUBAN_DATABASE_URL="
        + PRODUCTION
        + "\n",
        encoding="utf-8",
    )
    polluted = {
        **os.environ,
        "DUBAN_DATABASE_URL": PRODUCTION,
        "DUBAN_LANGUAGE": "en",
        "DUBAN_ISSUING_OFFICE": "某县政府办",
        "TELEGRAM_BOT_TOKEN": "123456:from-the-shell",
        "PYTHONPATH": str(ROOT),
    }
    polluted.pop("DUBAN_ENV_FILE", None)  # as in a developer's shell
    probe = f"{Path(__file__).resolve()}::test_the_settings_the_tests_read_are_the_defaults"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--rootdir={ROOT}", probe],
        cwd=tmp_path,  # where the .env is
        env=polluted,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
