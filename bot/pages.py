"""Long answers in pages: split between entries, never inside one, always under Telegram's limit."""

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import views

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
            pieces.append(line[:budget])
            line = line[budget:]
        if current and len(current) + len(line) + 1 > budget:
            pieces.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        pieces.append(current)
    return pieces


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
