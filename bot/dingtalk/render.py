"""A core Message as DingTalk robot messages: markdown, every user text escaped, cut to DingTalk's size.

Actions become links of DingTalk's `dtmd://dingtalkclient/sendMessage?content=...` scheme: tapping one sends the
command text back to the robot as if the user had typed it, so the same parser handles taps and typing. DingTalk
documents that scheme for markdown messages; action-card buttons are not used because the scheme is documented
for markdown only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bot.core.message import Action, Message, Section

MARKDOWN_KEY = "sampleMarkdown"
IMAGE_KEY = "sampleImageMsg"  # msgParam {"photoURL": media_id of an uploaded image}
# DingTalk publishes no hard limit for a robot's markdown text; its own Stream connector cuts at 2,000
# characters, so we do the same. The title is what the conversation list and the notification show.
MAX_TEXT_CHARS = 2000
MAX_TITLE_CHARS = 60
SEND_MESSAGE_LINK = "dtmd://dingtalkclient/sendMessage?content="
# a line break inside a block: DingTalk's markdown, like CommonMark, wants two spaces before the newline
LINE_BREAK = "  \n"
BLOCK_BREAK = "\n\n"

# everything markdown could read as syntax; a backslash makes it a literal character (CommonMark)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


@dataclass(frozen=True)
class RobotMessage:
    """One message as batchSend takes it: msgKey and the msgParam object."""

    msg_key: str
    msg_param: dict[str, Any]


def escape(text: str) -> str:
    """User text shown literally: markdown punctuation backslashed, HTML tags (DingTalk renders <font>) defused."""
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return text.replace("&", "&amp;").replace("<", "&lt;")


def action_link(action: Action) -> str:
    return f"[{escape(action.label)}]({SEND_MESSAGE_LINK}{quote(action.command, safe='')})"


def render(message: Message) -> list[RobotMessage]:
    """The message in as few robot messages as DingTalk's size allows, cut between sections, else between lines."""
    title = _plain_title(message.title)
    blocks = [f"#### {escape(message.title)}"] if message.title else []
    for section in message.sections:
        blocks.extend(_section_blocks(section))
    if message.footer:
        blocks.append(escape(message.footer))
    if message.actions:
        blocks.append(LINE_BREAK.join(action_link(a) for a in message.actions))
    return [
        RobotMessage(MARKDOWN_KEY, {"title": title, "text": text}) for text in _pack(blocks, MAX_TEXT_CHARS)
    ]


def _plain_title(title: str) -> str:
    """The notification title is plain text; keep it short and on one line."""
    one_line = " ".join(title.split()) or "督办"
    return one_line if len(one_line) <= MAX_TITLE_CHARS else one_line[: MAX_TITLE_CHARS - 1] + "…"


def _section_blocks(section: Section) -> list[str]:
    """A section as one block, or, when it alone is too long, as several blocks cut between its lines."""
    lines = ([f"**{escape(section.heading)}**"] if section.heading else []) + [
        escape(line) for line in section.lines
    ]
    whole = LINE_BREAK.join(lines)
    if len(whole) <= MAX_TEXT_CHARS:
        return [whole]
    return _pack(lines, MAX_TEXT_CHARS, separator=LINE_BREAK)


def _pack(pieces: list[str], limit: int, separator: str = BLOCK_BREAK) -> list[str]:
    """Greedy: as many whole pieces per chunk as fit; a piece longer than the limit is cut hard (rare)."""
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        for part in _hard_cut(piece, limit):
            candidate = f"{current}{separator}{part}" if current else part
            if len(candidate) <= limit:
                current = candidate
            else:
                chunks.append(current)
                current = part
    if current or not chunks:
        chunks.append(current)
    return chunks


def _hard_cut(piece: str, limit: int) -> list[str]:
    """A single line longer than a whole message: cut it, never inside a backslash escape or an entity."""
    parts = []
    while len(piece) > limit:
        cut = limit
        amp = piece.rfind("&", 0, cut)
        if amp != -1 and ";" not in piece[amp:cut]:
            cut = amp  # an entity (&lt; &amp;) would straddle the cut
        backslashes = len(piece[:cut]) - len(piece[:cut].rstrip("\\"))
        if backslashes % 2:
            cut -= 1  # the cut would separate a backslash from the character it escapes
        cut = cut or limit  # cannot happen with our escapes; never loop forever
        parts.append(piece[:cut])
        piece = piece[cut:]
    parts.append(piece)
    return parts
