"""Mistakes in the configuration or the input of a command: one line for the user, and nothing was written.

The message is an English msgid of the catalogue (bot/locale/…/duban.po) with {placeholders}; the CLI renders it in
the interface language, so the layers below need no gettext.
"""

from __future__ import annotations

from collections.abc import Callable


class Refused(Exception):
    """Base: the command refused to run, or stopped before writing anything."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message.format(**params))
        self.message = message
        self.params = params

    def render(self, gettext: Callable[[str], str]) -> str:
        return gettext(self.message).format(**self.params)


class ConfigurationError(Refused):
    """A setting (environment variable or .env line) has a value duban cannot use."""


class DatabaseError(Refused):
    """The database cannot be used: a malformed URL, a server that does not answer, a missing file, an old schema."""


class ArgumentRefused(Refused):
    """The arguments of a command contradict each other (a format and a file name): exit 2, like argparse's."""
