"""A message as the core means it: plain text in sections, plus the actions a user may take.

Views build these; each platform adapter (Telegram, DingTalk, a group robot) turns one into its own markup,
buttons and size limits at the last moment. Text here is never escaped: escaping belongs to the adapter, which
knows its markup language.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    """One tap: the label a user sees and the command the bot would accept if the user typed it.

    A platform with buttons sends `command` back as button data; one without offers it as a link or a hint, so
    every action is also reachable by typing.
    """

    label: str
    command: (
        str  # e.g. "/ack 42", "/report 17", "/snooze 42 3"; at most 60 ASCII bytes (Telegram's callback data)
    )


@dataclass(frozen=True)
class Section:
    """A block an adapter never splits, unless the block alone exceeds the platform's limit."""

    lines: tuple[str, ...]
    heading: str | None = None


@dataclass(frozen=True)
class Message:
    title: str
    sections: tuple[Section, ...] = ()
    actions: tuple[Action, ...] = ()
    image: bytes | None = None  # a PNG (the digest chart); adapters without images drop it and keep the text
    footer: str | None = None
