"""督查通报: the document a county office circulates after a 督查, as a Word file (python-docx).

`gather` reads the figures for some plans as of a day (the same milestone states and pace as /status and the
digest); `document` lays them out as a 公文 (GB/T 9704-2012: A4 and its margins, 发文字号, a black 小标宋 title,
主送机关, the 仿宋 3号 body, 落款 and 成文日期, page numbers): a summary paragraph with the figures and the
period, a table of lagging departments, a table of overdue milestones with days overdue, and the departments that
reported in the period. `write` saves atomically: a half-written file never takes the place of a good one.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Length, Mm, Pt, RGBColor
from docx.text.paragraph import Paragraph
from docx.text.run import Run
from sqlmodel import Session, col, select

from duban.chunks import in_parts
from duban.services.text import xml_text
from duban.status import MilestoneState, MilestoneView, Pace, milestone_views
from models import Contact, Department, DepartmentRole, Milestone, Plan, ProgressReport, Task, TaskDepartment

PERIOD_DAYS = 7


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
    issuer: str  # the plan's issuer: signs the 通报 when no issuing office is set (DUBAN_ISSUING_OFFICE)
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
        issuer=plans[0].issuer if plans else "",
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


# ---------------------------------------------------------------- GB/T 9704-2012, 党政机关公文格式

DEFAULT_RECIPIENTS = "各有关部门"
# the faces the standard names, and the Noto CJK face a machine without them (a Linux desktop, LibreOffice) takes
# instead: Word reads the substitute from the font table's altName
TITLE_FONT = "方正小标宋简体"  # 小标宋体
BODY_FONT = "仿宋_GB2312"  # 仿宋体
HEADING_FONT = "黑体"  # the first level of headings in the body (一、)
PAGE_NUMBER_FONT = "宋体"
FALLBACKS = {
    TITLE_FONT: "Noto Serif CJK SC",
    BODY_FONT: "Noto Serif CJK SC",
    PAGE_NUMBER_FONT: "Noto Serif CJK SC",
    HEADING_FONT: "Noto Sans CJK SC",
}
TITLE_SIZE = Pt(22)  # 2号
BODY_SIZE = Pt(16)  # 3号
SMALL_SIZE = Pt(14)  # 4号: page numbers and the tables' cells
CHARACTER = BODY_SIZE  # a 3号 character's width: indents are counted in characters
LINE = Pt(28.95)  # 22 lines in the 225 mm type area
BLACK = RGBColor(0, 0, 0)
DOCUMENT_NUMBER = re.compile(r"(?P<code>[^\s〔〕]*)〔(?P<year>\d{4})〕(?P<serial>[1-9]\d{0,3})号")
_BRACKETS = str.maketrans({"[": "〔", "［": "〔", "【": "〔", "]": "〕", "］": "〕", "】": "〕"})


@dataclass(frozen=True)
class DocumentNumber:
    """发文字号 as given on the command line: a serial alone (3) takes the 机关代字 from the settings and the year
    of the 成文日期; a whole number (淄教督〔2026〕3号) is printed as it is."""

    serial: int
    year: int | None = None
    code: str | None = None

    def text(self, *, code: str, year: int) -> str:
        """〔〕 are the standard's brackets, and a serial has no leading zeros (不编虚位)."""
        return f"{self.code if self.code is not None else code}〔{self.year or year}〕{self.serial}号"


def parse_document_number(text: str) -> DocumentNumber:
    """`3` or `淄教督〔2026〕3号` ([2026] and 【2026】 are read as 〔2026〕); ValueError for anything else."""
    given = text.strip().translate(_BRACKETS)
    if given.isdigit() and 1 <= int(given) <= 9999:
        return DocumentNumber(int(given))
    match = DOCUMENT_NUMBER.fullmatch(given)
    if match is None or not 2000 <= int(match["year"]) <= 2099:
        raise ValueError(text)
    return DocumentNumber(int(match["serial"]), int(match["year"]), match["code"])


@dataclass(frozen=True)
class Heading:
    """The parts of a 公文 around the figures: 发文字号, 主送机关, 发文机关署名 and 成文日期."""

    office: str
    signed_on: dt.date
    number: str | None = None
    recipients: str = DEFAULT_RECIPIENTS


def chinese_date(day: dt.date) -> str:
    """成文日期 as GB/T 9704-2012 (7.3.5.1) writes it: Arabic numerals, the year in full, no leading zeros."""
    return _chinese_date(day)


def document(tongbao: Tongbao, heading: Heading | None = None) -> DocxDocument:
    """The 通报 laid out as a 公文: A4, the standard's margins, 文号, a black 小标宋 title, 主送, 仿宋 3号 body,
    落款 and 成文日期, page numbers — 1 — in the footer. Without a heading the plan's issuer signs it, today."""
    heading = heading or Heading(office=tongbao.issuer, signed_on=tongbao.period_end)
    doc = Document()
    _page(doc)
    _fonts(doc)
    if heading.number:
        _paragraph(doc, heading.number, align=WD_ALIGN_PARAGRAPH.CENTER)
    _paragraph(doc, "")
    _paragraph(
        doc,
        xml_text(title(tongbao)),
        font=TITLE_FONT,
        size=TITLE_SIZE,
        align=WD_ALIGN_PARAGRAPH.CENTER,
        line=None,  # a 2号 line is taller than the body's fixed 28.95 pt
    )
    _paragraph(doc, "")
    _paragraph(doc, xml_text(f"{heading.recipients}："))
    _paragraph(doc, xml_text(summary(tongbao)), indent=2)

    _paragraph(doc, "一、进度滞后的部门", font=HEADING_FONT, indent=2)
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
        _paragraph(doc, "无。", indent=2)

    _paragraph(doc, "二、逾期的时间节点", font=HEADING_FONT, indent=2)
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
        _paragraph(doc, "无。", indent=2)

    _paragraph(doc, "三、本期汇报进度的部门", font=HEADING_FONT, indent=2)
    _paragraph(
        doc,
        xml_text("、".join(tongbao.reported_departments)) + "。" if tongbao.reported_departments else "无。",
        indent=2,
    )
    _signature(doc, heading)
    _properties(doc, tongbao, heading)
    return doc


def _page(doc: DocxDocument) -> None:
    """A4, margins 37/35/28/26 mm (天头 37 mm, 订口 28 mm), page numbers in the footer: odd pages on the right
    and even pages on the left, one character in from the edge of the type area (7.5)."""
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    section.footer_distance = Mm(35 - 7 - 5)  # the number's top line 7 mm below the type area
    doc.settings.odd_and_even_pages_header_footer = True
    for footer, align in (
        (section.footer, WD_ALIGN_PARAGRAPH.RIGHT),
        (section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT),
    ):
        paragraph = footer.paragraphs[0]
        paragraph.alignment = align
        if align == WD_ALIGN_PARAGRAPH.RIGHT:
            paragraph.paragraph_format.right_indent = SMALL_SIZE
        else:
            paragraph.paragraph_format.left_indent = SMALL_SIZE
        _run(paragraph, "— ", font=PAGE_NUMBER_FONT, size=SMALL_SIZE)
        _page_field(_run(paragraph, "", font=PAGE_NUMBER_FONT, size=SMALL_SIZE))
        _run(paragraph, " —", font=PAGE_NUMBER_FONT, size=SMALL_SIZE)


def _page_field(run: Run) -> None:
    """A PAGE field (begin, instruction, separate, the number shown until Word updates it, end)."""
    for kind, instruction in (
        ("begin", None),
        (None, " PAGE "),
        ("separate", None),
        (None, None),
        ("end", None),
    ):
        if kind is not None:
            element = OxmlElement("w:fldChar")
            element.set(qn("w:fldCharType"), kind)
        elif instruction is not None:
            element = OxmlElement("w:instrText")
            element.set(qn("xml:space"), "preserve")
            element.text = instruction
        else:
            element = OxmlElement("w:t")
            element.text = "1"
        run._r.append(element)


def _fonts(doc: DocxDocument) -> None:
    """The body's face and size on Normal, so tables and empty lines follow it; each face named once in the font
    table with its Noto CJK substitute."""
    normal = doc.styles["Normal"]
    normal.font.size = BODY_SIZE
    normal.font.color.rgb = BLACK
    _set_face(normal.element.get_or_add_rPr(), BODY_FONT)
    normal.paragraph_format.space_before = normal.paragraph_format.space_after = Pt(0)
    font_table = next(
        part for part in doc.part.package.iter_parts() if part.partname == "/word/fontTable.xml"
    )
    entries = "".join(
        f'<w:font w:name="{name}"><w:altName w:val="{substitute}"/><w:charset w:val="86"/></w:font>'
        for name, substitute in FALLBACKS.items()  # charset 86: GB2312
    )
    font_table._blob = font_table.blob.replace(b"</w:fonts>", entries.encode() + b"</w:fonts>")


def _set_face(properties: Any, name: str) -> None:
    fonts = properties.get_or_add_rFonts()
    for script in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(script), name)


def _run(paragraph: Paragraph, text: str, *, font: str, size: Length) -> Run:
    run = paragraph.add_run(text)
    run.font.size = size
    run.font.color.rgb = BLACK
    _set_face(run._r.get_or_add_rPr(), font)
    return run


def _paragraph(
    doc: DocxDocument,
    text: str,
    *,
    font: str = BODY_FONT,
    size: Length = BODY_SIZE,
    align: WD_ALIGN_PARAGRAPH | None = None,
    indent: int = 0,
    right_indent: float = 0,
    line: Length | None = LINE,
) -> Paragraph:
    paragraph = doc.add_paragraph()
    if align is not None:
        paragraph.alignment = align
    layout = paragraph.paragraph_format
    if line is not None:
        layout.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        layout.line_spacing = line
    if indent:
        layout.first_line_indent = Pt(CHARACTER.pt * indent)
    if right_indent:
        layout.right_indent = Pt(CHARACTER.pt * right_indent)
    if text:
        _run(paragraph, text, font=font, size=size)
    return paragraph


def _signature(doc: DocxDocument, heading: Heading) -> None:
    """落款 (7.3.5.1): the date four characters in from the right, the office centred over the date."""
    date = chinese_date(heading.signed_on)
    _paragraph(doc, "")
    _paragraph(doc, "")
    _paragraph(
        doc,
        xml_text(heading.office),
        align=WD_ALIGN_PARAGRAPH.RIGHT,
        right_indent=max(4 + (_width(date) - _width(heading.office)) / 2, 0),
    )
    _paragraph(doc, date, align=WD_ALIGN_PARAGRAPH.RIGHT, right_indent=4)


def _width(text: str) -> float:
    """In characters: a digit is half of one."""
    return sum(0.5 if ch.isascii() else 1 for ch in text)


def _properties(doc: DocxDocument, tongbao: Tongbao, heading: Heading) -> None:
    """Word's 作者 and 上次修改者 are the issuing office (not the library that wrote the file)."""
    properties = doc.core_properties
    properties.author = properties.last_modified_by = heading.office
    properties.title = title(tongbao)
    properties.subject = "督查通报"
    properties.comments = ""
    properties.keywords = heading.number or ""
    signed = dt.datetime.combine(heading.signed_on, dt.time())
    properties.created = properties.modified = signed
    properties.revision = 1
    package = doc.part.package
    for key, relation in list(
        package.rels.items()
    ):  # the template's picture of a blank page, shown as a preview
        if relation.reltype == RT.THUMBNAIL:
            package.rels.pop(key)
    extended = next(part for part in package.iter_parts() if part.partname == "/docProps/app.xml")
    extended._blob = extended.blob.replace(
        b"<Company/>", f"<Company>{escape(heading.office)}</Company>".encode()
    )


def _table(doc: DocxDocument, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    table = doc.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        _run(cell.paragraphs[0], text, font=HEADING_FONT, size=SMALL_SIZE)
    for row in rows:
        for cell, text in zip(table.add_row().cells, row, strict=True):
            # a character no XML may carry is dropped, not the document
            _run(cell.paragraphs[0], xml_text(text), font=BODY_FONT, size=SMALL_SIZE)


def to_bytes(tongbao: Tongbao, heading: Heading | None = None) -> bytes:
    buffer = io.BytesIO()
    document(tongbao, heading).save(buffer)
    return buffer.getvalue()


def write(tongbao: Tongbao, output: Path, heading: Heading | None = None) -> None:
    """Write beside the target, then rename over it: readers see the old file or the new one, never half."""
    data = to_bytes(tongbao, heading)
    handle, temporary = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
