"""`duban import-xlsx`: the 台账 duban exports and a 重点项目清单 come back in, all or nothing."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, col, select

import models  # noqa: F401  (every table registered for the snapshot)
from duban.config import get_settings
from duban.ledger import export_xlsx
from duban.seeding import load_seed
from duban.xlsx_import import NotAWorkbook, XlsxImportError, add_commands, import_xlsx
from duban.xlsx_import.cells import deadline_milestones, split_names, split_responsibility
from models import (
    Contact,
    Department,
    DepartmentRole,
    Milestone,
    MilestoneStatus,
    Plan,
    ProgressReport,
    ReportStatus,
    Task,
)

AS_OF = dt.date(2026, 1, 5)  # after the 2025 milestones fell due: the 状态 column says 已逾期
TZ = ZoneInfo("Asia/Shanghai")


# the scheduler's record that planning inputs changed (models/planning.py): an edit rightly adds to it
BOOKKEEPING = {"planning_inputs", "planning_change"}


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the plans, departments, contacts and reports, by table."""
    with engine.connect() as connection:
        return {
            table.name: sorted((tuple(row) for row in connection.execute(table.select())), key=repr)
            for table in SQLModel.metadata.sorted_tables
            if table.name not in BOOKKEEPING
        }


def run(argv: list[str]) -> int:
    """The command as `duban import-xlsx …` runs it (registered the way duban/cli.py does)."""
    parser = argparse.ArgumentParser(prog="duban")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args, get_settings()))


def rows_of(sheet: Any) -> list[list[Any]]:
    return [list(row) for row in sheet.iter_rows(values_only=True)]


@pytest.fixture
def ledger(seeded: Session, tmp_path: Path) -> Path:
    path = tmp_path / "台账.xlsx"
    export_xlsx(session=seeded, output=path, today=AS_OF, tz=TZ)
    return path


# ---------------------------------------------------------------- the 台账 round trip


def test_importing_the_export_changes_nothing(seeded: Session, engine: Engine, ledger: Path) -> None:
    before = snapshot(engine)
    report = import_xlsx(session=seeded, path=ledger)
    assert snapshot(engine) == before
    assert (report.summary.created, report.summary.updated) == (0, 0)
    assert report.notices == []  # the cover sheet and the computed 状态 (已逾期, 未汇报…) pass silently
    assert load_workbook(ledger).sheetnames[0] == "汇总"
    assert sorted(report.plans) == sorted(p.key for p in seeded.exec(select(Plan)).all())
    assert report.tasks == len(seeded.exec(select(Task)).all())


def test_reimport_after_editing_a_cell_updates_without_duplicating(
    seeded: Session, engine: Engine, ledger: Path
) -> None:
    workbook = load_workbook(ledger)
    sheet = workbook["淄博市淄川区"]
    rows = rows_of(sheet)
    header = rows[0]
    refs = [row[0] for row in rows[1:]]
    index = next(i for i, row in enumerate(rows) if row[0] == "（二）") + 1  # one milestone
    assert refs.count("（二）") == 1
    sheet.cell(row=index, column=header.index("任务") + 1, value="实施教育强镇筑基行动（修订）")
    sheet.cell(row=index, column=header.index("目标") + 1, value="2025年底前，强镇筑基全部达标")
    workbook.save(ledger)
    counts = {name: len(rows) for name, rows in snapshot(engine).items()}

    for _ in range(2):
        import_xlsx(session=seeded, path=ledger)
        seeded.expire_all()
        assert {name: len(rows) for name, rows in snapshot(engine).items()} == counts

    plan = seeded.exec(select(Plan).where(Plan.key == "zibo-zichuan-2023")).one()
    task = seeded.exec(select(Task).where(Task.plan_id == plan.id, Task.ref == "（二）")).one()
    assert task.title == "实施教育强镇筑基行动（修订）"
    assert [(m.due_on, m.target) for m in task.milestones] == [
        (dt.date(2025, 12, 31), "2025年底前，强镇筑基全部达标")
    ]


def test_a_sorted_ledger_with_an_added_milestone_reads_back(seeded: Session, ledger: Path) -> None:
    workbook = load_workbook(ledger)
    sheet = workbook["淄博市淄川区"]
    rows = rows_of(sheet)
    header = rows[0]
    first = next(row for row in rows[1:] if row[0] == "（二）")
    due = header.index("完成时限")
    data = sorted(rows[1:], key=lambda row: (row[due] or "", str(row[0])))  # as a filter's sort leaves it
    extra = [None] * len(header)
    for column in ("序号", "部分", "任务", "牵头部门", "配合部门", "任务内容"):
        extra[header.index(column)] = first[header.index(column)]
    extra[due], extra[header.index("目标")] = "2027年底前", "强镇筑基巩固提升"
    sheet.delete_rows(2, sheet.max_row)
    for row in [*data, extra]:
        sheet.append(row)
    workbook.save(ledger)

    report = import_xlsx(session=seeded, path=ledger, plan_key="zibo-zichuan-2023")
    assert report.plans == ["zibo-zichuan-2023"]
    assert any("不属于方案" in notice for notice in report.notices)  # the other plans' sheets
    plan = seeded.exec(select(Plan).where(Plan.key == "zibo-zichuan-2023")).one()
    task = next(t for t in plan.tasks if t.ref == "（二）")
    assert [m.due_on for m in task.milestones] == [dt.date(2025, 12, 31), dt.date(2027, 12, 31)]
    assert [t.position for t in plan.tasks] == list(range(len(plan.tasks)))  # order kept, not the sort


def test_the_status_column_is_not_imported(seeded: Session, engine: Engine, ledger: Path) -> None:
    workbook = load_workbook(ledger)
    sheet = workbook["安丘市"]
    header = rows_of(sheet)[0]
    sheet.cell(row=2, column=header.index("状态") + 1, value="已销号")
    workbook.save(ledger)
    before = snapshot(engine)
    report = import_xlsx(session=seeded, path=ledger)
    assert snapshot(engine) == before
    assert report.notices == [
        "工作表“安丘市”第2行：状态“已销号”未导入——销号须经审批，表格中的状态列仅供查阅。"
    ]


def _zichuan(session: Session, ref: str) -> list[Milestone]:
    session.expire_all()
    return list(
        session.exec(
            select(Milestone)
            .join(Task)
            .join(Plan)
            .where(Plan.key == "zibo-zichuan-2023", Task.ref == ref)
            .order_by(col(Milestone.id))
        ).all()
    )


def test_a_moved_date_in_the_ledger_moves_the_milestone_and_its_report_stays(
    cli_env: str, seeded: Session, engine: Engine, ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [milestone] = _zichuan(seeded, "（二）")
    department = seeded.exec(select(Department).where(Department.name == "区教体局")).first()
    assert department is not None and milestone.id is not None
    contact = Contact(department_id=department.id or 0, name="王老师")
    seeded.add(contact)
    seeded.flush()
    seeded.add(
        ProgressReport(
            milestone_id=milestone.id,
            contact_id=contact.id or 0,
            status=ReportStatus.on_track,
            reported_at=dt.datetime(2025, 10, 9, 2, tzinfo=dt.UTC),
        )
    )
    seeded.commit()
    workbook = load_workbook(ledger)
    sheet = workbook["淄博市淄川区"]
    rows = rows_of(sheet)
    index = next(i for i, row in enumerate(rows) if row[0] == "（二）") + 1
    sheet.cell(row=index, column=rows[0].index("完成时限") + 1, value="2026-06-30")
    workbook.save(ledger)

    assert run(["import-xlsx", str(ledger)]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "方案 zibo-zichuan-2023 的变化：",
        "  时限调整 1 个（汇报随节点保留）：（二） 2025-12-31 → 2026-06-30（1 条汇报保留）",
    ]
    [moved] = _zichuan(seeded, "（二）")
    assert (moved.id, moved.due_on, moved.status) == (
        milestone.id,
        dt.date(2026, 6, 30),
        MilestoneStatus.open,
    )
    assert seeded.exec(select(ProgressReport.milestone_id)).all() == [milestone.id]


def test_a_milestone_row_taken_out_is_withdrawn_and_its_已撤销_row_reads_back_as_nothing(
    seeded: Session, engine: Engine, ledger: Path, tmp_path: Path
) -> None:
    workbook = load_workbook(ledger)
    sheet = workbook["淄博市淄川区"]
    rows = rows_of(sheet)
    due = rows[0].index("完成时限")
    # (七) has three milestones: a yearly and a semester duty and one due 2025-12-31; its dated row goes
    [index] = [i for i, row in enumerate(rows) if row[0] == "（七）" and row[due] == "2025-12-31"]
    sheet.delete_rows(index + 1)
    workbook.save(ledger)
    report = import_xlsx(session=seeded, path=ledger)
    [changes] = [c for c in report.summary.changes if c]
    assert [(c.task_ref, c.due_on) for c in changes.withdrawn] == [("（七）", dt.date(2025, 12, 31))]
    statuses = {m.due_on: m.status for m in _zichuan(seeded, "（七）")}
    assert statuses[dt.date(2025, 12, 31)] == MilestoneStatus.withdrawn
    assert list(statuses.values()).count(MilestoneStatus.open) == 2

    # exported again it is there, as 已撤销; imported again nothing changes, and it is not brought back
    again = tmp_path / "again.xlsx"
    export_xlsx(session=seeded, output=again, today=AS_OF, tz=TZ)
    sheet_rows = rows_of(load_workbook(again)["淄博市淄川区"])
    state = sheet_rows[0].index("状态")
    assert [r[state] for r in sheet_rows if r[0] == "（七）" and r[due] == "2025-12-31"] == ["已撤销"]
    before = snapshot(engine)
    repeat = import_xlsx(session=seeded, path=again)
    assert snapshot(engine) == before and (repeat.summary.created, repeat.summary.updated) == (0, 0)

    # the 状态 cell cleared asks for it again: restored, not duplicated
    workbook = load_workbook(again)
    sheet = workbook["淄博市淄川区"]
    [index] = [i for i, r in enumerate(sheet_rows) if r[0] == "（七）" and r[due] == "2025-12-31"]
    sheet.cell(row=index + 1, column=state + 1).value = None  # (cell(value=None) would leave it as it was)
    workbook.save(again)
    import_xlsx(session=seeded, path=again)
    assert [m.status for m in _zichuan(seeded, "（七）")] == [MilestoneStatus.open] * 3


# ---------------------------------------------------------------- 重点项目清单


def project_list(path: Path) -> Path:
    """A 重点项目清单 as counties keep them: a merged title row, then a two-row header under merged cells."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "重点项目"
    sheet.append(["附件：长清区乡村教育振兴重点项目清单"])
    sheet.merge_cells("A1:G1")
    sheet.append(["序号", "项目名称", "主要任务", "工作目标", "完成时限", "责任单位", None])
    sheet.append([None, None, None, None, None, "牵头部门", "参与部门"])
    for column in "ABCDE":
        sheet.merge_cells(f"{column}2:{column}3")
    sheet.merge_cells("F2:G2")
    sheet.append(
        [
            1,
            "乡村学校标准化建设",
            "改造乡村薄弱学校校舍，补齐功能教室。",
            "到2025年，完成10所学校改造；2027年底前，乡村学校全部达标。",
            "2027年底前",
            "区教体局",
            "区发改局\n区财政局、区住建局",
        ]
    )
    sheet.append([None] * 7)  # an empty row
    sheet.append(
        [2, "教师培训", "开展乡村教师全员培训。", "每年培训乡村教师500人次。", "每年", "区教体局", ""]
    )
    sheet.append(
        [3, None, "落实乡村教师生活补助。", "补助按时足额发放", "“十四五”期间", "区财政局", "区教体局"]
    )
    sheet.append([4, "家校共育", "办好家长学校。", "", "长期", "", ""])
    workbook.save(path)
    return path


def test_project_list_adds_attachment_tasks_to_a_plan(seeded: Session, tmp_path: Path) -> None:
    path = project_list(tmp_path / "清单.xlsx")
    plan = seeded.exec(select(Plan).where(Plan.key == "jinan-changqing-2023")).one()
    tasks_before = [(t.ref, t.position) for t in plan.tasks]

    report = import_xlsx(session=seeded, path=path, plan_key="jinan-changqing-2023")
    assert report.tasks == 4
    seeded.expire_all()
    plan = seeded.exec(select(Plan).where(Plan.key == "jinan-changqing-2023")).one()
    assert [(t.ref, t.position) for t in plan.tasks][: len(tasks_before)] == tasks_before
    added = {t.ref: t for t in plan.tasks if t.section == "attachment"}
    assert list(added) == ["附件-1", "附件-2", "附件-3", "附件-4"]

    first = added["附件-1"]
    assert first.title == "乡村学校标准化建设"
    assert [d.name for d in first.departments(DepartmentRole.lead)] == ["区教体局"]
    assert [d.name for d in first.departments(DepartmentRole.co)] == ["区发改局", "区财政局", "区住建局"]
    assert [m.due_on for m in first.milestones] == [dt.date(2025, 12, 31), dt.date(2027, 12, 31)]
    assert first.milestones[0].target == "到2025年，完成10所学校改造"
    assert "乡村学校全部达标" in first.milestones[1].target
    assert "主要任务：改造乡村薄弱学校校舍" in first.text

    yearly = added["附件-2"].milestones
    assert [(m.due_on, m.recurrence) for m in yearly] == [
        (plan.issued_on.replace(month=12, day=31), "yearly")
    ]
    assert yearly[0].target == "每年培训乡村教师500人次"
    third = added["附件-3"]
    assert third.title == "落实乡村教师生活补助"  # no 项目名称: the task's first sentence
    assert [(m.due_on, m.target) for m in third.milestones] == [(dt.date(2025, 12, 31), "补助按时足额发放")]
    assert added["附件-4"].milestones == [] and added["附件-4"].department_links == []


def test_project_list_reimport_updates_rather_than_duplicates(
    seeded: Session, engine: Engine, tmp_path: Path
) -> None:
    path = project_list(tmp_path / "清单.xlsx")
    import_xlsx(session=seeded, path=path, plan_key="jinan-changqing-2023")
    before = snapshot(engine)
    again = import_xlsx(session=seeded, path=path, plan_key="jinan-changqing-2023")
    assert (again.summary.created, again.summary.updated) == (0, 0)
    assert snapshot(engine) == before

    workbook = load_workbook(path)
    workbook.active["B6"] = "乡村教师全员培训"
    workbook.active["F6"] = "区人社局"
    workbook.save(path)
    import_xlsx(session=seeded, path=path, plan_key="jinan-changqing-2023")
    seeded.expire_all()
    plan = seeded.exec(select(Plan).where(Plan.key == "jinan-changqing-2023")).one()
    task = next(t for t in plan.tasks if t.ref == "附件-2")
    assert task.title == "乡村教师全员培训"
    assert [d.name for d in task.departments(DepartmentRole.lead)] == ["区人社局"]
    after = snapshot(engine)
    for table in ("task", "milestone", "taskdepartment"):  # 区人社局 leads instead of 区教体局
        assert len(after[table]) == len(before[table])


def test_project_list_with_responsibility_column_creates_a_new_plan(
    cli_env: str, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["序号", "项目名称", "主要任务", "完成时限", "责任分工"])
    sheet.append([1, "校舍改造", "改造校舍3万平方米。", "2025年底前", "县教育局、县财政局、县住建局"])
    sheet.append([2, "营养改善", "落实营养改善计划。", "每学期", "县财政局牵头，县教育局、县卫健委配合"])
    path = tmp_path / "项目.xlsx"
    workbook.save(path)

    argv = ["import-xlsx", str(path), "--plan", "demo-2024", "--region", "某县", "--title", "某县方案"]
    assert run(argv) == 1
    assert "--issued-on" in capsys.readouterr().err
    assert run([*argv, "--issued-on", "2024-03-01"]) == 0
    assert "导入 2 项任务" in capsys.readouterr().out

    with Session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == "demo-2024")).one()
        assert (plan.region, plan.issued_on) == ("某县", dt.date(2024, 3, 1))
        first, second = plan.tasks
        assert [d.name for d in first.departments(DepartmentRole.lead)] == ["县教育局"]
        assert [d.name for d in first.departments(DepartmentRole.co)] == ["县财政局", "县住建局"]
        assert [d.name for d in second.departments(DepartmentRole.lead)] == ["县财政局"]
        assert [d.name for d in second.departments(DepartmentRole.co)] == ["县教育局", "县卫健委"]
        assert [(m.due_on, m.recurrence) for m in second.milestones] == [(dt.date(2024, 7, 10), "semester")]


# ---------------------------------------------------------------- errors: all of them, nothing written


def test_errors_in_two_sheets_are_all_reported_and_nothing_changes(
    cli_env: str, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Session(engine) as session:
        load_seed(session=session)
        path = tmp_path / "台账.xlsx"
        export_xlsx(session=session, output=path, today=AS_OF, tz=TZ)
    workbook = load_workbook(path)
    header = rows_of(workbook["安丘市"])[0]
    workbook["安丘市"].cell(row=3, column=header.index("完成时限") + 1, value="明年")
    workbook["安丘市"].cell(row=3, column=header.index("任务") + 1, value="改过的标题")  # a valid edit
    workbook["淄博市淄川区"].cell(row=5, column=header.index("部分") + 1, value="其他")
    workbook["淄博市淄川区"].cell(row=6, column=header.index("周期") + 1, value="每季度")
    workbook.save(path)
    before = snapshot(engine)

    assert run(["import-xlsx", str(path)]) == 1
    err = capsys.readouterr().err
    assert "3 处问题，未导入任何内容" in err
    assert "工作表“安丘市” 第3行 【完成时限】：无法识别完成时限“明年”" in err
    assert "工作表“淄博市淄川区” 第5行 【部分】" in err
    assert "工作表“淄博市淄川区” 第6行 【周期】" in err
    assert snapshot(engine) == before


def test_project_list_errors_name_sheet_row_and_column(
    seeded: Session, engine: Engine, tmp_path: Path
) -> None:
    workbook = Workbook()
    first = workbook.active
    first.title = "清单一"
    first.append(["序号", "项目名称", "主要任务", "完成时限", "牵头部门", "参与部门"])
    first.append([1, "甲", "做甲。", "2030年13月", "区教体局", ""])
    first.append([2, "乙", "做乙。", "2025年", "区教体局", "区教体局"])
    second = workbook.create_sheet("清单二")
    second.append(["序号", "项目名称", "主要任务", "完成时限", "责任分工"])
    second.append([None, "丙", "做丙。", "2025年", "区财政局"])
    second.append([2, "丁", "做丁。", "2025年", "区财政局"])
    path = tmp_path / "坏清单.xlsx"
    workbook.save(path)
    before = snapshot(engine)

    with pytest.raises(XlsxImportError) as raised:
        import_xlsx(session=seeded, path=path, plan_key="jinan-changqing-2023")
    where = {(p.sheet, p.row, p.column) for p in raised.value.problems}
    assert ("清单一", 2, "完成时限") in where
    assert ("清单二", 2, "序号") in where  # empty 序号
    assert ("清单二", 3, "序号") in where  # 附件-2 came from 清单一 already
    assert snapshot(engine) == before


def test_a_list_without_plan_or_a_ledger_of_an_unknown_region_is_refused(
    seeded: Session, engine: Engine, tmp_path: Path
) -> None:
    workbook = Workbook()
    workbook.active.title = "某市"
    workbook.active.append(
        ["序号", "部分", "任务", "牵头部门", "配合部门", "完成时限", "周期", "目标", "状态", "任务内容"]
    )
    workbook.active.append(
        ["（一）", "主要任务", "甲", "某局", "", "2025-12-31", "", "完成甲", "推进中", "做甲"]
    )
    listing = workbook.create_sheet("清单")
    listing.append(["序号", "项目名称", "牵头部门"])
    listing.append([1, "乙", "某局"])
    path = tmp_path / "x.xlsx"
    workbook.save(path)
    with pytest.raises(XlsxImportError) as raised:
        import_xlsx(session=seeded, path=path)
    messages = [str(p) for p in raised.value.problems]
    assert any(m.startswith("工作表“某市”：数据库中没有地区为“某市”的方案") for m in messages)
    assert any(m.startswith("工作表“清单”：这是重点项目清单，请用 --plan") for m in messages)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("plan.csv", "序号,项目名称\n1,甲\n", "不是 xlsx 工作簿"),
        ("plan.xlsx", "序号,项目名称\n1,甲\n", "不是 xlsx 工作簿"),
        ("plan.xls", "\xd0\xcf\x11\xe0", "旧版表格格式（.xls）"),
    ],
)
def test_a_file_that_is_not_xlsx_gets_a_clear_message(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert run(["import-xlsx", str(path)]) == 1
    err = capsys.readouterr().err
    assert expected in err and "另存为" in err
    assert run(["import-xlsx", str(tmp_path / "missing.xlsx")]) == 1
    assert "找不到文件" in capsys.readouterr().err


def test_not_a_workbook_is_raised_before_the_database_is_touched(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("hello", encoding="utf-8")
    with pytest.raises(NotAWorkbook):
        import_xlsx(session=session, path=path)


# ---------------------------------------------------------------- cells


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2025年底前", [(dt.date(2025, 12, 31), "none")]),
        ("到2027年", [(dt.date(2027, 12, 31), "none")]),
        ("“十四五”期间", [(dt.date(2025, 12, 31), "none")]),
        ("每年", [(dt.date(2023, 12, 31), "yearly")]),
        ("每学期", [(dt.date(2024, 1, 20), "semester")]),
        ("每月", [(dt.date(2023, 10, 25), "monthly")]),
        ("2025-06-30", [(dt.date(2025, 6, 30), "none")]),
        ("2025.12", [(dt.date(2025, 12, 31), "none")]),
        ("长期坚持", []),
    ],
)
def test_deadline_cells_follow_the_seed_rules(cell: str, expected: list[tuple[dt.date, str]]) -> None:
    found = deadline_milestones(cell, issued_on=dt.date(2023, 9, 15))
    assert [(d.due_on, d.recurrence) for d in found] == expected


@pytest.mark.parametrize("cell", ["明年", "2022年", "2025-02-30"])
def test_unreadable_deadlines_are_refused(cell: str) -> None:
    with pytest.raises(ValueError):
        deadline_milestones(cell, issued_on=dt.date(2023, 9, 15))


def test_department_cells() -> None:
    assert split_names("区教体局\n区财政局、区委宣传部（区文明办，区妇联）；区住建局,区民政局") == [
        "区教体局",
        "区财政局",
        "区委宣传部（区文明办，区妇联）",
        "区住建局",
        "区民政局",
    ]
    assert split_responsibility("市委宣传部、市教体局、市妇联") == (["市委宣传部"], ["市教体局", "市妇联"])
    assert split_responsibility("区人社局牵头，区教体局、区财政局配合") == (
        ["区人社局"],
        ["区教体局", "区财政局"],
    )
    assert split_responsibility("牵头单位：区教体局；配合单位：区财政局") == (["区教体局"], ["区财政局"])


def test_milestone_count_is_unchanged_by_the_round_trip(seeded: Session, ledger: Path) -> None:
    count = len(seeded.exec(select(Milestone)).all())
    import_xlsx(session=seeded, path=ledger)
    assert len(seeded.exec(select(Milestone)).all()) == count
