"""The 台账: the plans as other tools read them (JSON) and as coordinators keep them (xlsx).

Both say what `duban status` says: the state and pace of every milestone as of one day come from
`duban.status.milestone_views`, so the workbook, the status table and the digest cannot disagree. A recurring
duty shows its first due date (what the plan prints, and what `duban import-xlsx` reads back) and, beside it,
the due date of the period in force.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import true
from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, select

from duban.chunks import in_parts
from duban.render import STATE_COLUMNS
from duban.services.text import xml_text
from duban.status import Counts, MilestoneState, MilestoneView, Pace, milestone_views
from duban.textfmt import display_width
from models import (
    Contact,
    DepartmentRole,
    Milestone,
    MilestoneStatus,
    Plan,
    ProgressReport,
    Task,
    TaskDepartment,
)
from models.query import rel

SECTION_LABELS = {"body": "主要任务", "safeguard": "工作保障", "attachment": "附件清单"}
RECURRENCE_LABELS = {"none": "", "yearly": "每年", "semester": "每学期", "monthly": "每月"}
STATE_LABELS: dict[MilestoneState, str] = dict(STATE_COLUMNS)  # the words `duban status` prints
# a milestone the plan no longer has: listed with its reports, in no count; `duban import-xlsx` skips its row
WITHDRAWN_LABEL = "已撤销"
# the colours and words of the digest (bot/telegram/views.py pace_label in zh_CN); the 台账 is Chinese only
PACE_LABELS = {
    Pace.green: "🟢 正常",
    Pace.amber: "🟡 滞后",
    Pace.red: "🔴 逾期或受阻",
    Pace.grey: "⚪ 未汇报",
    Pace.done: "✔ 已销号",
}
REPORT_STATUS_LABELS = {"on_track": "正常推进", "at_risk": "存在风险", "blocked": "受阻", "done": "已完成"}
NO_LEAD = "（未明确牵头部门）"


# ---------------------------------------------------------------- reading the database


def load_plans(*, session: Session, plan_ids: list[int] | None = None) -> list[Plan]:
    """Every plan, or only `plan_ids` (the dashboard's download: one county's plans)."""
    statement = (
        select(Plan)
        .where(col(Plan.id).in_(plan_ids) if plan_ids is not None else true())
        .order_by(Plan.key)
        .options(
            selectinload(rel(Plan.tasks))
            .selectinload(rel(Task.department_links))
            .selectinload(rel(TaskDepartment.department)),
            selectinload(rel(Plan.tasks)).selectinload(rel(Task.milestones)),
        )
    )
    return list(session.exec(statement).all())


@dataclass(frozen=True)
class LatestReport:
    reported_on: dt.date  # local date
    department: str
    status: str
    percent: int | None
    note: str


@dataclass
class Ledger:
    """Everything the exports show, as of one day."""

    today: dt.date
    plans: list[Plan]
    views: dict[
        int, MilestoneView
    ]  # milestone id -> state, pace and current due date; none for a withdrawn one
    latest: dict[int, LatestReport]  # milestone id -> the latest report up to today

    def view(self, milestone: Milestone) -> MilestoneView | None:
        """The milestone's state as of the day; None for a withdrawn one, which has none."""
        return self.views.get(milestone.id or 0)


def build_ledger(
    *, session: Session, today: dt.date, tz: dt.tzinfo, plan_ids: list[int] | None = None
) -> Ledger:
    scoped = milestone_views(session=session, today=today, plan_ids=plan_ids)
    views = {view.milestone_id: view for view in scoped}
    plans = load_plans(session=session, plan_ids=plan_ids)
    report_ids = [view.latest_report_id for view in views.values() if view.latest_report_id is not None]
    # a withdrawn milestone keeps its reports; its newest is the copy on its row (a past day's view aside)
    report_ids += [
        m.latest_report_id
        for plan in plans
        for task in plan.tasks
        for m in task.milestones
        if m.status == MilestoneStatus.withdrawn and m.latest_report_id is not None
    ]
    return Ledger(
        today=today,
        plans=plans,
        views=views,
        latest=_latest_reports(session=session, report_ids=report_ids, tz=tz),
    )


def _latest_reports(*, session: Session, report_ids: list[int], tz: dt.tzinfo) -> dict[int, LatestReport]:
    found: dict[int, LatestReport] = {}
    for chunk in in_parts(report_ids):
        for report in session.exec(
            select(ProgressReport)
            .where(col(ProgressReport.id).in_(chunk))
            .options(selectinload(rel(ProgressReport.contact)).selectinload(rel(Contact.department)))
        ).all():
            found[report.milestone_id] = LatestReport(
                reported_on=report.reported_at.astimezone(tz).date(),
                department=report.contact.department.name,
                status=str(report.status),
                percent=report.percent,
                note=report.note,
            )
    return found


# ---------------------------------------------------------------- JSON


def export_json(*, session: Session, today: dt.date, tz: dt.tzinfo) -> dict[str, Any]:
    ledger = build_ledger(session=session, today=today, tz=tz)
    return {"as_of": today.isoformat(), "plans": [_plan_dict(plan, ledger) for plan in ledger.plans]}


def write_json(*, session: Session, output: Path, today: dt.date, tz: dt.tzinfo) -> int:
    """Write the JSON export to `output` (all or nothing); returns the number of plans."""
    data = export_json(session=session, today=today, tz=tz)
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    write_atomically(output, lambda path: path.write_text(text, encoding="utf-8"))
    return len(data["plans"])


def _plan_dict(plan: Plan, ledger: Ledger) -> dict[str, Any]:
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
                "milestones": [_milestone_dict(m, ledger) for m in task.milestones],
            }
            for task in plan.tasks
        ],
    }


def _milestone_dict(milestone: Milestone, ledger: Ledger) -> dict[str, Any]:
    view = ledger.view(milestone)
    latest = ledger.latest.get(milestone.id or 0)
    return {
        "due_on": milestone.due_on.isoformat(),
        "target": milestone.target,
        "recurrence": milestone.recurrence,
        "until": milestone.until.isoformat() if milestone.until else None,
        "current_due_on": (view.due_on if view else milestone.due_on).isoformat(),
        "state": view.state.value if view else MilestoneStatus.withdrawn.value,
        "pace": view.pace.value if view else None,
        "latest_report": None
        if latest is None
        else {
            "reported_on": latest.reported_on.isoformat(),
            "department": latest.department,
            "status": latest.status,
            "percent": latest.percent,
            "note": latest.note,
        },
    }


# ---------------------------------------------------------------- the workbook

LEDGER_COLUMNS = [  # (header, width in Excel's character units)
    ("序号", 8),
    ("部分", 9),
    ("任务", 24),
    ("牵头部门", 16),
    ("配合部门", 22),
    ("完成时限", 12),  # the first due date, as the plan prints it; import-xlsx reads this one
    ("周期", 7),
    ("本期时限", 12),  # the due date in force as of the 台账's day
    ("目标", 40),
    ("状态", 9),
    ("进度", 14),
    ("最近汇报", 12),
    ("汇报部门", 16),
    ("完成比例（%）", 9),
    ("汇报情况", 10),
    ("汇报说明", 36),
    ("任务内容", 60),
]
COVER_SHEET_TITLE = "汇总"
SHEET_TITLE_LIMIT = 31  # Excel refuses longer sheet names
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
WRAPPED = Alignment(wrap_text=True, vertical="top")
LINE_HEIGHT = 15  # points per wrapped line at the default 11-point font
MAX_ROW_HEIGHT = 409  # Excel's limit
STATE_FILLS = {
    MilestoneState.overdue: PatternFill("solid", fgColor="F8CBAD"),
    MilestoneState.done: PatternFill("solid", fgColor="C6EFCE"),
}
WITHDRAWN_FILL = PatternFill("solid", fgColor="D9D9D9")


class NoPlans(LookupError):
    """The database holds no plan, so there is no 台账 to write."""


def export_xlsx(
    *, session: Session, output: Path, today: dt.date, tz: dt.tzinfo, plan_ids: list[int] | None = None
) -> int:
    """Write the cover sheet, then one sheet per plan with a row per task x milestone; returns the data rows.

    The file appears whole or not at all. Raises NoPlans (nothing written) on an empty database (or scope).
    `plan_ids` limits the workbook to those plans (the dashboard's download: the reader's county).
    """
    ledger = build_ledger(session=session, today=today, tz=tz, plan_ids=plan_ids)
    if not ledger.plans:
        raise NoPlans()
    workbook = Workbook()
    cover = workbook.active
    assert cover is not None  # a new workbook starts with one sheet
    _write_cover(cover, ledger)
    rows_written = 0
    for plan in ledger.plans:
        rows_written += _write_plan_sheet(workbook.create_sheet(sheet_title(plan.region)), plan, ledger)
    write_atomically(output, lambda path: workbook.save(path))
    return rows_written


def sheet_title(region: str) -> str:
    """A plan's sheet is named by its region (`duban import-xlsx` finds the plan by it)."""
    for forbidden in "[]:*?/\\":
        region = region.replace(forbidden, "")
    return region[:SHEET_TITLE_LIMIT]


def _writable(cells: Sequence[object]) -> list[object]:
    """A row the workbook's XML can hold: a character no XML may carry (a row stored before the sanitizer knew
    it) is dropped here instead of failing the county's whole download."""
    return [xml_text(cell) if isinstance(cell, str) else cell for cell in cells]


def _write_plan_sheet(sheet: Worksheet, plan: Plan, ledger: Ledger) -> int:
    widths = [width for _, width in LEDGER_COLUMNS]
    sheet.append([name for name, _ in LEDGER_COLUMNS])
    _style_header(sheet, row=1, widths=widths)
    state_column = [name for name, _ in LEDGER_COLUMNS].index("状态") + 1
    rows = 0
    for task in plan.tasks:
        for cells, milestone in _task_rows(task, ledger):
            sheet.append(_writable(cells))
            rows += 1
            # below the header; not sheet.max_row, which scans every cell (quadratic on a big plan)
            row = rows + 1
            _data_row(sheet, row, widths)
            fill = _fill(ledger, milestone)
            if fill is not None:
                sheet.cell(row=row, column=state_column).fill = fill
    sheet.freeze_panes = "D2"  # the header and the task's number, part and name stay in view
    sheet.auto_filter.ref = sheet.dimensions
    sheet.print_title_rows = "1:1"  # the header on every printed page
    _print_setup(sheet)
    return rows


def _task_rows(task: Task, ledger: Ledger) -> list[tuple[list[Any], Milestone | None]]:
    lead = "、".join(d.name for d in task.departments(DepartmentRole.lead))
    co = "、".join(d.name for d in task.departments(DepartmentRole.co))
    head = [task.ref, SECTION_LABELS.get(task.section, task.section), task.title, lead, co]
    if not task.milestones:
        return [([*head, *[None] * (len(LEDGER_COLUMNS) - len(head) - 1), task.text], None)]
    return [([*head, *_milestone_cells(m, ledger), task.text], m) for m in task.milestones]


def _fill(ledger: Ledger, milestone: Milestone | None) -> PatternFill | None:
    if milestone is None:
        return None
    view = ledger.view(milestone)
    return WITHDRAWN_FILL if view is None else STATE_FILLS.get(view.state)


def _milestone_cells(milestone: Milestone, ledger: Ledger) -> list[Any]:
    view = ledger.view(milestone)
    latest = ledger.latest.get(milestone.id or 0)
    report: list[Any] = [None] * 5
    if latest is not None:
        report = [
            latest.reported_on.isoformat(),
            latest.department,
            latest.percent,
            REPORT_STATUS_LABELS.get(latest.status, latest.status),
            latest.note or None,
        ]
    return [
        milestone.due_on.isoformat(),
        RECURRENCE_LABELS[milestone.recurrence] or None,
        (view.due_on if view else milestone.due_on).isoformat(),
        milestone.target,
        STATE_LABELS[view.state] if view else WITHDRAWN_LABEL,
        PACE_LABELS[view.pace] if view else None,
        *report,
    ]


# ---------------------------------------------------------------- the cover sheet


@dataclass
class Tally:
    states: Counts = field(default_factory=Counts)
    paces: Counter[Pace] = field(default_factory=Counter)

    def add(self, view: MilestoneView) -> None:
        self.states.add(view.state)
        self.paces[view.pace] += 1

    def cells(self) -> list[int]:
        return [
            self.states.total,
            *(self.states[state] for state, _ in STATE_COLUMNS),
            *(self.paces[pace] for pace in COVER_PACES),
        ]


COVER_PACES = (Pace.green, Pace.amber, Pace.red, Pace.grey)
COVER_COUNT_HEADERS = [
    "节点数",
    *(label for _, label in STATE_COLUMNS),
    *(PACE_LABELS[p] for p in COVER_PACES),
]
COVER_WIDTHS = [44, 16, *[10] * len(COVER_COUNT_HEADERS)]
COVER_NOTE = (
    "说明：状态与 duban status 一致。已销号＝经审批销号（周期性任务为本期已报完成）；已逾期＝已过时限仍未销号"
    "（周期性任务为上期未汇报或本期已过时限）；已汇报＝未到期、已有进度汇报；未汇报＝未到期、尚无汇报。"
    "进度颜色：🟢 进度不落后于时间；🟡 落后时间进度25个百分点以上或报告存在风险；🔴 逾期或受阻；⚪ 尚无汇报。"
    "周期性任务按当期计，“本期时限”为当期的完成时限。一项任务有多个牵头部门时，每个牵头部门各计一次。"
    "已撤销＝方案修订后不再包含的节点，连同汇报列在各方案表中，不计入统计。"
)


def _write_cover(sheet: Worksheet, ledger: Ledger) -> None:
    """A county office's 台账 cover: title, as-of date, then counts by plan and by lead department."""
    sheet.title = COVER_SHEET_TITLE
    by_plan: dict[int, Tally] = {}
    by_lead: dict[tuple[str, str], Tally] = {}
    overall = Tally()
    for plan in ledger.plans:
        plan_tally = by_plan.setdefault(plan.id or 0, Tally())
        for task in plan.tasks:
            leads = [d.name for d in task.departments(DepartmentRole.lead)] or [NO_LEAD]
            for milestone in task.milestones:
                view = ledger.view(milestone)
                if view is None:  # withdrawn: no longer the plan's, so in no count
                    continue
                plan_tally.add(view)
                overall.add(view)
                for lead in leads:
                    by_lead.setdefault((plan.region, lead), Tally()).add(view)

    width = 2 + len(COVER_COUNT_HEADERS)
    sheet.append(["督办工作台账"])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    sheet.cell(row=1, column=1).font = Font(bold=True, size=16)
    sheet.cell(row=1, column=1).alignment = Alignment(horizontal="center")
    sheet.append(
        [
            f"截至 {ledger.today.isoformat()}（共 {len(ledger.plans)} 个方案、{overall.states.total} 个时间节点）"
        ]
    )
    sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=width)

    sheet.append([])
    sheet.append(["一、按方案"])
    sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True)
    sheet.append(["方案", "地区", *COVER_COUNT_HEADERS])
    _style_header(sheet, row=sheet.max_row, widths=COVER_WIDTHS)
    for plan in ledger.plans:
        sheet.append(_writable([plan.title, plan.region, *by_plan[plan.id or 0].cells()]))
        _data_row(sheet, sheet.max_row, COVER_WIDTHS)
    sheet.append(["合计", "", *overall.cells()])
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)

    sheet.append([])
    sheet.append(["二、按牵头部门（逾期多者在前）"])
    sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True)
    sheet.append(["牵头部门", "地区", *COVER_COUNT_HEADERS])
    _style_header(sheet, row=sheet.max_row, widths=COVER_WIDTHS)
    ranked = sorted(
        by_lead.items(), key=lambda item: (item[0][0], -item[1].states[MilestoneState.overdue], item[0][1])
    )
    for (region, lead), tally in ranked:
        sheet.append(_writable([lead, region, *tally.cells()]))
        _data_row(sheet, sheet.max_row, COVER_WIDTHS)

    sheet.append([])
    sheet.append([COVER_NOTE])
    sheet.merge_cells(start_row=sheet.max_row, start_column=1, end_row=sheet.max_row, end_column=width)
    sheet.cell(row=sheet.max_row, column=1).alignment = WRAPPED
    sheet.row_dimensions[sheet.max_row].height = LINE_HEIGHT * 4
    sheet.freeze_panes = "A3"  # the title and the as-of date stay in view
    _print_setup(sheet)


# ---------------------------------------------------------------- layout


def _style_header(sheet: Worksheet, *, row: int, widths: list[int]) -> None:
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
        cell = sheet.cell(row=row, column=index)
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(vertical="center", horizontal="center", wrap_text=True)


def _data_row(sheet: Worksheet, row: int, widths: list[int]) -> None:
    """Keep text as text, wrap every cell, and make the row tall enough to show it.

    A note is what someone typed in chat: one starting with "=" must not become a live formula. Excel does not
    grow rows to fit wrapped text when it opens a file, so the height is estimated here.
    """
    lines = 1
    for index, width in enumerate(widths, start=1):
        cell = sheet.cell(row=row, column=index)
        cell.alignment = WRAPPED
        if cell.data_type == "f":
            cell.data_type = "s"
        if cell.value is not None:
            lines = max(lines, wrapped_lines(str(cell.value), width))
    sheet.row_dimensions[row].height = min(MAX_ROW_HEIGHT, LINE_HEIGHT * lines)


def wrapped_lines(text: str, width: int) -> int:
    """Lines a text takes in a column `width` characters wide (a Chinese character is two)."""
    usable = max(1, width - 1)
    return sum(max(1, math.ceil(display_width(part) / usable)) for part in text.split("\n"))


def _print_setup(sheet: Worksheet) -> None:
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)


# ---------------------------------------------------------------- writing files


def write_atomically(output: Path, write: Callable[[Path], object]) -> None:
    """Write to a temporary file beside `output`, then rename it over: a failure never leaves half a file."""
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    os.close(handle)
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; the export is an ordinary file
        write(Path(temporary))
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
