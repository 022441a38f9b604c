"""Find the numbered chapters, groups and items of a plan's body.

Plans number three levels: chapters "一、", groups "（一）" and items "1." / "1、" / "1．". A PDF export
wraps lines anywhere, so an item may start in the middle of a line ("…配合）3.丰富…", "工程 1.推进")
or its number may end a line and its words start the next ("9.\\n提升…"). The body is therefore read
as one stream, and a number counts as a marker only where it can start an item (line start, after
whitespace, or after 。；）〕) and only if it continues the numbering: the next number at its level, or
1 under a new parent. "为 9 处" or "1.7 万条" are never markers; an unexpected number is text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from duban.plan_import.tables import is_header
from duban.plan_import.textnorm import CN_NUMERAL, cn_number, squeeze

_MARKERS = re.compile(
    rf"(?P<l1>(?:^|(?<=\n))[ \t]*(?P<n1>{CN_NUMERAL})\s*[、．.])"
    rf"|(?P<l2>[（(]\s*(?P<n2>{CN_NUMERAL})\s*[）)])"
    r"|(?P<l3>(?<![\d.．])(?P<n3>\d{1,2})\s*[.．、](?!\d))"
)
_MAY_PRECEDE = set("。；;：:！？）)〕】]")
# the body ends at the attachments, the 抄送 line, or the closing "…2023 年 10 月 30 日印发"
_END_OF_BODY = re.compile(r"^\s*(附\s*件|抄\s*送|（此件|\(此件)|^.*20\d\d\s*年.*日\s*印发\s*$")
_INTRO = re.compile(
    r"指导思想|总体要求|工作目标|基本原则|主要目标|总体目标|发展目标|目标要求|工作原则|适用范围"
)
_SAFEGUARD = re.compile(r"保障|措施|组织实施|工作要求|组织领导")
_BODY = re.compile(r"任务|行动|工程|举措|重点|内容|项目|工作")


@dataclass
class RawItem:
    ref: str
    section: str  # body | safeguard
    text: str  # as printed, line breaks and all; attribution still attached


@dataclass
class Body:
    items: list[RawItem] = field(default_factory=list)
    rest: list[str] = field(default_factory=list)  # lines after the body: attachments
    notes: list[str] = field(default_factory=list)


@dataclass
class _Marker:
    level: int
    number: int
    label: str
    start: int
    end: int


def split_body(lines: list[str]) -> Body:
    """Items of the body, and the lines that follow it (the attachments)."""
    start = next((i for i, line in enumerate(lines) if re.match(r"^\s*一\s*[、．.]", line)), None)
    body = Body()
    if start is None:
        body.notes.append("没有找到“一、”开头的章节，正文未能分出任务。")
        body.rest = lines
        return body
    end = next((i for i in range(start + 1, len(lines)) if _ends_body(lines[i])), len(lines))
    body.rest = lines[end:]
    stream = "\n".join(lines[start:end])
    markers = _accepted_markers(stream, body.notes)
    _build_items(stream, markers, body)
    return body


def _ends_body(line: str) -> bool:
    """Attachments, 抄送, the closing date — or a table header when a flattened table has no 附件 line."""
    cells = line.split()
    return bool(_END_OF_BODY.match(line)) or (len(cells) >= 3 and is_header(cells))


def _accepted_markers(stream: str, notes: list[str]) -> list[_Marker]:
    """Markers that continue the numbering. A chapter heading stands on its own line, so a chapter
    number that skips ahead is still taken (and reported); items and groups must run in order."""
    accepted: list[_Marker] = []
    last = {1: 0, 2: 0, 3: 0}
    last_chapter = "〇"
    fresh = {2: True, 3: True}  # a new parent lets the level below start again at 1
    for match in _MARKERS.finditer(stream):
        level = 1 if match["l1"] else 2 if match["l2"] else 3
        if level > 1 and not _may_start_item(stream, match.start()):
            continue
        label = match[f"n{level}"]
        number = cn_number(label)
        if level == 1 and number > last[1] + 1:
            notes.append(f"章节编号从“{last_chapter}”跳到“{label}”，请核对是否漏了章节。")
        elif not (number == last[level] + 1 or (level > 1 and number == 1 and fresh[level])):
            continue
        if level > 1 and last[1] == 0:
            continue
        last[level] = number
        if level == 1:
            fresh, last_chapter = {2: True, 3: True}, label
        elif level == 2:
            fresh = {2: False, 3: True}
        else:
            fresh[3] = False
        accepted.append(_Marker(level, number, label, match.start(), match.end()))
    return accepted


def _may_start_item(stream: str, pos: int) -> bool:
    return pos == 0 or stream[pos - 1].isspace() or stream[pos - 1] in _MAY_PRECEDE


def _chapter_kind(title: str) -> str | None:
    if _INTRO.search(title) and "任务" not in title:
        return None
    if _SAFEGUARD.search(title):
        return "safeguard"
    return "body"


def _build_items(stream: str, markers: list[_Marker], body: Body) -> None:
    chapter: _Marker | None = None
    kind: str | None = None
    group: _Marker | None = None
    bounds = [m.start for m in markers[1:]] + [len(stream)]
    children = _children_count(markers)
    placed: list[tuple[_Marker, _Marker | None, _Marker, str, str]] = []  # chapter, group, item, kind, text
    for index, (marker, end) in enumerate(zip(markers, bounds, strict=True)):
        text = stream[marker.end : end]
        if marker.level == 1:
            chapter, group = marker, None
            title = squeeze(text.split("\n", 1)[0])
            kind = _chapter_kind(title)
            if kind == "body" and not _BODY.search(title):
                body.notes.append(
                    f"章节“{marker.label}、{title}”按正文任务读取（标题未说明是任务还是保障）。"
                )
            continue
        if kind is None or chapter is None:
            continue
        if marker.level == 2:
            group = marker if children[index] else None
            if group is not None:
                continue  # a group heading, not an item
        placed.append((chapter, group if marker.level == 3 else None, marker, kind, text))
    # body refs carry no chapter number, unless two body chapters number their items alike
    refs = [_ref(kind == "safeguard", ch, gr, item) for ch, gr, item, kind, _ in placed]
    prefix_body = len(set(refs)) < len(refs)
    for (ch, gr, item, kind, text), ref in zip(placed, refs, strict=True):
        if prefix_body and kind == "body":
            ref = _ref(True, ch, gr, item)
        body.items.append(RawItem(ref=ref, section=kind, text=text))


def _children_count(markers: list[_Marker]) -> list[int]:
    """For each group marker, how many items follow it before the next group or chapter."""
    counts = [0] * len(markers)
    for index, marker in enumerate(markers):
        if marker.level != 2:
            continue
        for later in markers[index + 1 :]:
            if later.level <= 2:
                break
            counts[index] += 1
    return counts


def _ref(with_chapter: bool, chapter: _Marker, group: _Marker | None, item: _Marker) -> str:
    """Printed numbers: （三）, （一）2 in the body; 三（一）, 三、21, 三（一）2 in 工作保障."""
    if item.level == 2:
        own = f"（{item.label}）"
    elif group is not None:
        own = f"（{group.label}）{item.number}"
    else:
        return f"{chapter.label}、{item.number}" if with_chapter else str(item.number)
    return f"{chapter.label}{own}" if with_chapter else own
