"""The plan's own particulars: title, issuer, document number, issue date, region.

They are read from the part before the first chapter ("一、"): the 通知 that sends the plan out
carries the document number on a line of its own, the signature (issuer, then date) and the plan's
title in 《》. A document number quoted in a sentence belongs to another document ("按照《…》
（渝教财发〔2023〕8号）要求"), so only a number standing on its own line counts.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from duban.plan_import.textnorm import squeeze

DATE_LINE = re.compile(r"^\s*(20\d\d)\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*$")
DATE_ISSUED = re.compile(r"(20\d\d)\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*印发")
DOC_NUMBER = re.compile(
    r"^\s*([\u4e00-\u9fff]{1,16})\s*[〔［\[(（【]\s*(20\d\d)\s*[〕］\])）】]\s*(\d{1,4})\s*号\s*$"
)
CHAPTER_ONE = re.compile(r"^\s*一\s*[、.．]")
PLAN_WORDS = ("方案", "计划", "意见", "办法", "要点", "规划", "措施", "细则", "行动")
ORG_END = re.compile(r"(办公室|政府|委员会|管委会|局|厅|委|部|办|中心|分局)$")
REGION_TRIM = re.compile(
    r"(人民政府办公室|人民政府办公厅|人民政府|管理委员会.*|教育委员会|教育和体育局|教育体育局|教育局|办公室|委员会)$"
)


@dataclass
class Header:
    title: str | None = None
    issuer: str | None = None
    doc_number: str | None = None
    issued_on: dt.date | None = None
    region: str | None = None
    notes: list[str] = field(default_factory=list)


def preamble_lines(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if CHAPTER_ONE.match(line):
            return lines[:index]
    return lines[:60]


def read_header(lines: list[str]) -> Header:
    head = preamble_lines(lines)
    header = Header()
    for line in head:
        match = DOC_NUMBER.match(line)
        if match:
            header.doc_number = f"{match[1]}〔{match[2]}〕{match[3]}号"
            break
    header.issued_on, date_index, where = _issue_date(head, lines)
    if date_index is not None and where is head:
        header.issuer = _signature(head, date_index)
    if header.issuer is None:
        header.issuer = _first_org_line(head)
    header.title = _title(head)
    if header.issuer:
        header.region = REGION_TRIM.sub("", header.issuer) or None
    if header.doc_number is None:
        header.notes.append("没有找到单独成行的发文字号，doc_number 留空。")
    if header.issued_on is None:
        header.notes.append("没有找到印发日期。")
    elif where is not head:
        header.notes.append(f"印发日期取自正文之后的落款：{header.issued_on.isoformat()}。")
    if header.title is None:
        header.notes.append("没有找到方案标题。")
    if header.issuer is None:
        header.notes.append("没有找到发文机关。")
    return header


def _issue_date(head: list[str], lines: list[str]) -> tuple[dt.date | None, int | None, list[str]]:
    for source in (head, lines):
        for index, line in enumerate(source):
            match = DATE_LINE.match(line)
            if match:
                return _date(match), index, source
    for index, line in enumerate(lines):
        match = DATE_ISSUED.search(line)
        if match:
            return _date(match), index, lines
    return None, None, lines


def _date(match: re.Match[str]) -> dt.date | None:
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _signature(head: list[str], date_index: int) -> str | None:
    """The issuer signs just above the date."""
    for line in reversed(head[max(0, date_index - 3) : date_index]):
        name = squeeze(line)
        if name and ORG_END.search(name):
            return name
    return None


def _first_org_line(head: list[str]) -> str | None:
    for line in head:
        name = squeeze(line).removesuffix("文件")
        if name and len(name) <= 40 and ORG_END.search(name):
            return name
    return None


def _title(head: list[str]) -> str | None:
    text = squeeze("".join(head))
    for quoted in re.finditer(r"《([^《》]+)》", text):
        if quoted[1].endswith(PLAN_WORDS):
            return quoted[1]
    sent = re.search(r"关于印发(.+?)的通知", text)
    if sent:
        return sent[1]
    # no 通知 around it: the first line that names a plan, joined with a wrapped second line
    for index, line in enumerate(head):
        name = squeeze(line)
        if not name or name.startswith(("为", "根据")):
            continue
        if name.endswith(PLAN_WORDS):
            return name
        if index + 1 < len(head) and squeeze(head[index + 1]).endswith(PLAN_WORDS):
            return name + squeeze(head[index + 1])
    return None
