"""What the CLI checks while parsing: argparse types that refuse bad input before any database or file is opened,
and parsers whose help follows the interface language and whose errors are one line."""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from seed_data.schema import PLAN_KEY_LENGTH, PLAN_KEY_PATTERN

Gettext = Callable[[str], str]

# bounds that keep every date the planner computes inside the calendar (--days 99999999 overflowed)
MAX_DAYS = 3660
FIRST_DATE, LAST_DATE = dt.date(2000, 1, 1), dt.date(2099, 12, 31)


class Checks:
    """argparse types: bad input is refused while parsing, before any database or file is opened."""

    def __init__(self, gettext: Gettext) -> None:
        self._ = gettext

    def listen(self, text: str) -> str:
        host, colon, port = text.rpartition(":")
        if not colon or not port.isdigit() or not 0 < int(port) < 65536:
            raise argparse.ArgumentTypeError(
                self._("“{text}” is not host:port; write it like 127.0.0.1:8443").format(text=text)
            )
        return text

    def web_address(self, text: str) -> str:
        parts = urlsplit(text)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise argparse.ArgumentTypeError(
                self._("“{text}” is not a web address; write it like https://bot.example.gov.cn").format(
                    text=text
                )
            )
        return text

    def output_file(self, example: str, *, makes_folder: bool = False) -> Callable[[str], str]:
        """A file to write: not a folder, and in a folder that exists (unless the command makes it)."""

        def check(text: str) -> str:
            path = Path(text)
            if path.is_dir():
                raise argparse.ArgumentTypeError(
                    self._("“{text}” is a folder; name a file in it, like {example}").format(
                        text=text, example=path / example
                    )
                )
            if not makes_folder and path.parent.exists() and not path.parent.is_dir():
                raise argparse.ArgumentTypeError(
                    self._("“{folder}” is a file, not a folder; write the file elsewhere").format(
                        folder=path.parent
                    )
                )
            if not makes_folder and not path.parent.is_dir():
                raise argparse.ArgumentTypeError(
                    self._(
                        "the folder “{folder}” does not exist; create it or write the file elsewhere"
                    ).format(folder=path.parent)
                )
            return text

        return check

    def seconds(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0 <= value <= 60:
            raise argparse.ArgumentTypeError(
                self._("“{text}” is not a number of seconds; write one from 0 to 60, like 0.1").format(
                    text=text
                )
            )
        return value

    def days(self, text: str) -> int:
        if not text.isdigit() or not 1 <= int(text) <= MAX_DAYS:
            raise argparse.ArgumentTypeError(
                self._(
                    "“{text}” is not a number of days; write a whole number from 1 to {most}, like 30"
                ).format(text=text, most=MAX_DAYS)
            )
        return int(text)

    def plan_key(self, text: str) -> str:
        """A plan key as the seed files spell them (seed_data.schema): anqiu-2023, 安丘市-2023-46."""
        if not re.fullmatch(PLAN_KEY_PATTERN, text) or len(text) > PLAN_KEY_LENGTH:
            raise argparse.ArgumentTypeError(
                self._(
                    "“{text}” cannot be a plan key; use lower-case letters, digits, Chinese characters and "
                    "hyphens, at most {most}, like anqiu-2023"
                ).format(text=text, most=PLAN_KEY_LENGTH)
            )
        return text

    def date(self, text: str) -> dt.date:
        try:
            day: dt.date | None = dt.date.fromisoformat(text)
        except ValueError:
            day = None
        if day is None or not FIRST_DATE <= day <= LAST_DATE:
            raise argparse.ArgumentTypeError(
                self._(
                    "“{text}” is not a date duban can use; write YYYY-MM-DD from {first} to {last}"
                ).format(text=text, first=FIRST_DATE, last=LAST_DATE)
            )
        return day


def parser_class(gettext: Gettext) -> type[argparse.ArgumentParser]:
    """Parsers whose help is in the interface language and whose errors are one line."""
    # argparse words its own messages (usage:, options, invalid choice …) through its module's gettext function
    argparse._ = gettext  # type: ignore[attr-defined]

    class TranslatedHelp(argparse.HelpFormatter):
        def _expand_help(self, action: argparse.Action) -> str:
            if action.help:
                translated = gettext(action.help)
                action = copy.copy(action)
                action.help = translated
            return super()._expand_help(action)

    class Parser(argparse.ArgumentParser):
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs.setdefault("formatter_class", TranslatedHelp)
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

        def error(self, message: str) -> None:  # type: ignore[override]
            line = gettext("{prog}: {message} (see {prog} --help)").format(prog=self.prog, message=message)
            self.exit(2, line + "\n")

    return Parser
