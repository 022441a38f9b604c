"""Mistakes in the configuration or the input of a command: one line for the user, and nothing was written.

The message is an English msgid of the catalogue (bot/locale/…/duban.po) with {placeholders}; the CLI renders it in
the interface language, so the layers below need no gettext.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Phrase:
    """A parameter that is itself a message of the catalogue, translated when the line around it is."""

    message: str
    params: dict[str, object] = field(default_factory=dict)

    def render(self, gettext: Callable[[str], str]) -> str:
        return gettext(self.message).format(**self.params)

    def __str__(self) -> str:
        return self.message.format(**self.params)


class Refused(Exception):
    """Base: the command refused to run, or stopped before writing anything."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message.format(**params))
        self.message = message
        self.params = params

    def render(self, gettext: Callable[[str], str]) -> str:
        params = {k: v.render(gettext) if isinstance(v, Phrase) else v for k, v in self.params.items()}
        return gettext(self.message).format(**params)


# what the operating system's English (strerror: "[Errno 13] Permission denied") means, in the catalogue's words
_OS_REASONS = {
    errno.ENOENT: "there is no such file or folder",
    errno.EACCES: "no permission",
    errno.EPERM: "no permission",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "it exists already",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EBUSY: "it is in use",
    errno.ETXTBSY: "it is in use",
    errno.EMFILE: "too many files are open",
    errno.ELOOP: "the path loops through symbolic links",
    errno.EIO: "the disk could not be read or written",
}


def os_reason(error: OSError) -> Phrase:
    """Why the system refused a file, as a phrase of the catalogue; an errno without one is named by its code."""
    reason = _OS_REASONS.get(error.errno or 0)
    if reason is not None:
        return Phrase(reason)
    return Phrase("the system refused ({code})", {"code": errno.errorcode.get(error.errno or 0, error.errno)})


class ConfigurationError(Refused):
    """A setting (environment variable or .env line) has a value duban cannot use."""


class DatabaseError(Refused):
    """The database cannot be used: a malformed URL, a server that does not answer, a missing file, an old schema."""


class ArgumentRefused(Refused):
    """The arguments of a command contradict each other (a format and a file name): exit 2, like argparse's."""
