"""Small text helpers shared by the importer's steps.

Plan documents reach us as PDF or Word exports: lines are wrapped in the middle of words, spaces
are sprinkled around digits ("到 2027 年"), punctuation comes in full and half width, and page
numbers or Word bookmarks leak into the text. Every step works on text cleaned the same way here,
so a rule written for "到2027年" also holds for "到 2027 年".
"""

from __future__ import annotations

import re
import unicodedata

CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
CN_NUMERAL = "[一二三四五六七八九十〇零两]+"

# "— 13 —", "- 3 -": a page number that a PDF export left in the running text
PAGE_NUMBER = re.compile(r"(?:^|(?<=\s))[—–-]\s*\d{1,3}\s*[—–-](?=\s|$)")
# "[bookmark: _GoBack]": an artefact of converting a Word file to text
ARTEFACT = re.compile(r"\[bookmark:[^\]]*\]")
_SPACE = re.compile(r"\s+")
# full-width digits and letters (２０２５年, Ａ级) read as ASCII; full-width punctuation stays as printed
_FULL_WIDTH = str.maketrans(
    {
        chr(c): chr(c - 0xFEE0)
        for c in [*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B)]
    }
)
_ASCII_WORD = re.compile(r"[A-Za-z0-9]")


def cn_number(text: str) -> int:
    """十一 -> 11, 二十三 -> 23, 三 -> 3; also plain digits."""
    if text.isdigit():
        return int(text)
    if "十" in text:
        tens, _, units = text.partition("十")
        return (CN_DIGITS[tens] if tens else 1) * 10 + (CN_DIGITS[units] if units else 0)
    value = 0
    for char in text:
        value = value * 10 + CN_DIGITS[char]
    return value


def clean_line(line: str) -> str:
    """Drop export artefacts and page numbers; keep the line's own spacing for layout decisions."""
    line = ARTEFACT.sub("", line.replace("\u3000", " ").replace("\xa0", " ").translate(_FULL_WIDTH))
    return PAGE_NUMBER.sub(" ", line).rstrip()


def squeeze(text: str) -> str:
    """Join wrapped lines and drop the spaces a PDF export puts around digits.

    Chinese needs no spaces, so whitespace is removed unless it separates two Latin words or numbers
    ("Wi Fi", "3 5" stay apart); "到 2027 年" becomes "到2027年" and "区委组织\n部" becomes "区委组织部".
    """

    def keep(match: re.Match[str]) -> str:
        before = match.string[match.start() - 1] if match.start() else ""
        after = match.string[match.end()] if match.end() < len(match.string) else ""
        return " " if _ASCII_WORD.match(before or " ") and _ASCII_WORD.match(after or " ") else ""

    return _SPACE.sub(keep, text).strip()


def department_form(name: str) -> str:
    """How a department name is written in the seed files: no spaces, full-width brackets."""
    name = squeeze(name).replace("(", "（").replace(")", "）")
    return name.strip("。，、；;,. ")


def display_width(text: str) -> int:
    """Width of a line as printed: CJK and full-width characters count two, the rest one."""
    return sum(2 if unicodedata.east_asian_width(c) in "WFA" else 1 for c in text if not c.isspace()) + sum(
        1 for c in text if c == " "
    )


def strip_end(text: str) -> str:
    """A target or title without its closing punctuation."""
    return text.strip().rstrip("。；;，,、 ")


def split_top_level(text: str, separators: str) -> list[str]:
    """Split on separators that are not inside brackets: 各街道（镇、村） stays one piece."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char in "（(〔[【《":
            depth += 1
        elif char in "）)〕]】》" and depth:
            depth -= 1
        if char in separators and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in (part.strip() for part in parts) if p]
