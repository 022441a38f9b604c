"""Rules that need the whole plan, applied once its items and table rows are read.

The body names the lead; the attachment row does not. A 责任分工 cell lists departments without role
words, in rank order (安丘: 市委宣传部、市教体局、市妇联、市民政局), so "the first named leads" would hand the
work to a Party office. Where a body item of the same plan does the same action and prints its lead with
牵头/负责, that lead leads the row too; the row's other names cooperate, and the cell stays verbatim in the
task text. "The same action" is the body item that shares most of the row's wording: the share of the
row's character pairs (title, target and measures; departments and deadline left out) that occur in the
item, counting only pairs that are not everyday words of the plan (乡村, 学校, 推进: pairs found in a third
of its body items). A share of SAME_ACTION or more is the same action; in 安丘, the one seed plan whose
rows lack role words, each row's best match scores 0.22-0.89 and a body item on another subject at most
0.15. The body's lead must also be one of the row's names: the rule picks who leads among the
departments the row prints, never adds one.

A one-year plan (its title starts with the year: "2023年巩固拓展…方案") bounds its recurring duties to
that year, unless the text already bounds them: the 清零月报 of a 2023 plan ends with December 2023.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

SAME_ACTION = 0.2
_EVERYDAY_SHARE = 3  # a pair found in a third of the body items is an everyday word of the plan
_NOT_WORDING = re.compile(r"[^\u4e00-\u9fff0-9A-Za-z]")
_PLAN_YEAR = re.compile(r"^(?P<year>20\d\d)\s*年(?!\s*[-—–~至到])")


@dataclass(frozen=True)
class BodyLead:
    """A row's lead taken from the body: who leads now, and the body item that says so."""

    ref: str
    lead: list[str]
    co: list[str]
    body_ref: str
    share: float


def pairs(text: str) -> set[str]:
    """The distinct pairs of adjacent characters of `text`, punctuation and spaces left out."""
    bare = _NOT_WORDING.sub("", text)
    return {bare[i : i + 2] for i in range(len(bare) - 1)}


def leads_from_body(rows: dict[str, str], tasks: list[dict[str, Any]], explicit: set[str]) -> list[BodyLead]:
    """For each row without role words (ref -> its wording), the lead its body counterpart prints.

    `explicit` holds the refs of body items whose lead is printed with 牵头/负责 (not by convention).
    Only rows whose lead changes are returned; the caller applies them.
    """
    body = [t for t in tasks if t["section"] == "body" and t["lead"] and t["ref"] in explicit]
    if not body:
        return []
    wording = [pairs(f"{t['title']}{t['text']}") for t in body]
    counts = Counter(pair for item in wording for pair in item)
    everyday = {pair for pair, n in counts.items() if n >= max(2, len(body) // _EVERYDAY_SHARE)}
    by_ref = {t["ref"]: t for t in tasks}
    changes = []
    for ref, text in rows.items():
        row = by_ref[ref]
        own = pairs(text) - everyday
        if not own:
            continue
        share, index = max((len(own & item) / len(own), -i) for i, item in enumerate(wording))
        if share < SAME_ACTION:
            continue
        match = body[-index]
        named = [*row["lead"], *row["co"]]
        lead = [name for name in named if _bare(name) in {_bare(n) for n in match["lead"]}]
        if not lead or lead == row["lead"]:
            continue
        co = [name for name in named if name not in lead]
        changes.append(BodyLead(ref, lead, co, match["ref"], round(share, 2)))
    return changes


def _bare(name: str) -> str:
    """区教体局（区委教育工委） and 区教体局 are one department."""
    return re.sub(r"（[^（）]*）$", "", name)


def plan_year(title: str | None) -> int | None:
    """2023 for "2023年巩固拓展…工作实施方案"; None for a multi-year plan or a title without a year."""
    match = _PLAN_YEAR.match(title or "")
    return int(match["year"]) if match else None


def bound_to_year(tasks: list[dict[str, Any]], year: int) -> list[str]:
    """Give every unbounded recurring duty `until` = the plan year's last day; the refs changed."""
    end = dt.date(year, 12, 31)
    changed = []
    for task in tasks:
        for milestone in task["milestones"]:
            if milestone["recurrence"] == "none" or milestone.get("until") or milestone["due_on"] > end:
                continue
            milestone["until"] = end
            if task["ref"] not in changed:
                changed.append(task["ref"])
    return changed
