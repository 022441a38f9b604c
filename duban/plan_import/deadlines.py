"""Deadlines and recurring duties in an item's text, as seed_data milestones.

    到2025年 / 2025年底前 / 至2027年 / 2024年      -> 2025-12-31 (a month or day, if printed, is kept)
    "十四五"期间                                 -> 2025-12-31 (the plan period's last year)
    每年 -> yearly (12-31, first in the issue year); 每学期 -> semester (01-20 / 07-10, first after the
    issue date); 每月, 月报 -> monthly (the 25th, first in the month after the issue)

A deadline that only introduces a duty ("至2027年，每年安排…", "“十四五”期间，每年…") bounds the duty
(`until`) instead of being a milestone of its own; a deadline with its own target in the same sentence
("2027年，形成特色课程，每年推广…") is both a milestone and the duty's bound. Each phrase is read per
sentence, and the sentence is the milestone's target. Years inside 《》 name other documents and are
skipped. Anything date-like that fits none of these (每季度, 年度, a year already past) is returned
as unmapped, for the reviewer.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from duban.plan_import.textnorm import cn_number, strip_end
from seed_data.schema import MONTHLY_DAY, SEMESTER_ENDS, Recurrence

_DEADLINE = re.compile(
    r"(?P<y1>20\d\d)(?:[-—–~至到](?P<y2>20\d\d))?年"
    r"(?:(?P<half>上半年|下半年)|(?P<m>\d{1,2})月(?:(?P<d>\d{1,2})日)?)?"
    r"(?P<after>以来|起|开始)?"
)
_PERIOD = re.compile(r"[“\"]?(?P<n>十[一二三四五六七八九])五[”\"]?(?:规划)?(?:期间|时期|末|内)?")
_RECURRING = {
    "每年": "yearly",
    "每学期": "semester",
    "每月": "monthly",
    "每个月": "monthly",
    "月报": "monthly",
}
_UNMAPPED = re.compile(r"每学年|每季度|每个季度|每半年|每周|每星期|每天|每日|年度")
_RECURRING_RE = re.compile("|".join(sorted(_RECURRING, key=len, reverse=True)))
_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]?")
_CLAUSE = re.compile(r"[^，,；;：:]+")
_LEAD_IN = re.compile(r"(力争|争取)?(到|至|截至|截止到?|于|在)?")
_ONLY_GLUE = re.compile(r"^[，,、：:\s]*$")


@dataclass
class Milestone:
    due_on: dt.date
    target: str
    recurrence: str = "none"
    until: dt.date | None = None


@dataclass
class _Token:
    kind: str  # deadline | recurring | start
    start: int
    end: int
    date: dt.date | None = None
    recurrence: str = "none"
    phrase: str = ""


def find_milestones(text: str, issued_on: dt.date) -> tuple[list[Milestone], list[str]]:
    """Milestones in `text` (one per phrase, not merged yet) and the date-like phrases left unmapped."""
    masked = re.sub(r"《[^《》]*》", lambda m: "＊" * len(m[0]), text)
    found: list[Milestone] = []
    unmapped: list[str] = []
    for match in _SENTENCE.finditer(masked):
        sentence = text[match.start() : match.end()]
        tokens = _tokens(match[0], issued_on, unmapped, sentence)
        found.extend(_milestones(tokens, match[0], sentence, issued_on))
        has_duty = any(t.kind == "recurring" for t in tokens)
        for start in (t for t in tokens if t.kind == "start" and not has_duty):
            unmapped.append(f"“{start.phrase}”：{strip_end(sentence)}")
        for other in _UNMAPPED.finditer(match[0]):
            # 年度 next to a duty (每年组织一次…年度体检) or a year (2024年度) is already read
            if other[0] == "年度" and (has_duty or match[0][max(0, other.start() - 1)].isdigit()):
                continue
            unmapped.append(f"“{other[0]}”：{strip_end(sentence)}")
    return found, unmapped


def _tokens(sentence: str, issued_on: dt.date, unmapped: list[str], printed: str) -> list[_Token]:
    tokens: list[_Token] = []
    for match in _DEADLINE.finditer(sentence):
        if match["after"]:
            year_end = dt.date(int(match["y1"]), 12, 31)
            tokens.append(_Token("start", match.start(), match.end(), year_end, phrase=match[0]))
            continue
        due = _deadline_date(match)
        if due is None or due.year < issued_on.year:
            unmapped.append(f"“{match[0]}”：{strip_end(printed)}")
            continue
        tokens.append(_Token("deadline", match.start(), match.end(), due))
    for match in _PERIOD.finditer(sentence):
        year = 1955 + 5 * cn_number(match["n"])
        tokens.append(_Token("deadline", match.start(), match.end(), dt.date(year, 12, 31)))
    for match in _RECURRING_RE.finditer(sentence):
        tokens.append(_Token("recurring", match.start(), match.end(), recurrence=_RECURRING[match[0]]))
    return sorted(tokens, key=lambda t: t.start)


def _deadline_date(match: re.Match[str]) -> dt.date | None:
    year = int(match["y2"] or match["y1"])
    if match["half"]:
        return dt.date(year, 6, 30) if match["half"] == "上半年" else dt.date(year, 12, 31)
    if match["m"]:
        month = int(match["m"])
        if not 1 <= month <= 12:
            return None
        day = int(match["d"]) if match["d"] else calendar.monthrange(year, month)[1]
        try:
            return dt.date(year, month, day)
        except ValueError:
            return None
    return dt.date(year, 12, 31)


class _Clauses:
    """A sentence cut at ，；： — targets are whole clauses, and ； separates independent parts."""

    def __init__(self, masked: str, sentence: str) -> None:
        self.masked, self.sentence = masked, sentence
        self.spans = [(m.start(), m.end()) for m in _CLAUSE.finditer(masked)] or [(0, len(masked))]

    def of(self, pos: int) -> int:
        return next((i for i, (s, e) in enumerate(self.spans) if s <= pos < e), len(self.spans) - 1)

    def part(self, pos: int) -> int:
        return len(re.findall("[；;]", self.masked[:pos]))

    def bare(self, token: _Token) -> bool:
        """The clause is the date and nothing else ("到2027年", "“十四五”期间")."""
        start, end = self.spans[self.of(token.start)]
        return bool(_LEAD_IN.fullmatch(self.masked[start : token.start] + self.masked[token.end : end]))

    def lead_in(self, token: _Token, earlier: list[_Token]) -> int:
        """Where the target starts: the start of the part, after any earlier phrase, at most 3 clauses back."""
        own = self.of(token.start)
        first = min(i for i, (s, _) in enumerate(self.spans) if self.part(s) == self.part(token.start))
        for other in earlier:
            if self.part(other.start) == self.part(token.start):
                # a bare date's target runs up to this phrase; any other phrase ends at its clause
                first = own if self.bare(other) else max(first, self.of(other.start) + 1)
        return max(first, own - 3) if first <= own else own

    def text(self, first: int, last: int) -> str:
        return strip_end(self.sentence[self.spans[first][0] : self.spans[last][1]]) or strip_end(
            self.sentence
        )


def _milestones(tokens: list[_Token], masked: str, sentence: str, issued_on: dt.date) -> list[Milestone]:
    clauses = _Clauses(masked, sentence)
    result: list[Milestone] = []
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        own = clauses.of(token.start)
        if token.kind == "deadline":
            if (
                following is not None
                and following.kind == "recurring"
                and _ONLY_GLUE.match(masked[token.end : following.start])
            ):
                continue  # "至2027年，每年…" bounds the duty that follows
            assert token.date is not None
            if clauses.bare(token):
                # "到2027年，…": the date stands alone, its target is what follows it
                last = clauses.of(following.start) - 1 if following else len(clauses.spans) - 1
                target = clauses.text(own, max(last, min(own + 1, len(clauses.spans) - 1)))
            else:
                target = clauses.text(clauses.lead_in(token, tokens[:index]), own)
            result.append(Milestone(due_on=token.date, target=target))
        elif token.kind == "recurring":
            earlier = [t for t in tokens[:index] if t.kind in ("deadline", "start")]
            begin = next((t.date for t in reversed(earlier) if t.kind == "start"), None)
            bound = next((t for t in reversed(earlier) if t.kind == "deadline"), None)
            if bound is not None and clauses.part(bound.start) != clauses.part(token.start):
                bound = None  # a deadline in another part of the sentence does not bound this duty
            if bound is not None and _ONLY_GLUE.match(masked[bound.end : token.start]):
                first = clauses.lead_in(bound, tokens[: tokens.index(bound)])
            else:
                first = clauses.lead_in(token, tokens[:index])
            due = first_due(token.recurrence, issued_on, begin)
            until = bound.date if bound is not None and bound.date and bound.date >= due else None
            result.append(Milestone(due, clauses.text(first, own), recurrence=token.recurrence, until=until))
    return result


def first_due(recurrence: str, issued_on: dt.date, start: dt.date | None = None) -> dt.date:
    """The first instance of a duty: the issue year's 12-31, the next term's end, next month's 25th."""
    if recurrence == Recurrence.yearly:
        year = max(issued_on.year, start.year if start else issued_on.year)
        return dt.date(year, 12, 31)
    if recurrence == Recurrence.semester:
        ends = sorted(dt.date(issued_on.year + k, m, d) for k in (0, 1) for m, d in SEMESTER_ENDS)
        return next(end for end in ends if end > issued_on)
    year, month = (issued_on.year + 1, 1) if issued_on.month == 12 else (issued_on.year, issued_on.month + 1)
    return dt.date(year, month, MONTHLY_DAY)


def merge(milestones: list[Milestone]) -> list[Milestone]:
    """One milestone per (due date, recurrence): targets joined with "；", the plan's bound kept."""
    merged: dict[tuple[dt.date, str], Milestone] = {}
    for milestone in milestones:
        key = (milestone.due_on, milestone.recurrence)
        if key not in merged:
            merged[key] = Milestone(milestone.due_on, milestone.target, milestone.recurrence, milestone.until)
            continue
        kept = merged[key]
        if milestone.target not in kept.target:
            kept.target = (
                milestone.target if kept.target in milestone.target else f"{kept.target}；{milestone.target}"
            )
        if milestone.until is not None:
            kept.until = max(kept.until or milestone.until, milestone.until)
    return list(merged.values())
