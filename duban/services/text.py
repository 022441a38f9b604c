"""User text on its way in: the one sanitizer every incoming text passes, at the bot's edge and in the services."""

import unicodedata

from models import limits

_KEPT_CONTROLS = frozenset("\n\t")


def _noncharacter(character: str) -> bool:
    """U+FDD0..U+FDEF and the last two code points of every plane: never text. U+FFFE and U+FFFF are not XML
    either, so one of them in a note broke every 台账 and 通报 download of the county."""
    point = ord(character)
    return 0xFDD0 <= point <= 0xFDEF or point & 0xFFFE == 0xFFFE


def _kept(character: str) -> bool:
    # Cc: NUL (PostgreSQL refuses it, in a stored value as in a query), escape sequences, bells and the like;
    # Cs: lone surrogates, which JSON can carry but UTF-8, and so the database, cannot.
    return character in _KEPT_CONTROLS or (
        unicodedata.category(character) not in ("Cc", "Cs") and not _noncharacter(character)
    )


def sanitized(text: str, *, limit: int = limits.INCOMING_TEXT) -> str:
    """Control characters out (newline and tab stay; CR becomes a newline), then at most `limit` characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not all(map(_kept, text)):
        text = "".join(filter(_kept, text))
    return text[:limit]


def storable(text: str) -> str:
    """Text the database can keep and compare; the services apply it too, for callers other than the bot."""
    return sanitized(text, limit=len(text))


def xml_text(text: str) -> str:
    """Text an XML 1.0 document (the xlsx 台账, the docx 通报) can hold: what the sanitizer keeps out on the way in
    is also dropped on the way out, so a row stored before the sanitizer knew a character cannot break a download."""
    return text if all(map(_in_xml, text)) else "".join(filter(_in_xml, text))


def _in_xml(character: str) -> bool:
    return character in "\t\n\r" or _kept(character)


def number_in(text: str) -> int | None:
    """A number a user typed or a button carries: ASCII digits only, small enough for any id column.

    str.isdigit() alone lets through "²" (which int() refuses) and 60-digit ids (which the database refuses).
    """
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        return None
    return int(text)
