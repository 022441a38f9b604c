"""The message catalogue: English msgids in code, Chinese in bot/locale/zh_CN/LC_MESSAGES/duban.po.

The .po file is compiled in memory when first needed, so no build output is committed.
"""

import gettext
import io
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT_LANGUAGE = "zh_CN"
DOMAIN = "duban"


def language_for(telegram_language_code: str | None) -> str:
    """Chinese first: English only for users whose Telegram speaks English."""
    return (
        "en"
        if telegram_language_code and telegram_language_code.lower().startswith("en")
        else DEFAULT_LANGUAGE
    )


@lru_cache
def translations(language: str) -> gettext.NullTranslations:
    po_path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.exists():
        return gettext.NullTranslations()  # msgids are English
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def gettext_for(language: str) -> Callable[[str], str]:
    return translations(language).gettext
