"""Whole plan documents written in the seeds' style, with deliberate variations.

heyang-2024.txt: 1、 items under （一） groups, an item number ending a line, a word broken over two
lines, tab-indented paragraphs, half-width brackets and commas, 〔A，B〕 / （责任单位：…） / （A负责）, a full-width year, a month
deadline, and phrases that must be reported rather than guessed (每季度, 年度, 2022年以来).
qishan-2024.txt: （一） items, 工作要求 as the safeguard chapter, and a key-project table flattened into
running text across a page break. The .docx is built here with python-docx: "1．" items directly under
a chapter and a real Word table with 牵头单位 / 配合单位 columns.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from duban.plan_import import ImportFailed, import_plan
from seed_data.schema import SeedPlan

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _summary(plan: SeedPlan) -> dict[str, tuple[list[str], list[str], list[tuple[str, str, str | None]]]]:
    return {
        t.ref: (
            t.lead,
            t.co,
            [
                (m.due_on.isoformat(), m.recurrence.value, m.until.isoformat() if m.until else None)
                for m in t.milestones
            ],
        )
        for t in plan.tasks
    }


def test_heyang_variations() -> None:
    result = import_plan(FIXTURES / "heyang-2024.txt")
    plan = result.plan
    assert (plan.key, plan.title, plan.issuer, plan.doc_number, plan.issued_on, plan.region) == (
        "合阳县-2024-7",  # region, year and serial of its document number, not its file name
        "合阳县乡村教育提质行动方案",
        "合阳县人民政府办公室",
        "合政办发〔2024〕7号",
        dt.date(2024, 2, 26),
        "合阳县",
    )
    assert _summary(plan) == {
        "（一）1": (
            ["县教育局"],
            ["县财政局", "县住建局"],
            [("2025-12-31", "none", None), ("2024-07-10", "semester", None)],
        ),
        "（一）2": (["县教育局"], ["县发改局"], [("2024-12-31", "yearly", "2026-12-31")]),
        "（一）3": (["县交通运输局"], ["县公安局"], [("2024-03-25", "monthly", None)]),
        "（二）1": (["县教育局"], [], [("2025-12-31", "none", None)]),
        "（二）2": ([], [], [("2024-06-30", "none", None)]),
        "三、1": (["县政府办公室"], ["县教育局"], []),
        "三、2": (["县财政局"], [], [("2024-12-31", "yearly", None)]),
    }
    tasks = {t.ref: t for t in plan.tasks}
    assert tasks["（一）3"].title == "加强校车安全管理"  # its number "3、" ended the line before
    assert "教师年度考核" in tasks["（二）1"].text  # "教\n师" joined
    findings = [str(f) for f in result.findings]
    assert any("（二）2" in f and "未找到责任部门" in f for f in findings)
    assert any("每季度" in f for f in findings)
    assert any("年度" in f and "（二）1" in f for f in findings)
    assert any("2022年以来" in f for f in findings)
    assert any("（一）2" in f and "第一个部门为牵头" in f for f in findings)


def test_qishan_flattened_table() -> None:
    result = import_plan(FIXTURES / "qishan-2024.txt", key="qishan", region="宝鸡市岐山县")
    plan = result.plan
    assert (plan.key, plan.region, plan.doc_number, plan.title) == (
        "qishan",
        "宝鸡市岐山县",
        "岐教发〔2024〕3号",
        "岐山县乡村学校振兴三年行动计划",
    )
    assert _summary(plan) == {
        "（一）": (["县教育局"], ["县自然资源局"], [("2025-12-31", "none", None)]),
        "（二）": (["县教育局"], ["县工信局", "县财政局"], [("2026-12-31", "none", None)]),
        "二（一）": (["县教育局"], [], [("2024-07-10", "semester", None)]),
        "附件-1": (["县教育局"], ["县自然资源局"], [("2025-12-31", "none", None)]),
        "附件-2": (["县教育局"], ["县财政局"], [("2026-12-31", "none", None)]),
        "附件-3": (["县教育局"], ["县市场监管局"], [("2025-12-31", "none", None)]),
    }
    rows = {t.ref: t for t in plan.tasks if t.section == "attachment"}
    assert [t.title for t in rows.values()] == ["乡村学校绿化工程", "智慧教室建设工程", "乡村学校食堂改造"]
    assert rows["附件-1"].text.splitlines()[0] == "建设内容：完成20所乡村学校校园绿化，建设一批示范校园。"
    assert not any("地区" in str(f) for f in result.findings)  # --region given


def _build_docx(path: Path) -> None:
    import docx  # python-docx: a dependency of the importer, so no skip when it is missing

    document = docx.Document()
    for line in [
        "某某县教育局",
        "某教发〔2024〕9号",
        "关于印发《某某县学前教育普惠发展方案》的通知",
        "各幼儿园：现将方案印发给你们。",
        "某某县教育局",
        "2024年5月6日",
        "某某县学前教育普惠发展方案",
        "一、工作目标",
        "到2027年，普惠性幼儿园覆盖率稳定在90%以上。",
        "二、工作任务",
        "1．扩大普惠资源。到2026年，新建公办幼儿园5所。（县教育局牵头，县财政局、县自然资源局配合）",
        "2．提升保教质量。每学期开展保教质量评估。（县教育局负责）",
        "三、保障措施",
        "（一）加强经费保障。（县财政局负责）",
        "附件：重点项目表",
    ]:
        document.add_paragraph(line)
    table = document.add_table(rows=1, cols=6)
    header = ["序号", "项目名称", "主要任务", "完成时限", "牵头单位", "配合单位"]
    rows = [
        ["1", "公办园建设工程", "新建公办幼儿园5所。", "2026年", "县教育局", "县财政局、县自然资源局"],
        header,  # the header repeated on the next page
        ["2", "保教质量提升", "每学期评估一次，2025年底前全部达标。", "2025年", "县教育局", "县卫健局"],
        ["", "", "", "", "", ""],
    ]
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        cell.text = text
    for values in rows:
        cells = table.add_row().cells
        for cell, text in zip(cells, values, strict=True):
            cell.text = text
    # two lead departments, one per paragraph of the cell
    last = table.rows[3].cells[4]
    last.add_paragraph("县妇联")
    document.save(str(path))


def test_docx_with_a_table(tmp_path: Path) -> None:
    path = tmp_path / "mouxian-2024.docx"
    _build_docx(path)
    result = import_plan(path)
    plan = result.plan
    assert (plan.title, plan.issuer, plan.doc_number, plan.issued_on) == (
        "某某县学前教育普惠发展方案",
        "某某县教育局",
        "某教发〔2024〕9号",
        dt.date(2024, 5, 6),
    )
    assert _summary(plan) == {
        "1": (["县教育局"], ["县财政局", "县自然资源局"], [("2026-12-31", "none", None)]),
        "2": (["县教育局"], [], [("2024-07-10", "semester", None)]),
        "三（一）": (["县财政局"], [], []),
        "附件-1": (["县教育局"], ["县财政局", "县自然资源局"], [("2026-12-31", "none", None)]),
        "附件-2": (
            ["县教育局", "县妇联"],
            ["县卫健局"],
            [("2025-12-31", "none", None), ("2024-07-10", "semester", None)],
        ),
    }


def test_a_document_without_an_issue_date_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "undated.txt"
    path.write_text("某县方案\n一、主要任务\n（一）建设校园。（县教育局负责）\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match="印发日期"):
        import_plan(path)


def test_a_document_without_tasks_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("某县教育局\n2024年1月2日\n一、指导思想\n坚持党的领导。\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match="任务"):
        import_plan(path)
