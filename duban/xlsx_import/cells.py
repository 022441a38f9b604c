"""What a cell means: departments named in it, and the milestones its deadline stands for.

Deadlines follow the seed files' rules (README "Seed data"): 到2025年 / 2025年底前 / 2025年 ->
2025-12-31, “十四五”期间 -> 2025-12-31, 每年 / 每学期 / 每月 -> a recurring duty. A spreadsheet may
also hold a date proper (2025-12-31, 2025/6/30, 2025.12).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from duban.plan_import.deadlines import find_milestones, merge

_SEPARATORS = "\n、，,；;"
_ROLE_WORDS = "牵头|负责|配合|参与|协同|协助|协办"
_ROLE_PREFIX = re.compile(rf"^(?P<role>{_ROLE_WORDS})(?:单位|部门|科室)?[:：](?P<names>.*)$", re.S)
_ROLE_SUFFIX = re.compile(rf"^(?P<names>.*?)(?P<role>{_ROLE_WORDS})$", re.S)
_PLAIN_DATE = re.compile(r"^(?P<y>20\d\d)[./-](?P<m>\d{1,2})(?:[./-](?P<d>\d{1,2}))?$")
# a deadline cell that deliberately names no date: the task stays in the ledger without a milestone
_DATE_ONLY = re.compile(
    r'(力争|争取)?(到|至|于|在)?(20\d\d年(\d{1,2}月)?(底前|底|前|内)?|[“"]?十[一二三四五六七八九]五[”"]?(期间|末)?)'
)
NO_DATE = re.compile(r"^(长期|持续|常态化|长期坚持|持续推进|长期推进|动态调整|根据需要|按需)")


@dataclass
class Deadline:
    due_on: dt.date
    recurrence: str = "none"
    until: dt.date | None = None
    target: str = ""


def split_names(cell: str) -> list[str]:
    """Names one per line or separated by 、，,；; — never inside brackets ("区委宣传部（区文明办）")."""
    names: list[str] = []
    depth, current = 0, ""
    for char in cell:
        if char in "（(":
            depth += 1
        elif char in "）)":
            depth = max(0, depth - 1)
        if depth == 0 and char in _SEPARATORS:
            names.append(current)
            current = ""
        else:
            current += char
    names.append(current)
    result: list[str] = []
    for name in (n.strip(" \t\u3000。") for n in names):
        if name and name not in result:
            result.append(name)
    return result


def split_responsibility(cell: str) -> tuple[list[str], list[str]]:
    """A 责任分工 cell as (lead, co).

    Without 牵头 words the first named leads and the rest cooperate; otherwise "A牵头，B、C配合",
    "牵头单位：A；配合单位：B" and "A负责" are read as printed.
    """
    if not re.search(_ROLE_WORDS, cell):
        names = split_names(cell)
        return names[:1], names[1:]
    lead: list[str] = []
    co: list[str] = []
    for part in re.split(r"[；;\n。]", cell):
        for piece in _pieces(part.strip()):
            match = _ROLE_PREFIX.match(piece) or _ROLE_SUFFIX.match(piece)
            names = split_names(match["names"] if match else piece)
            leads = match is not None and match["role"] in ("牵头", "负责")
            (lead if leads else co).extend(n for n in names if n not in lead + co)
    return lead, [n for n in co if n not in lead]


def _pieces(part: str) -> list[str]:
    """ "A牵头，B、C配合" -> ["A牵头", "B、C配合"]; "牵头单位：A、B" stays whole."""
    if _ROLE_PREFIX.match(part):
        return [part]
    return [p for p in re.split(r"[，,]", part) if p.strip()]


def deadline_milestones(cell: str, *, issued_on: dt.date) -> list[Deadline]:
    """The milestones a 完成时限 cell stands for; [] for 长期 / 持续推进; ValueError if unreadable."""
    text = cell.strip()
    if not text or NO_DATE.match(text):
        return []
    plain = _PLAIN_DATE.match(text)
    if plain:
        year, month = int(plain["y"]), int(plain["m"])
        try:
            day = int(plain["d"]) if plain["d"] else calendar.monthrange(year, month)[1]
            return [Deadline(dt.date(year, month, day))]
        except ValueError:
            raise ValueError(f"“{text}”不是有效日期") from None
    found, _ = find_milestones(text, issued_on)
    if not found:
        raise ValueError(
            f"无法识别完成时限“{text}”（可写 2025年底前、到2027年、“十四五”期间、每年、每学期、每月、"
            f"2025-12-31；年份不能早于方案印发的{issued_on.year}年）"
        )
    return [Deadline(m.due_on, m.recurrence, m.until) for m in merge(found)]


def goal_milestones(text: str, *, issued_on: dt.date) -> list[Deadline]:
    """Dated targets inside a 工作目标 cell ("到2025年，建成…；2027年…"); phrases it cannot date are left alone."""
    found, _ = find_milestones(text, issued_on)
    whole = text.strip().rstrip("。；;，, ")
    # "2027年底前，全部达标" may come back with the date phrase alone as its target: keep the whole cell
    return [
        Deadline(
            m.due_on, m.recurrence, m.until, whole if _DATE_ONLY.fullmatch(m.target.strip()) else m.target
        )
        for m in found
    ]


def merged(deadlines: list[Deadline]) -> list[Deadline]:
    """One milestone per (date, recurrence), targets joined with "；" as the seed files do."""
    by_key: dict[tuple[dt.date, str], Deadline] = {}
    for item in deadlines:
        key = (item.due_on, item.recurrence)
        kept = by_key.get(key)
        if kept is None:
            by_key[key] = Deadline(item.due_on, item.recurrence, item.until, item.target)
            continue
        if item.target and item.target not in kept.target:
            kept.target = item.target if kept.target in item.target else f"{kept.target}；{item.target}"
        if item.until is not None:
            kept.until = max(kept.until or item.until, item.until)
    return list(by_key.values())
