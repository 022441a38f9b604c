"""The one sanitizer every incoming text passes."""

from __future__ import annotations

import pytest

from duban.services.text import sanitized, storable
from models import limits


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("进展\x00顺利", "进展顺利"),  # NUL: PostgreSQL refuses it
        ("\x1b[31m红\x07", "[31m红"),  # escape sequences and bells
        ("a\r\nb\rc", "a\nb\nc"),  # line ends become newlines, which stay
        ("列1\t列2\n", "列1\t列2\n"),
        ("\ud800孤", "孤"),  # a lone surrogate cannot be stored as UTF-8
        ("\x7f\x85", ""),  # DEL and NEL are control characters too
        ("مرحبا \u202e שלום 👨‍👩‍👧", "مرحبا \u202e שלום 👨‍👩‍👧"),  # direction marks and joiners are text
    ],
)
def test_control_characters_go_and_text_stays(raw: str, clean: str) -> None:
    assert sanitized(raw) == clean == storable(raw)


def test_incoming_text_is_bounded_but_storable_keeps_the_length() -> None:
    long = "完" * (limits.INCOMING_TEXT + 10)
    assert len(sanitized(long)) == limits.INCOMING_TEXT
    assert storable(long) == long  # the services refuse a long text with a message, they never cut it
