"""The 台账: the plans as other tools read them (JSON) and as coordinators keep them (xlsx)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import selectinload
from sqlmodel import Session, select

from models import DepartmentRole, Plan, Task, TaskDepartment
from models.query import rel

SECTION_LABELS = {"body": "主要任务", "safeguard": "工作保障", "attachment": "附件清单"}
RECURRENCE_LABELS = {"none": "", "yearly": "每年", "semester": "每学期", "monthly": "每月"}
STATUS_LABELS = {"open": "推进中", "done": "已销号"}


def load_plans(*, session: Session) -> list[Plan]:
    statement = (
        select(Plan)
        .order_by(Plan.key)
        .options(
            selectinload(rel(Plan.tasks))
            .selectinload(rel(Task.department_links))
            .selectinload(rel(TaskDepartment.department)),
            selectinload(rel(Plan.tasks)).selectinload(rel(Task.milestones)),
        )
    )
    return list(session.exec(statement).all())


def export_json(*, session: Session) -> dict[str, Any]:
    return {"plans": [_plan_dict(plan) for plan in load_plans(session=session)]}


def _plan_dict(plan: Plan) -> dict[str, Any]:
    return {
        "key": plan.key,
        "title": plan.title,
        "issuer": plan.issuer,
        "doc_number": plan.doc_number,
        "issued_on": plan.issued_on.isoformat(),
        "tasks": [
            {
                "ref": task.ref,
                "section": task.section,
                "title": task.title,
                "lead_departments": [d.name for d in task.departments(DepartmentRole.lead)],
                "co_departments": [d.name for d in task.departments(DepartmentRole.co)],
                "milestones": [
                    {"due_on": m.due_on.isoformat(), "target": m.target, "recurrence": m.recurrence}
                    for m in task.milestones
                ],
            }
            for task in plan.tasks
        ],
    }


LEDGER_COLUMNS = [
    ("序号", 10),
    ("部分", 10),
    ("任务", 28),
    ("牵头部门", 22),
    ("配合部门", 30),
    ("完成时限", 12),
    ("周期", 8),
    ("目标", 50),
    ("状态", 10),
    ("任务内容", 80),
]
SHEET_TITLE_LIMIT = 31  # Excel refuses longer sheet names


def export_xlsx(*, session: Session, output: Path) -> int:
    """Write one sheet per plan, one row per task x milestone; returns the number of data rows."""
    workbook = Workbook()
    default_sheet = workbook.active
    assert default_sheet is not None  # a new workbook starts with one sheet
    workbook.remove(default_sheet)
    rows_written = 0
    for plan in load_plans(session=session):
        sheet = workbook.create_sheet(_sheet_title(plan))
        sheet.append([name for name, _ in LEDGER_COLUMNS])
        for index, (_, width) in enumerate(LEDGER_COLUMNS, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = width
            header = sheet.cell(row=1, column=index)
            header.font = Font(bold=True)
            header.fill = PatternFill("solid", fgColor="DDEBF7")
            header.alignment = Alignment(vertical="center", wrap_text=True)
        for task in plan.tasks:
            for row in _task_rows(task):
                sheet.append(row)
                rows_written += 1
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = sheet.dimensions
    output.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(output)
    return rows_written


def _sheet_title(plan: Plan) -> str:
    title = plan.region
    for forbidden in "[]:*?/\\":
        title = title.replace(forbidden, "")
    return title[:SHEET_TITLE_LIMIT]


def _task_rows(task: Task) -> list[list[str]]:
    lead = "、".join(d.name for d in task.departments(DepartmentRole.lead))
    co = "、".join(d.name for d in task.departments(DepartmentRole.co))
    head = [task.ref, SECTION_LABELS.get(task.section, task.section), task.title, lead, co]
    if not task.milestones:
        return [[*head, "", "", "", "", task.text]]
    return [
        [
            *head,
            m.due_on.isoformat(),
            RECURRENCE_LABELS[m.recurrence],
            m.target,
            STATUS_LABELS[m.status],
            task.text,
        ]
        for m in task.milestones
    ]
