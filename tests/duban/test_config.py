"""Where the settings come from: the environment, then the .env file DUBAN_ENV_FILE names (`.env` by default)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from duban.config import Settings


def test_the_dotenv_in_the_working_folder_is_read_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("DUBAN_BOT_USERNAME=from_dotenv\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DUBAN_ENV_FILE")
    assert Settings().bot_username == "from_dotenv"
    monkeypatch.setenv("DUBAN_BOT_USERNAME", "from_the_environment")
    assert Settings().bot_username == "from_the_environment"  # the environment wins over the file


def test_duban_env_file_names_another_file_or_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("DUBAN_BOT_USERNAME=from_dotenv\n", encoding="utf-8")
    (tmp_path / "county.env").write_text("DUBAN_BOT_USERNAME=county_bot\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DUBAN_ENV_FILE", "county.env")
    assert Settings().bot_username == "county_bot"
    monkeypatch.setenv("DUBAN_ENV_FILE", os.devnull)  # what the tests run with
    assert Settings().bot_username == "duban_bot"
