"""Put the pieces together: a plan document becomes a SeedPlan and a list of findings for review.

A finding is anything the importer could not settle from the text: an item with no attribution, a
department name that does not look like one, a date-like phrase with no milestone rule, a missing
document number. Findings never change what is written; they are printed after the seed file and
kept as comments at its end, so the reviewer sees exactly what was inferred and what was left open.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from duban.plan_import.attribution import looks_like_department, split_attribution
from duban.plan_import.deadlines import Milestone, find_milestones, merge
from duban.plan_import.header import read_header
from duban.plan_import.reader import Table, read_document
from duban.plan_import.segment import RawItem, split_body
from duban.plan_import.tables import TableRow, column_role, flat_tables, table_rows
from duban.plan_import.textnorm import department_form, strip_end
from duban.plan_import.wholeplan import bound_to_year, leads_from_body, plan_year
from seed_data.schema import PLAN_KEY_LENGTH, SeedPlan

PLACEHOLDER = "（待填写）"


class ImportFailed(Exception):
    """The document lacks something a seed file cannot do without (issue date, any task)."""


@dataclass
class Finding:
    ref: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.ref}：{self.message}" if self.ref else self.message


@dataclass
class ImportResult:
    plan: SeedPlan
    findings: list[Finding] = field(default_factory=list)
    complete_header: bool = True


def import_plan(path: Path, *, key: str | None = None, region: str | None = None) -> ImportResult:
    document = read_document(path)
    lines = document.lines()
    header = read_header(lines)
    findings = [Finding(None, note) for note in [*document.notes, *header.notes]]
    if header.issued_on is None:
        raise ImportFailed(f"{path.name}：没有找到印发日期（如“2023年9月15日”），无法确定时间节点。")
    body = split_body(lines)
    findings += [Finding(None, note) for note in body.notes]
    convention: list[str] = []  # refs whose lead is the first named department, by convention
    unranked: dict[str, str] = {}  # attachment rows naming departments without roles -> their wording
    tasks = _body_tasks(body.items, header.issued_on, findings, convention)
    explicit = {t["ref"] for t in tasks if t["lead"] and t["ref"] not in convention}
    tasks += _table_tasks(document.blocks, body.rest, header.issued_on, findings, convention, unranked)
    if not tasks:
        raise ImportFailed(f"{path.name}：没有找到任何编号任务或任务清单表格。")
    _take_leads_from_body(tasks, unranked, explicit, findings, convention)
    year = plan_year(header.title)
    bounded = bound_to_year(tasks, year) if year else []
    if bounded:
        message = f"一年期方案：周期性任务截至 {year}-12-31（正文未写明其他期限）：{'、'.join(bounded)}"
        findings.append(Finding(None, message))
    if convention:
        message = f"{len(convention)} 项未写明牵头，按惯例以第一个部门为牵头：{'、'.join(convention)}"
        findings.append(Finding(None, message))
    departments = _aliases(tasks, findings)
    if region is None:
        message = f"地区取自发文机关：{header.region or PLACEHOLDER}（可用 --region 指定）"
        findings.append(Finding(None, message))
    data = {
        "key": key or plan_key(region or header.region or PLACEHOLDER, header.issued_on, header.doc_number),
        "title": header.title or PLACEHOLDER,
        "issuer": header.issuer or PLACEHOLDER,
        "doc_number": header.doc_number,
        "issued_on": header.issued_on,
        "region": region or header.region or PLACEHOLDER,
        "source": path.name,
        "departments": departments,
        "tasks": _unique_refs(tasks, findings),
    }
    complete = all(data[f] != PLACEHOLDER for f in ("title", "issuer", "region"))
    return ImportResult(plan=SeedPlan.model_validate(data), findings=findings, complete_header=complete)


def _body_tasks(
    items: list[RawItem], issued_on: dt.date, findings: list[Finding], convention: list[str]
) -> list[dict[str, Any]]:
    tasks = []
    for item in items:
        text, attribution = split_attribution(item.text)
        task = _task(item.ref, item.section, item_title(text), text)
        if attribution is None:
            _lead_in_sentence(task, findings)
        else:
            task["lead"], task["co"] = attribution.lead, attribution.co
            findings += [Finding(item.ref, doubt) for doubt in attribution.doubts]
            if attribution.by_convention:
                convention.append(item.ref)
        _add_milestones(task, [text], issued_on, findings)
        tasks.append(task)
    return tasks


def _lead_in_sentence(task: dict[str, Any], findings: list[Finding]) -> None:
    """No closing attribution, but the text names one department as lead ("教育和体育分局牵头、区直有关部门
    分工负责"): that department leads. Anything else named with 牵头 is left to the reviewer."""
    named = list(dict.fromkeys(m[1] for m in re.finditer(r"([^，。；、（(]{2,20}?)牵头", task["text"])))
    departments = [name for name in map(department_form, named) if looks_like_department(name)]
    if len(named) == 1 and departments:
        task["lead"] = departments
        findings.append(Finding(task["ref"], f"正文写明“{named[0]}牵头”，取为牵头部门"))
        return
    extra = f"（正文提到“{'、'.join(named)}牵头”，未作为责任部门）" if named else ""
    findings.append(Finding(task["ref"], f"未找到责任部门{extra}"))


def _take_leads_from_body(
    tasks: list[dict[str, Any]],
    unranked: dict[str, str],
    explicit: set[str],
    findings: list[Finding],
    convention: list[str],
) -> None:
    """An attachment row without role words is led by whoever leads the same action in the body."""
    by_ref = {t["ref"]: t for t in tasks}
    for change in leads_from_body(unranked, tasks, explicit):
        task = by_ref[change.ref]
        task["lead"], task["co"] = change.lead, change.co
        if change.ref in convention:
            convention.remove(change.ref)
        message = (
            f"责任分工未写明牵头，正文{change.body_ref}同一事项由{'、'.join(change.lead)}牵头，"
            f"取为牵头部门（文字重合 {change.share:.0%}）"
        )
        findings.append(Finding(change.ref, message))


def _table_tasks(
    blocks: list[str | Table],
    rest: list[str],
    issued_on: dt.date,
    findings: list[Finding],
    convention: list[str],
    unranked: dict[str, str],
) -> list[dict[str, Any]]:
    """One task per row of every task table: real ones first, then those flattened into the text."""
    tables: list[list[TableRow]] = []
    for block in (b for b in blocks if isinstance(b, Table)):
        rows = table_rows(block)
        if rows:
            tables.append(rows)
        else:
            first = "、".join(block.rows[0][:4]) if block.rows else ""
            findings.append(Finding(None, f"表格（{first}…）没有序号和部门列，未作为任务读取"))
    tables += [rows for rows in flat_tables(rest) if rows]
    tasks = []
    for number, rows in enumerate(tables, start=1):
        prefix = "附件" if len(tables) == 1 else f"附件{number}"
        for row in rows:
            ref = f"{prefix}-{row.number}"
            tasks.append(_row_task(ref, row, issued_on, findings, convention))
            if row.named and not row.lead and len(row.named) > 1:
                wording = [value for column, value in row.fields if column_role(column) in ("text", "target")]
                unranked[ref] = "".join([row.title, *wording])
    return tasks


def item_title(text: str) -> str:
    """The item's first sentence if short (加强党的领导), else its first clause."""
    first = re.split(r"[。；;！？：:]", text, maxsplit=1)[0]
    if len(first) > 20:
        first = re.split(r"[，,]", first, maxsplit=1)[0]
    return strip_end(first)[:60] or strip_end(text)[:20] or "（无标题）"


def _task(ref: str, section: str, title: str, text: str) -> dict[str, Any]:
    return {"ref": ref, "section": section, "title": title, "text": text or title, "lead": [], "co": []}


def _add_milestones(
    task: dict[str, Any],
    texts: list[str],
    issued_on: dt.date,
    findings: list[Finding],
    extra: Sequence[Milestone] = (),
) -> None:
    found: list[Milestone] = list(extra)
    for text in texts:
        milestones, unmapped = find_milestones(text, issued_on)
        found += milestones
        findings += [Finding(task["ref"], f"未能换算为时间节点的日期用语 {phrase}") for phrase in unmapped]
    task["milestones"] = [
        {"due_on": m.due_on, "target": m.target, "recurrence": m.recurrence}
        | ({"until": m.until} if m.until else {})
        for m in merge(found)
    ]


def _row_task(
    ref: str, row: TableRow, issued_on: dt.date, findings: list[Finding], convention: list[str]
) -> dict[str, Any]:
    text = "\n".join(f"{column}：{value}" for column, value in row.fields)
    task = _task(ref, "attachment", row.title or ref, text or row.title)
    lead, co = list(row.lead), list(row.co)
    if row.named:
        if lead:
            co += [n for n in row.named if n not in lead + co]
        else:
            lead, co = row.named[:1], row.named[1:] + [n for n in co if n not in row.named]
            if len(row.named) > 1:
                convention.append(ref)
    task["lead"], task["co"] = lead, [n for n in co if n not in lead]
    if not lead and not co:
        findings.append(Finding(ref, "表格行没有责任部门"))
    findings += [Finding(ref, note) for note in row.notes]
    extra: list[Milestone] = []
    if row.deadline:
        dated, unmapped = find_milestones(row.deadline, issued_on)
        first_text = next((value for column, value in row.fields if column_role(column) == "text"), None)
        target = strip_end(row.target or first_text or row.title)
        extra = [Milestone(m.due_on, target, m.recurrence, m.until) for m in dated]
        if not dated:
            findings.append(Finding(ref, f"完成时限“{row.deadline}”未能换算为日期"))
    cells = [value for column, value in row.fields if column_role(column) in ("text", "target")]
    _add_milestones(task, cells, issued_on, findings, extra)
    return task


def _aliases(tasks: list[dict[str, Any]], findings: list[Finding]) -> dict[str, list[str]]:
    """ "区教体局（区委教育工委）" and "区教体局" printed in one plan are one department."""
    printed = {name for task in tasks for name in (*task["lead"], *task["co"])}
    aliases: dict[str, list[str]] = {}
    for name in sorted(printed):
        bare = re.sub(r"（[^（）]*）$", "", name)
        if bare != name and bare in printed:
            aliases.setdefault(bare, []).append(name)
            findings.append(Finding(None, f"“{name}”记为“{bare}”的别名"))
    bare_names = sorted(n for n in printed if not any(n in names for names in aliases.values()))
    for short in bare_names:
        for long in bare_names:
            if _abbreviates(short, long):
                findings.append(
                    Finding(None, f"“{short}”可能是“{long}”的简称；如是同一部门，请在 departments 中登记")
                )
    return aliases


def _abbreviates(short: str, long: str) -> bool:
    """区发改局 / 区发展改革局: same first and last character, the short one's characters in order."""
    if len(short) < 3 or len(short) >= len(long) or short[0] != long[0] or short[-1] != long[-1]:
        return False
    rest = iter(long)
    return all(char in rest for char in short)


def _unique_refs(tasks: list[dict[str, Any]], findings: list[Finding]) -> list[dict[str, Any]]:
    seen: dict[str, int] = {}
    for task in tasks:
        ref = task["ref"]
        if ref in seen:
            seen[ref] += 1
            task["ref"] = f"{ref}#{seen[ref]}"
            findings.append(Finding(task["ref"], f"编号“{ref}”重复出现，已改名，请核对"))
        else:
            seen[ref] = 1
    return tasks


# the year and serial of a document number as read_header writes it: 安政办〔2023〕46号
DOC_SERIAL = re.compile(r"〔(\d{4})〕(\d{1,4})号$")


def plan_key(region: str, issued_on: dt.date, doc_number: str | None) -> str:
    """What a plan document's own particulars make its key: `<region>-<year>-<serial>` from its document number
    (安丘市-2023-46 for 安政办〔2023〕46号), or `<region>-<issue date>` (彭水苗族土家族自治县-2023-03-20) for a plan
    printed without one.

    Never the file name: two counties' plans saved as 实施方案.txt are two plans. Two plans of one county that
    share a year and serial (different issuers' series) get one key, and the load refuses the second, saying so,
    until it is given --key.
    """
    match = DOC_SERIAL.search(doc_number or "")
    tail = f"{match[1]}-{match[2]}" if match else issued_on.isoformat()
    name = re.sub(r"[^a-z0-9\u3400-\u9fff]+", "", region.lower())[: PLAN_KEY_LENGTH - len(tail) - 1]
    return f"{name or 'plan'}-{tail}"
