"""Long answers in pages: split between entries, never inside one, always under Telegram's limit."""

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram import views

TELEGRAM_LIMIT = 4096
PAGE_BUDGET = 3500  # room for the page footer and for HTML entities


def paginate(entries: list[str], budget: int | None = None) -> list[str]:
    budget = budget or PAGE_BUDGET
    pages: list[str] = []
    current: list[str] = []
    size = 0
    for entry in entries:
        for piece in _fit(entry, budget):
            if current and size + len(piece) + 1 > budget:
                pages.append("\n".join(current))
                current, size = [], 0
            current.append(piece)
            size += len(piece) + 1
    if current:
        pages.append("\n".join(current))
    return pages or [""]


def _fit(entry: str, budget: int) -> list[str]:
    """Only an entry longer than a whole page is cut, at line breaks where it has them."""
    if len(entry) <= budget:
        return [entry]
    pieces, current = [], ""
    for line in entry.split("\n"):
        while len(line) > budget:
            if current:
                pieces.append(current)
                current = ""
            head, line = _cut(line, budget)
            pieces.append(head)
        if current and len(current) + len(line) + 1 > budget:
            pieces.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        pieces.append(current)
    return pieces


_MARKUP = re.compile(r"<[^<>]*>|&[#\w]*;")
_TAG = re.compile(r"<(/?)([\w-]+)[^>]*>")


def _cut(line: str, budget: int) -> tuple[str, str]:
    """Cut an over-long line of Telegram HTML: never inside a tag or an entity such as &amp;,
    and close the tags open at the cut on this piece, to reopen them on the next."""
    cut = max(budget - 32, budget // 2)  # room for the closing tags
    for markup in _MARKUP.finditer(line):
        if markup.start() >= cut:
            break
        if markup.end() > cut:
            cut = markup.start() or markup.end()
            break
    head, tail = line[:cut], line[cut:]
    opened: list[re.Match[str]] = []
    for tag in _TAG.finditer(head):
        if not tag.group(1):
            opened.append(tag)
        elif opened and opened[-1].group(2) == tag.group(2):
            opened.pop()
    closing = "".join(f"</{tag.group(2)}>" for tag in reversed(opened))
    return head + closing, "".join(tag.group(0) for tag in opened) + tail


def page_markup(
    _: views.Gettext, view: str, page: int, total: int, arg: str = ""
) -> InlineKeyboardMarkup | None:
    if total <= 1:
        return None
    buttons = []
    if page > 0:
        buttons.append(
            InlineKeyboardButton(views.previous_button(_), callback_data=f"pg:{view}:{page - 1}:{arg}")
        )
    buttons.append(InlineKeyboardButton(f"{page + 1}/{total}", callback_data="noop"))
    if page < total - 1:
        buttons.append(
            InlineKeyboardButton(views.next_button(_), callback_data=f"pg:{view}:{page + 1}:{arg}")
        )
    return InlineKeyboardMarkup([buttons])
