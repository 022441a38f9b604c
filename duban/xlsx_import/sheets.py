"""Rows of a sheet as seed tasks (`seed_data.schema.SeedTask`), each remembering its sheet and rows.

A 台账 sheet has one row per task × milestone: rows sharing a 序号 are one task (they need not be
adjacent, so a sheet sorted by 完成时限 still reads). A 重点项目清单 row is one task of the
"attachment" section, ref 附件-<序号>.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from pydantic import ValidationError

from duban.ledger import RECURRENCE_LABELS, SECTION_LABELS, WITHDRAWN_LABEL
from duban.plan_import.tables import column_role  # one reading of 清单 headers for both importers
from duban.schema_text import error_message
from duban.xlsx_import.cells import (
    Deadline,
    deadline_milestones,
    goal_milestones,
    merged,
    split_names,
    split_responsibility,
)
from duban.xlsx_import.errors import Problem
from duban.xlsx_import.workbook import Row, Sheet
from seed_data.schema import Recurrence, SeedMilestone, SeedTask

SECTIONS = {label: section for section, label in SECTION_LABELS.items()} | {s: s for s in SECTION_LABELS}
RECURRENCES = {label: rec for rec, label in RECURRENCE_LABELS.items() if label} | {
    "每月（清零月报）": "monthly",
    "清零月报": "monthly",
}
ATTACHMENT_PREFIX = "附件-"
TITLE_LIMIT = 200  # Task.title
REF_LIMIT = 40  # Task.ref
# the per-task columns of a 台账 sheet: every row of one task must agree on them
LEDGER_TASK_COLUMNS = ("部分", "任务", "牵头部门", "配合部门", "任务内容")
_TASK_FIELDS = {"ref": "序号", "section": "部分", "title": "任务", "lead": "牵头部门", "co": "配合部门"}
_TASK_FIELDS |= {"text": "任务内容", "milestones": "完成时限"}


@dataclass
class SheetTask:
    sheet: str
    row: int  # the task's first row
    task: SeedTask
    # (row, due_on, recurrence, status label as printed) for each milestone row of a 台账 sheet
    statuses: list[tuple[int, dt.date, str, str]] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return self.task.ref


def _task(
    sheet: Sheet, row: int, data: dict, problems: list[Problem], fields: dict[str, str]
) -> SeedTask | None:
    try:
        return SeedTask.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            column = fields.get(str(error["loc"][0]), "") if error["loc"] else ""
            problems.append(Problem(sheet.name, row, column, error_message(error)))
        return None


def _milestone(
    sheet: Sheet, row: int, column: str, deadline: Deadline, problems: list[Problem]
) -> SeedMilestone | None:
    try:
        return SeedMilestone(
            due_on=deadline.due_on,
            target=deadline.target,
            recurrence=Recurrence(deadline.recurrence),
            until=deadline.until,
        )
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(Problem(sheet.name, row, column, error_message(error)))
        return None


# ---------------------------------------------------------------- the 台账 duban exports


def ledger_tasks(sheet: Sheet, *, issued_on: dt.date, problems: list[Problem]) -> list[SheetTask]:
    groups: dict[str, list[Row]] = {}
    for row in sheet.rows:
        ref = row.get("序号")
        if not ref:
            problems.append(Problem(sheet.name, row.number, "序号", "序号为空"))
            continue
        groups.setdefault(ref, []).append(row)
    result = []
    for ref, rows in groups.items():
        task = _ledger_task(sheet, ref, rows, issued_on=issued_on, problems=problems)
        if task is not None:
            result.append(task)
    return result


def _ledger_task(
    sheet: Sheet, ref: str, rows: list[Row], *, issued_on: dt.date, problems: list[Problem]
) -> SheetTask | None:
    first = rows[0]
    before = len(problems)
    for row in rows[1:]:
        for column in LEDGER_TASK_COLUMNS:
            if row.get(column) != first.get(column):
                problems.append(
                    Problem(
                        sheet.name,
                        row.number,
                        column,
                        f"与第{first.number}行（同一序号“{ref}”）不一致；同一任务的各行应一并修改",
                    )
                )
    section = SECTIONS.get(first.get("部分"))
    if section is None:
        problems.append(
            Problem(
                sheet.name, first.number, "部分", f"“{first.get('部分')}”不是 主要任务/工作保障/附件清单 之一"
            )
        )
    milestones: list[SeedMilestone] = []
    statuses: list[tuple[int, dt.date, str, str]] = []
    seen: dict[tuple[dt.date, str], int] = {}
    for row in rows:
        if row.get("状态") == WITHDRAWN_LABEL:
            # a milestone the plan no longer has, listed for the record: not one the sheet asks for (clearing
            # the cell asks for it again, and the import restores it)
            continue
        deadline = _ledger_deadline(sheet, row, issued_on=issued_on, problems=problems)
        if deadline is None:
            continue
        key = (deadline.due_on, deadline.recurrence)
        if key in seen:
            problems.append(
                Problem(
                    sheet.name,
                    row.number,
                    "完成时限",
                    f"与第{seen[key]}行的完成时限和周期相同，请把目标合并到一行",
                )
            )
            continue
        seen[key] = row.number
        milestone = _milestone(sheet, row.number, "完成时限", deadline, problems)
        if milestone is not None:
            milestones.append(milestone)
            statuses.append((row.number, deadline.due_on, deadline.recurrence, row.get("状态")))
    if len(problems) > before:
        return None
    data = {
        "ref": ref,
        "section": section,
        "title": first.get("任务"),
        "text": first.get("任务内容"),
        "lead": split_names(first.get("牵头部门")),
        "co": split_names(first.get("配合部门")),
        "milestones": milestones,
    }
    task = _task(sheet, first.number, data, problems, _TASK_FIELDS)
    return None if task is None else SheetTask(sheet.name, first.number, task, statuses)


def _ledger_deadline(
    sheet: Sheet, row: Row, *, issued_on: dt.date, problems: list[Problem]
) -> Deadline | None:
    when, label, target = row.get("完成时限"), row.get("周期"), row.get("目标")
    if not when:
        if target or label:
            column = "周期" if label and not target else "目标"
            problems.append(Problem(sheet.name, row.number, column, "填写了目标或周期，但完成时限为空"))
        return None
    recurrence = RECURRENCES.get(label) if label else "none"
    if recurrence is None:
        problems.append(
            Problem(sheet.name, row.number, "周期", f"“{label}”不是 每年/每学期/每月 之一，或留空")
        )
        return None
    try:
        found = deadline_milestones(when, issued_on=issued_on)
    except ValueError as exc:
        problems.append(Problem(sheet.name, row.number, "完成时限", str(exc)))
        return None
    if len(found) != 1:
        problems.append(Problem(sheet.name, row.number, "完成时限", f"“{when}”应写一个日期，如 2025-12-31"))
        return None
    deadline = found[0]
    if label and deadline.recurrence not in ("none", recurrence):
        problems.append(Problem(sheet.name, row.number, "周期", f"与完成时限“{when}”不一致"))
        return None
    if not target:
        problems.append(Problem(sheet.name, row.number, "目标", "有完成时限的行须写明目标"))
        return None
    recurrence = recurrence if label else deadline.recurrence
    return Deadline(deadline.due_on, recurrence, deadline.until, target)


# ---------------------------------------------------------------- 重点项目清单


def list_tasks(sheet: Sheet, *, issued_on: dt.date, problems: list[Problem]) -> list[SheetTask]:
    roles = {name: column_role(name) for name in sheet.columns if name}
    number = next(name for name, role in roles.items() if role == "number")
    result = []
    for row in sheet.rows:
        task = _list_task(sheet, row, roles, number, issued_on=issued_on, problems=problems)
        if task is not None:
            result.append(task)
    return result


def _list_task(
    sheet: Sheet, row: Row, roles: dict[str, str], number: str, *, issued_on: dt.date, problems: list[Problem]
) -> SheetTask | None:
    before = len(problems)
    columns = {role: [name for name, r in roles.items() if r == role] for role in set(roles.values())}

    def first(role: str) -> str:
        return next((row.get(c) for c in columns.get(role, []) if row.get(c)), "")

    serial = row.get(number)
    if not serial:
        problems.append(Problem(sheet.name, row.number, number, "序号为空"))
    ref = f"{ATTACHMENT_PREFIX}{serial}"
    if len(ref) > REF_LIMIT:
        problems.append(Problem(sheet.name, row.number, number, "序号过长"))
    text_columns = [c for c in sheet.columns if c and roles[c] not in ("number", "title")]
    text = "\n".join(f"{c}：{row.get(c)}" for c in text_columns if row.get(c))
    title = first("title") or _title_from(first("text") or first("target"))
    title_column = (columns.get("title") or [number])[0]
    if not title:
        problems.append(Problem(sheet.name, row.number, title_column, "没有项目名称或任务内容"))
    elif len(title) > TITLE_LIMIT:
        problems.append(Problem(sheet.name, row.number, title_column, f"项目名称超过{TITLE_LIMIT}字"))

    lead: list[str] = []
    co: list[str] = []
    for role in ("lead", "co", "named"):
        for column in columns.get(role, []):
            if role == "named":
                named_lead, named_co = split_responsibility(row.get(column))
                if lead:  # a 牵头部门 column already named the lead
                    named_lead, named_co = [], named_lead + named_co
            else:
                names = split_names(row.get(column))
                named_lead, named_co = (names, []) if role == "lead" else ([], names)
            lead += [n for n in named_lead if n not in lead]
            co += [n for n in named_co if n not in co]
    co = [n for n in co if n not in lead]

    target = first("target") or first("text") or title
    deadlines: list[Deadline] = []
    for column in columns.get("deadline", []):
        try:
            found = deadline_milestones(row.get(column), issued_on=issued_on)
        except ValueError as exc:
            problems.append(Problem(sheet.name, row.number, column, str(exc)))
            continue
        deadlines += [Deadline(d.due_on, d.recurrence, d.until, _strip_end(target)) for d in found]
    for column in columns.get("target", []):
        deadlines += goal_milestones(row.get(column), issued_on=issued_on)
    milestones = []
    deadline_column = (columns.get("deadline") or columns.get("target") or [number])[0]
    for deadline in merged(deadlines):
        milestone = _milestone(sheet, row.number, deadline_column, deadline, problems)
        if milestone is not None:
            milestones.append(milestone)
    if len(problems) > before:
        return None
    fields = {
        "ref": number,
        "title": title_column,
        "lead": (columns.get("lead") or columns.get("named") or [""])[0],
        "co": (columns.get("co") or columns.get("named") or [""])[0],
        "milestones": deadline_column,
    }
    data = {
        "ref": ref,
        "section": "attachment",
        "title": title,
        "text": text or title,
        "lead": lead,
        "co": co,
        "milestones": milestones,
    }
    task = _task(sheet, row.number, data, problems, fields)
    return None if task is None else SheetTask(sheet.name, row.number, task)


def _title_from(text: str) -> str:
    """The first sentence if short, else its first clause (as the plan importer titles an item)."""
    first = re.split(r"[。；;！？：:\n]", text, maxsplit=1)[0]
    if len(first) > 20:
        first = re.split(r"[，,]", first, maxsplit=1)[0]
    return _strip_end(first)[:60]


def _strip_end(text: str) -> str:
    return text.strip().rstrip("。；;，,、 ")
