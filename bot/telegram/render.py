"""A core Message as Telegram HTML: escaped here and only here, split between sections to fit Telegram's limit.

Telegram counts a message's length in UTF-16 code units after entity parsing; counting the HTML source in UTF-16
units is an upper bound, so a part that fits here fits there.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.message import Action, Message

TELEGRAM_LIMIT = 4096
CAPTION_LIMIT = 1024
BUTTONS_PER_ROW = 3


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Part:
    html: str
    markup: InlineKeyboardMarkup | None = None


def parts(message: Message, limit: int = TELEGRAM_LIMIT) -> list[Part]:
    """The message as one or more HTML texts, none over `limit`; the buttons travel with the last one."""
    blocks = [f"<b>{escape(message.title)}</b>"] if message.title else []
    for section in message.sections:
        lines = [escape(line) for line in section.lines]
        if section.heading:
            lines.insert(0, f"\n<b>{escape(section.heading)}</b>")
        blocks.append("\n".join(lines))
    if message.footer:
        blocks.append("\n" + escape(message.footer))
    texts: list[str] = []
    for block in blocks:
        for piece in _fit(block, limit):
            if texts and utf16_length(texts[-1]) + 1 + utf16_length(piece) <= limit:
                texts[-1] += "\n" + piece
            else:
                texts.append(piece.lstrip("\n"))
    texts = texts or [""]
    result = [Part(text) for text in texts[:-1]]
    result.append(Part(texts[-1], keyboard(message.actions)))
    return result


def caption(message: Message) -> str:
    return _fit(f"<b>{escape(message.title)}</b>", CAPTION_LIMIT)[0]


def _fit(block: str, limit: int) -> list[str]:
    """A block alone over the limit is cut between lines, and a line alone over it between characters."""
    if utf16_length(block) <= limit:
        return [block]
    pieces: list[str] = []
    current = ""
    for line in block.split("\n"):
        while utf16_length(line) > limit:
            head, line = _cut(line, limit)
            pieces.append(head)
        if current and utf16_length(current) + 1 + utf16_length(line) > limit:
            pieces.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        pieces.append(current)
    return pieces


def _cut(line: str, limit: int) -> tuple[str, str]:
    """Cut an escaped line of text (tags only wrap whole lines) outside any entity such as &amp;."""
    cut, units = 0, 0
    while cut < len(line) and units + utf16_length(line[cut]) <= limit:
        units += utf16_length(line[cut])
        cut += 1
    entity = line.rfind("&", 0, cut)
    if entity != -1 and ";" not in line[entity:cut]:
        cut = entity or cut
    return line[:cut], line[cut:]


def keyboard(actions: tuple[Action, ...]) -> InlineKeyboardMarkup | None:
    """Each action a button whose data is the command it stands for (the reminder handler accepts it)."""
    if not actions:
        return None
    buttons = [InlineKeyboardButton(a.label, callback_data=a.command) for a in actions]
    return InlineKeyboardMarkup(
        [buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)]
    )
