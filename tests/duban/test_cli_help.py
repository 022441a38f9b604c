"""The CLI's help speaks the interface language: Chinese by default, English with DUBAN_LANGUAGE=en."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from bot.i18n import gettext_for
from duban.cli import build_parser, main


def _help_texts(parser: argparse.ArgumentParser) -> Iterator[str]:
    if parser.description:
        yield parser.description
    for action in parser._actions:
        if isinstance(action.help, str) and action.help != argparse.SUPPRESS:
            yield action.help
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.help:
                    yield choice.help
            for subparser in action.choices.values():
                yield from _help_texts(subparser)


def test_every_help_text_has_a_chinese_translation() -> None:
    english = build_parser(gettext_for("en"))
    chinese = gettext_for("zh_CN")
    untranslated = sorted({text for text in _help_texts(english) if chinese(text) == text})
    assert untranslated == []


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_help_is_chinese_by_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DUBAN_LANGUAGE", raising=False)
    text = _help(["reminders"], capsys)
    assert text.startswith("用法：duban reminders [-h] [--from FROM_DATE] [--days DAYS]")
    # argparse pads the option column to the longest option; the words are what a user reads
    assert re.search(r"^  --days DAYS +覆盖的天数$", text, re.M)
    assert re.search(r"^  -h, --help +显示帮助并退出$", text, re.M)


def test_help_is_english_with_duban_language_en(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DUBAN_LANGUAGE", "en")
    text = _help([], capsys)
    assert text.startswith("usage: duban [-h] [-v] [--log-json] COMMAND ...")
    assert "    seed            load seed_data into the database (idempotent)\n" in text


def _without_help(parser: argparse.ArgumentParser, path: str) -> Iterator[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            described = {choice.dest for choice in action._choices_actions if choice.help}
            for name, subparser in action.choices.items():
                if name not in described:
                    yield f"{path} {name}"
                yield from _without_help(subparser, f"{path} {name}")
        elif not action.help:  # argparse.SUPPRESS is a decision: an option for the tests' stand-ins
            yield f"{path} {'/'.join(action.option_strings) or action.dest}"


def test_every_option_argument_and_subcommand_has_help() -> None:
    """`duban db --help` says what upgrade, current and check do; `--format`, `--role`, `--platform` say their
    choices. A new option without help fails here."""
    assert list(_without_help(build_parser(gettext_for("en")), "duban")) == []


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["db"], "upgrade：把数据库升级到最新结构"),
        (["contacts"], "deactivate：撤销某人的使用权限"),
        (["invite"], "--role {contact,coordinator,lead}"),
        (["export"], "--format {json,xlsx}"),
    ],
)
def test_the_verbs_and_choices_are_explained_in_chinese(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    monkeypatch.delenv("DUBAN_LANGUAGE", raising=False)
    assert says in _help(argv, capsys)
