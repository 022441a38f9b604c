"""Paging long answers."""

from bot.telegram.pages import TELEGRAM_LIMIT, paginate


def test_pages_break_between_entries_and_keep_every_entry_whole() -> None:
    entries = [f"{n}. " + "任务" * (n % 40 + 5) for n in range(300)]
    pages = paginate(entries)
    assert len(pages) > 1
    assert all(len(page) < TELEGRAM_LIMIT for page in pages)
    assert "\n".join(pages).split("\n") == entries


def test_an_entry_longer_than_a_page_is_cut_at_line_breaks() -> None:
    long_entry = "\n".join("行" * 100 for _ in range(80))
    pages = paginate(["标题", long_entry])
    assert all(len(page) < TELEGRAM_LIMIT for page in pages)
    assert "".join(pages).count("行") == 8000
