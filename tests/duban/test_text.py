"""The one sanitizer every incoming text passes."""

from __future__ import annotations

import pytest

from duban.services.text import sanitized, storable, xml_text
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
        ("完成\ufffe\uffff60%", "完成60%"),  # not XML: one of them broke every 台账 and 通报 download
        ("\ufdd0进\ufdef展\U0001fffe\U0010ffff", "进展"),  # the other noncharacters, in every plane
        ("\ufffd替换符", "\ufffd替换符"),  # U+FFFD is a character (the replacement mark)
        ("مرحبا \u202e שלום 👨‍👩‍👧", "مرحبا \u202e שלום 👨‍👩‍👧"),  # direction marks and joiners are text
    ],
)
def test_control_characters_go_and_text_stays(raw: str, clean: str) -> None:
    assert sanitized(raw) == clean == storable(raw)


def test_incoming_text_is_bounded_but_storable_keeps_the_length() -> None:
    long = "完" * (limits.INCOMING_TEXT + 10)
    assert len(sanitized(long)) == limits.INCOMING_TEXT
    assert storable(long) == long  # the services refuse a long text with a message, they never cut it


def test_xml_text_drops_only_what_no_xml_document_can_hold() -> None:
    assert xml_text("第一行\r\n第二行\t完成\x0b\ufffe") == "第一行\r\n第二行\t完成"
    plain = "汇报：完成60%，已开工 <b>&"
    assert xml_text(plain) is plain  # the common case costs no copy
