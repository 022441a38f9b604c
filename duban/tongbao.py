"""督查通报: the document a county office circulates after a 督查, as a Word file (python-docx).

`gather` reads the figures for some plans as of a day (the same milestone states and pace as /status and the
digest); `document` lays them out: title, period, a summary paragraph with the figures, a table of lagging
departments, a table of overdue milestones with days overdue, and the departments that reported in the period.
`write` saves atomically: a half-written file never takes the place of a good one.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt
from sqlmodel import Session, col, select

from duban.chunks import in_parts
from duban.services.text import xml_text
from duban.status import MilestoneState, MilestoneView, Pace, milestone_views
from models import Contact, Department, DepartmentRole, Milestone, Plan, ProgressReport, Task, TaskDepartment

PERIOD_DAYS = 7
FONT = "仿宋"  # the face official documents are set in; Word substitutes when it is missing


@dataclass(frozen=True)
class DepartmentRef:
    id: int
    name: str


@dataclass(frozen=True)
class Departments:
    """The departments a milestone's task names, in the order the plan prints them."""

    lead: tuple[DepartmentRef, ...] = ()
    co: tuple[DepartmentRef, ...] = ()

    def names(self, role: DepartmentRole) -> str:
        return "、".join(d.name for d in (self.lead if role == DepartmentRole.lead else self.co)) or "—"


def departments_by_milestone(*, session: Session, plan_ids: list[int]) -> dict[int, Departments]:
    """Lead and co departments of every milestone of these plans, in one query."""
    rows = session.exec(
        select(Milestone.id, TaskDepartment.role, Department.id, Department.name)
        .join(Task, col(Task.id) == Milestone.task_id)
        .join(TaskDepartment, col(TaskDepartment.task_id) == Task.id)
        .join(Department, col(Department.id) == TaskDepartment.department_id)
        .where(col(Task.plan_id).in_(plan_ids))
        .order_by(col(TaskDepartment.position))
    ).all()
    lead: dict[int, list[DepartmentRef]] = defaultdict(list)
    co: dict[int, list[DepartmentRef]] = defaultdict(list)
    for milestone_id, role, department_id, name in rows:
        (lead if role == DepartmentRole.lead else co)[milestone_id or 0].append(
            DepartmentRef(department_id or 0, name)
        )
    return {m: Departments(tuple(lead.get(m, ())), tuple(co.get(m, ()))) for m in {*lead, *co}}


@dataclass(frozen=True)
class LaggingMilestone:
    lead_departments: str
    task_ref: str
    task_title: str
    due_on: dt.date
    days_overdue: int
    paused_until: dt.date | None = None  # a coordinator's /snooze: the ladder waits until then
    pause_reason: str = ""

    @property
    def remark(self) -> str:
        """The 备注 cell: a pause is said, so a circulated 通报 does not chase what the office agreed to wait on."""
        if self.paused_until is None:
            return ""
        reason = f"：{self.pause_reason}" if self.pause_reason else ""
        return f"暂停催办至{_chinese_date(self.paused_until)}{reason}"


@dataclass(frozen=True)
class LaggingDepartment:
    name: str
    overdue: int
    behind: int  # 🟡: reported, but behind the time elapsed or at risk
    longest_overdue_days: int


@dataclass(frozen=True)
class Tongbao:
    region: str
    plan_titles: tuple[str, ...]
    period_start: dt.date
    period_end: dt.date
    states: dict[MilestoneState, int]
    pace: dict[Pace, int]
    reports_in_period: int
    lagging_departments: tuple[LaggingDepartment, ...]
    lagging_milestones: tuple[LaggingMilestone, ...]
    reported_departments: tuple[str, ...]

    @property
    def total(self) -> int:
        return sum(self.states.values())


def gather(*, session: Session, plans: list[Plan], today: dt.date, period_days: int = PERIOD_DAYS) -> Tongbao:
    """The figures of these plans (one county's) as of `today`, over the `period_days` ending that day."""
    plan_ids = [p.id for p in plans if p.id is not None]
    views = milestone_views(session=session, today=today, plan_ids=plan_ids)
    departments = departments_by_milestone(session=session, plan_ids=plan_ids)
    period_start = today - dt.timedelta(days=period_days - 1)
    overdue: Counter[str] = Counter()
    behind: Counter[str] = Counter()
    longest: dict[str, int] = defaultdict(int)
    late: list[LaggingMilestone] = []
    late_ids: list[int] = []
    for view in views:
        leads = departments.get(view.milestone_id, Departments()).lead or (DepartmentRef(0, "—"),)
        if view.state == MilestoneState.overdue:
            days = (today - view.due_on).days
            late.append(_lagging(view, "、".join(d.name for d in leads), days))
            late_ids.append(view.milestone_id)
            for department in leads:
                overdue[department.name] += 1
                longest[department.name] = max(longest[department.name], days)
        elif view.pace == Pace.amber:
            for department in leads:
                behind[department.name] += 1
    late = _with_pauses(session, late_ids, late, today)
    lagging = sorted(
        (LaggingDepartment(name, overdue[name], behind[name], longest[name]) for name in {*overdue, *behind}),
        key=lambda d: (-d.overdue, -d.longest_overdue_days, -d.behind, d.name),
    )
    reporters, reports = _reported(session, plan_ids, period_start, today)
    return Tongbao(
        region=plans[0].region if plans else "",
        plan_titles=tuple(p.title for p in plans),
        period_start=period_start,
        period_end=today,
        states=dict(Counter(v.state for v in views)),
        pace=dict(Counter(v.pace for v in views)),
        reports_in_period=reports,
        lagging_departments=tuple(lagging),
        lagging_milestones=tuple(sorted(late, key=lambda m: (-m.days_overdue, m.task_ref))),
        reported_departments=reporters,
    )


def _with_pauses(
    session: Session, ids: list[int], late: list[LaggingMilestone], today: dt.date
) -> list[LaggingMilestone]:
    """`late[i]` is milestone `ids[i]`; those whose escalation a coordinator paused (still in force) say so."""
    paused: dict[int, tuple[dt.date, str]] = {}
    for chunk in in_parts(ids):
        for milestone_id, until, reason in session.exec(
            select(
                col(Milestone.id),
                col(Milestone.escalation_paused_until),
                col(Milestone.escalation_pause_reason),
            ).where(
                col(Milestone.id).in_(chunk),
                col(Milestone.escalation_paused_until) >= today,
            )
        ).all():
            if milestone_id is not None and until is not None:
                paused[milestone_id] = (until, reason or "")
    return [
        replace(item, paused_until=paused[i][0], pause_reason=paused[i][1]) if i in paused else item
        for i, item in zip(ids, late, strict=True)
    ]


def _lagging(view: MilestoneView, leads: str, days: int) -> LaggingMilestone:
    return LaggingMilestone(leads, view.task_ref, view.task_title, view.due_on, days)


def _reported(
    session: Session, plan_ids: list[int], start: dt.date, end: dt.date
) -> tuple[tuple[str, ...], int]:
    """Departments whose contacts reported on these plans in the period (local days taken as UTC days, as the
    status computation does), and how many reports came in."""
    since = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    rows = session.exec(
        select(Department.name)
        .select_from(ProgressReport)
        .join(Contact, col(Contact.id) == ProgressReport.contact_id)
        .join(Department, col(Department.id) == Contact.department_id)
        .join(Milestone, col(Milestone.id) == ProgressReport.milestone_id)
        .join(Task, col(Task.id) == Milestone.task_id)
        .where(col(Task.plan_id).in_(plan_ids))
        .where(col(ProgressReport.reported_at) >= since, col(ProgressReport.reported_at) < until)
    ).all()
    return tuple(sorted(set(rows))), len(rows)


def _chinese_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def summary(tongbao: Tongbao) -> str:
    """The paragraph with the figures, as the document prints it."""
    s = tongbao.states
    pace = tongbao.pace
    text = (
        f"截至{_chinese_date(tongbao.period_end)}，方案共有时间节点{tongbao.total}个，"
        f"其中已销号{s.get(MilestoneState.done, 0)}个，已汇报{s.get(MilestoneState.reported, 0)}个，"
        f"未汇报{s.get(MilestoneState.silent, 0)}个，已逾期{s.get(MilestoneState.overdue, 0)}个。"
        f"按进度：正常{pace.get(Pace.green, 0)}个，滞后{pace.get(Pace.amber, 0)}个，"
        f"逾期或受阻{pace.get(Pace.red, 0)}个，尚无汇报{pace.get(Pace.grey, 0)}个。"
        f"本期（{_chinese_date(tongbao.period_start)}至{_chinese_date(tongbao.period_end)}）"
        f"共有{len(tongbao.reported_departments)}个部门汇报进度{tongbao.reports_in_period}次。"
    )
    if tongbao.lagging_departments:
        text += f"逾期或滞后的节点涉及{len(tongbao.lagging_departments)}个牵头部门，现予通报，请抓紧推进。"
    else:
        text += "本期没有逾期或滞后的节点。"
    return text


def title(tongbao: Tongbao) -> str:
    plans = "、".join(f"《{t}》" for t in tongbao.plan_titles) or "工作方案"
    return f"关于{plans}推进情况的督查通报"


def document(tongbao: Tongbao) -> DocxDocument:
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(14)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)
    heading = doc.add_heading(xml_text(title(tongbao)), level=1)
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    period = doc.add_paragraph(
        f"{xml_text(tongbao.region)}　通报期间：{_chinese_date(tongbao.period_start)}至{_chinese_date(tongbao.period_end)}"
    )
    period.alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_paragraph(xml_text(summary(tongbao)))

    doc.add_heading("一、进度滞后的部门", level=2)
    if tongbao.lagging_departments:
        _table(
            doc,
            ("牵头部门", "逾期节点", "滞后节点", "最长逾期天数"),
            [
                (d.name, str(d.overdue), str(d.behind), str(d.longest_overdue_days))
                for d in tongbao.lagging_departments
            ],
        )
    else:
        doc.add_paragraph("无。")

    doc.add_heading("二、逾期的时间节点", level=2)
    if tongbao.lagging_milestones:
        _table(
            doc,
            ("牵头部门", "任务", "完成时限", "逾期天数", "备注"),
            [
                (
                    m.lead_departments,
                    f"{m.task_ref} {m.task_title}",
                    m.due_on.isoformat(),
                    str(m.days_overdue),
                    m.remark,
                )
                for m in tongbao.lagging_milestones
            ],
        )
    else:
        doc.add_paragraph("无。")

    doc.add_heading("三、本期汇报进度的部门", level=2)
    doc.add_paragraph(
        xml_text("、".join(tongbao.reported_departments)) + "。" if tongbao.reported_departments else "无。"
    )
    return doc


def _table(doc: DocxDocument, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    table = doc.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        cell.text = text
        for run in cell.paragraphs[0].runs:
            run.bold = True
    for row in rows:
        for cell, text in zip(table.add_row().cells, row, strict=True):
            cell.text = xml_text(text)  # a character no XML may carry is dropped, not the document


def to_bytes(tongbao: Tongbao) -> bytes:
    buffer = io.BytesIO()
    document(tongbao).save(buffer)
    return buffer.getvalue()


def write(tongbao: Tongbao, output: Path) -> None:
    """Write beside the target, then rename over it: readers see the old file or the new one, never half."""
    data = to_bytes(tongbao)
    handle, temporary = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
