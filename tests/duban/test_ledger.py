"""The exports other tools and coordinators read: they say what `duban status` says, as of one day."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import Session, select

from duban.cli import main
from duban.ledger import LEDGER_COLUMNS, export_json, export_xlsx, write_json
from duban.seeding import read_seed_files
from duban.status import MilestoneState, status_report
from models import Contact, Department, Milestone, MilestoneStatus, Plan, ProgressReport, ReportStatus, Task

TZ = ZoneInfo("Asia/Shanghai")
AS_OF = dt.date(2026, 1, 5)
HEADER = [name for name, _ in LEDGER_COLUMNS]


def rows_of(sheet: Any) -> list[list[Any]]:
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def cells(row: list[Any], *columns: str) -> tuple[Any, ...]:
    return tuple(row[HEADER.index(column)] for column in columns)


def yearly_duty(session: Session, plan_key: str, ref: str) -> Milestone:
    return session.exec(
        select(Milestone)
        .join(Task)
        .join(Plan)
        .where(Plan.key == plan_key, Task.ref == ref, Milestone.recurrence == "yearly")
    ).one()


def report(
    session: Session, milestone: Milestone, *, at: dt.datetime, percent: int, note: str, status: ReportStatus
) -> None:
    department = session.exec(select(Department).where(Department.name == "区教体局")).first()
    assert department is not None
    contact = Contact(department_id=department.id, name="王老师")
    session.add(contact)
    session.flush()
    session.add(
        ProgressReport(
            milestone_id=milestone.id,
            contact_id=contact.id,
            status=status,
            percent=percent,
            note=note,
            reported_at=at,
        )
    )
    session.commit()


@pytest.fixture
def workbook(seeded: Session, tmp_path: Path) -> Workbook:
    output = tmp_path / "台账.xlsx"
    export_xlsx(session=seeded, output=output, today=AS_OF, tz=TZ)
    return load_workbook(output)


# ---------------------------------------------------------------- JSON


def test_json_export_has_exactly_the_agreed_shape(seeded: Session) -> None:
    data = export_json(session=seeded, today=AS_OF, tz=TZ)
    assert list(data) == ["as_of", "plans"]
    assert data["as_of"] == "2026-01-05"
    assert len(data["plans"]) == 5
    for plan in data["plans"]:
        assert list(plan) == ["key", "title", "issuer", "doc_number", "issued_on", "tasks"]
        for task in plan["tasks"]:
            assert list(task) == [
                "ref",
                "section",
                "title",
                "lead_departments",
                "co_departments",
                "milestones",
            ]
            for milestone in task["milestones"]:
                assert list(milestone) == [
                    "due_on",
                    "target",
                    "recurrence",
                    "until",
                    "current_due_on",
                    "state",
                    "pace",
                    "latest_report",
                ]


def test_json_export_reads_like_the_plan(seeded: Session) -> None:
    data = export_json(session=seeded, today=AS_OF, tz=TZ)
    zichuan = next(p for p in data["plans"] if p["key"] == "zibo-zichuan-2023")
    assert (zichuan["doc_number"], zichuan["issued_on"]) == ("川政办字〔2023〕28号", "2023-09-15")
    task = next(t for t in zichuan["tasks"] if t["ref"] == "（二）")
    target = task["milestones"][0]["target"]
    assert "十四五" in target
    assert task == {
        "ref": "（二）",
        "section": "body",
        "title": "实施教育强镇筑基行动",
        "lead_departments": ["区教体局"],
        "co_departments": ["区委编办", "区发改局", "区人社局"],
        "milestones": [
            {
                "due_on": "2025-12-31",
                "target": target,
                "recurrence": "none",
                "until": None,
                "current_due_on": "2025-12-31",
                "state": "overdue",
                "pace": "red",
                "latest_report": None,
            }
        ],
    }


def test_json_export_carries_until_and_the_current_period(seeded: Session) -> None:
    duty = yearly_duty(seeded, "zibo-zichuan-2023", "（五）")
    report(
        seeded,
        duty,
        at=dt.datetime(2025, 12, 20, 20, 0, tzinfo=dt.UTC),  # 2025-12-21 04:00 in the county
        percent=100,
        note="2025年实习支教已完成",
        status=ReportStatus.done,
    )
    data = export_json(session=seeded, today=AS_OF, tz=TZ)
    zichuan = next(p for p in data["plans"] if p["key"] == "zibo-zichuan-2023")
    milestones = next(t for t in zichuan["tasks"] if t["ref"] == "（五）")["milestones"]
    milestone = next(m for m in milestones if m["recurrence"] == "yearly")
    assert duty.until is not None
    assert milestone["until"] == duty.until.isoformat()
    assert (milestone["due_on"], milestone["current_due_on"]) == ("2023-12-31", "2026-12-31")
    assert milestone["latest_report"] == {
        "reported_on": "2025-12-21",
        "department": "区教体局",
        "status": "done",
        "percent": 100,
        "note": "2025年实习支教已完成",
    }


def test_cli_prints_the_json_export(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed"]) == 0
    capsys.readouterr()
    assert main(["export", "--format", "json", "--as-of", "2026-01-05"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["as_of"] == "2026-01-05"
    assert [p["key"] for p in printed["plans"]] == sorted(p.key for p in read_seed_files())


def test_cli_json_export_honours_output(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed"]) == 0
    capsys.readouterr()
    target = tmp_path / "plans.json"
    assert main(["export", "--format", "json", "--output", str(target), "--as-of", "2026-01-05"]) == 0
    assert capsys.readouterr().out == f"已将 5 个方案写入 {target}（截至 2026-01-05）。\n"
    assert len(json.loads(target.read_text(encoding="utf-8"))["plans"]) == 5


# ---------------------------------------------------------------- the workbook: the cover sheet


def test_the_first_sheet_counts_what_status_counts(seeded: Session, workbook: Workbook) -> None:
    status = status_report(session=seeded, today=AS_OF)
    cover = rows_of(workbook.worksheets[0])
    assert workbook.sheetnames[0] == "汇总"
    assert cover[0][0] == "督办工作台账"
    assert cover[1][0] == f"截至 2026-01-05（共 5 个方案、{status.overall.total} 个时间节点）"

    header_at = cover.index(["方案", "地区", "节点数", "已销号", "已汇报", "未汇报", "已逾期", *PACE_HEADERS])
    by_plan = {row[0]: row for row in cover[header_at + 1 : header_at + 6]}
    for title, counts in status.by_plan.items():
        states = [counts[state] for state in STATE_ORDER]
        assert by_plan[title][2:7] == [counts.total, *states]
    total = next(row for row in cover if row[0] == "合计")
    overall = status.overall
    assert total[2:7] == [overall.total, *(overall[state] for state in STATE_ORDER)]
    assert overall[MilestoneState.overdue] > 0 and overall[MilestoneState.done] == 0
    # no report anywhere: red for the overdue, grey for the rest
    assert total[7:] == [0, 0, overall[MilestoneState.overdue], overall[MilestoneState.silent]]


PACE_HEADERS = ["🟢 正常", "🟡 滞后", "🔴 逾期或受阻", "⚪ 未汇报"]
STATE_ORDER = [MilestoneState.done, MilestoneState.reported, MilestoneState.silent, MilestoneState.overdue]


def test_the_first_sheet_counts_by_lead_department(workbook: Workbook) -> None:
    cover = rows_of(workbook.worksheets[0])
    header_at = cover.index(
        ["牵头部门", "地区", "节点数", "已销号", "已汇报", "未汇报", "已逾期", *PACE_HEADERS]
    )
    rows = {(row[0], row[1]): row for row in cover[header_at + 1 :] if row[1]}
    assert rows[("区教体局", "淄博市淄川区")][2:7] == [58, 0, 0, 16, 42]
    assert rows[("区科技局", "淄博市淄川区")][2:7] == [1, 0, 0, 0, 1]
    zichuan = [row for (_, region), row in rows.items() if region == "淄博市淄川区"]
    assert zichuan[0][0] == "区教体局"  # most overdue first within a county
    assert cover[-1][0].startswith("说明：状态与 duban status 一致。")


# ---------------------------------------------------------------- the workbook: one sheet per plan


def test_one_sheet_per_plan_and_one_row_per_task_and_milestone(workbook: Workbook) -> None:
    plans = {p.region: p for p in read_seed_files()}
    assert sorted(workbook.sheetnames[1:]) == sorted(plans)
    for sheet in workbook.worksheets[1:]:
        plan = plans[sheet.title]
        rows = rows_of(sheet)
        assert rows[0] == HEADER
        assert sheet.freeze_panes == "D2"
        assert sheet.auto_filter.ref == sheet.dimensions
        assert len(rows) - 1 == sum(max(1, len(task.milestones)) for task in plan.tasks)
        dated = sorted(row[HEADER.index("完成时限")] for row in rows[1:] if row[HEADER.index("完成时限")])
        assert dated == sorted(m.due_on.isoformat() for t in plan.tasks for m in t.milestones)


def test_state_and_pace_are_the_status_ones(seeded: Session, workbook: Workbook) -> None:
    rows = rows_of(workbook["淄博市淄川区"])
    overdue = next(row for row in rows if row[0] == "（二）")
    assert cells(overdue, "完成时限", "本期时限", "状态", "进度") == (
        "2025-12-31",
        "2025-12-31",
        "已逾期",
        "🔴 逾期或受阻",
    )
    later = next(row for row in rows if row[0] == "（三）")
    assert cells(later, "完成时限", "状态", "进度") == ("2027-12-31", "未汇报", "⚪ 未汇报")
    states = [row[HEADER.index("状态")] for sheet in workbook.worksheets[1:] for row in rows_of(sheet)[1:]]
    overall = status_report(session=seeded, today=AS_OF).overall
    assert states.count("已逾期") == overall[MilestoneState.overdue] > 0
    assert states.count("未汇报") == overall[MilestoneState.silent]
    assert "推进中" not in states


def test_a_withdrawn_milestone_is_listed_as_such_with_its_report_and_counted_nowhere(
    seeded: Session, tmp_path: Path
) -> None:
    milestone = seeded.exec(
        select(Milestone).join(Task).join(Plan).where(Plan.key == "zibo-zichuan-2023", Task.ref == "（二）")
    ).one()
    report(
        seeded,
        milestone,
        at=dt.datetime(2025, 11, 3, 2, tzinfo=dt.UTC),
        percent=60,
        note="已完成三所",
        status=ReportStatus.on_track,
    )
    milestone.status = MilestoneStatus.withdrawn
    seeded.add(milestone)
    seeded.commit()
    path = tmp_path / "台账.xlsx"
    export_xlsx(session=seeded, output=path, today=AS_OF, tz=TZ)
    workbook = load_workbook(path)

    [row] = [row for row in rows_of(workbook["淄博市淄川区"]) if row[0] == "（二）"]
    assert cells(row, "完成时限", "本期时限", "状态", "进度", "最近汇报", "完成比例（%）", "汇报说明") == (
        "2025-12-31",
        "2025-12-31",
        "已撤销",
        None,
        "2025-11-03",
        60,
        "已完成三所",
    )
    status = status_report(session=seeded, today=AS_OF)
    cover = rows_of(workbook.worksheets[0])
    assert cover[1][0] == f"截至 2026-01-05（共 5 个方案、{status.overall.total} 个时间节点）"
    assert next(row for row in cover if row[0] == "淄川区推进乡村教育振兴工作方案")[2] == 57
    assert "已撤销＝方案修订后不再包含的节点" in cover[-1][0]

    [task] = [
        t
        for p in export_json(session=seeded, today=AS_OF, tz=TZ)["plans"]
        if p["key"] == "zibo-zichuan-2023"
        for t in p["tasks"]
        if t["ref"] == "（二）"
    ]
    [shown] = task["milestones"]
    assert (shown["state"], shown["pace"], shown["latest_report"]["note"]) == (
        "withdrawn",
        None,
        "已完成三所",
    )


def test_a_recurring_duty_shows_its_current_period_and_latest_report(seeded: Session, tmp_path: Path) -> None:
    duty = yearly_duty(seeded, "zibo-zichuan-2023", "（五）")
    report(
        seeded,
        duty,
        at=dt.datetime(2025, 12, 20, 20, 0, tzinfo=dt.UTC),
        percent=100,
        note="2025年安排实习支教大学生42人，覆盖全部乡村学校",
        status=ReportStatus.done,
    )
    output = tmp_path / "台账.xlsx"
    export_xlsx(session=seeded, output=output, today=AS_OF, tz=TZ)
    rows = rows_of(load_workbook(output)["淄博市淄川区"])
    row = next(row for row in rows if row[0] == "（五）" and row[HEADER.index("周期")] == "每年")
    assert cells(row, "完成时限", "周期", "本期时限", "状态") == (
        "2023-12-31",
        "每年",
        "2026-12-31",
        "未汇报",
    )
    assert cells(row, "最近汇报", "汇报部门", "完成比例（%）", "汇报情况", "汇报说明") == (
        "2025-12-21",  # the county's date, not UTC's
        "区教体局",
        100,
        "已完成",
        "2025年安排实习支教大学生42人，覆盖全部乡村学校",
    )


def test_a_note_that_looks_like_a_formula_stays_text(seeded: Session, tmp_path: Path) -> None:
    duty = yearly_duty(seeded, "zibo-zichuan-2023", "（五）")
    typed = '=HYPERLINK("http://example.com","点此")'
    report(
        seeded,
        duty,
        at=dt.datetime(2025, 12, 20, 2, 0, tzinfo=dt.UTC),
        percent=50,
        note=typed,
        status=ReportStatus.on_track,
    )
    output = tmp_path / "台账.xlsx"
    export_xlsx(session=seeded, output=output, today=AS_OF, tz=TZ)
    sheet = load_workbook(output)["淄博市淄川区"]
    column = HEADER.index("汇报说明") + 1
    cell = next(sheet.cell(r, column) for r in range(2, sheet.max_row + 1) if sheet.cell(r, column).value)
    assert (cell.value, cell.data_type) == (typed, "s")


def test_long_text_wraps_in_sensible_columns(workbook: Workbook) -> None:
    sheet = workbook["淄博市淄川区"]
    widths = {name: sheet.column_dimensions[chr(ord("A") + i)].width for i, name in enumerate(HEADER)}
    assert widths["任务内容"] >= 50 and widths["目标"] >= 30 and widths["序号"] <= 10
    for row in sheet.iter_rows(min_row=2):
        assert all(cell.alignment.wrap_text for cell in row)
    text_column = HEADER.index("任务内容") + 1
    long_row = next(
        r for r in range(2, sheet.max_row + 1) if len(sheet.cell(r, text_column).value or "") > 300
    )
    height = sheet.row_dimensions[long_row].height
    assert height is not None and height >= 15 * 10  # tall enough to show the wrapped text


# ---------------------------------------------------------------- bad input, and files written whole


def test_cli_xlsx_export_on_an_empty_database_writes_nothing(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "台账.xlsx"
    assert main(["db", "upgrade"]) == 0  # a database at the newest schema, with no plan in it
    capsys.readouterr()
    assert main(["export", "--format", "xlsx", "--output", str(target)]) == 1
    assert capsys.readouterr().err == "数据库中还没有方案，请先运行 duban seed。\n"
    assert not target.exists()


def test_cli_xlsx_export_to_a_folder_says_so(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--format", "xlsx", "--output", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"“{tmp_path}”是一个文件夹，请写出其中的文件名" in err and err.count("\n") == 1


def test_cli_export_under_a_file_says_so_and_writes_nothing(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed"]) == 0
    capsys.readouterr()
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    target = tmp_path / "notes.txt" / "台账.xlsx"
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--format", "xlsx", "--output", str(target)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"“{tmp_path / 'notes.txt'}”是文件，不是文件夹" in err and err.count("\n") == 1
    assert (tmp_path / "notes.txt").read_text() == "a file, not a folder"


def test_cli_xlsx_export_says_where_and_how_many_rows(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed"]) == 0
    capsys.readouterr()
    target = tmp_path / "台账.xlsx"
    assert main(["export", "--format", "xlsx", "--output", str(target), "--as-of", "2026-01-05"]) == 0
    assert capsys.readouterr().out == f"台账已写入 {target}（截至 2026-01-05，150 行）。\n"
    assert load_workbook(target).sheetnames[0] == "汇总"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    seeded: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    target = folder / "台账.xlsx"
    target.write_bytes(b"last week's ledger")

    def disk_full(self: Any, *args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    def half_written_workbook(self: Workbook, filename: str) -> None:
        Path(filename).write_bytes(b"PK\x03\x04 half a zip")
        disk_full(self)

    monkeypatch.setattr(Workbook, "save", half_written_workbook)
    with pytest.raises(OSError):
        export_xlsx(session=seeded, output=target, today=AS_OF, tz=TZ)
    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(OSError):
        write_json(session=seeded, output=target, today=AS_OF, tz=TZ)
    assert target.read_bytes() == b"last week's ledger"
    assert [p.name for p in folder.iterdir()] == ["台账.xlsx"]


def test_a_stored_note_no_xml_can_hold_does_not_break_the_downloads(seeded: Session, tmp_path: Path) -> None:
    """A note stored before the sanitizer knew U+FFFE/U+FFFF, and a pause reason with one: the xlsx 台账 and the
    docx 通报 drop the characters, and everything else of the county is there."""
    from docx import Document

    from duban import tongbao

    milestone = yearly_duty(seeded, "zibo-zichuan-2023", "（五）")
    at = dt.datetime(2025, 12, 1, 2, tzinfo=dt.UTC)
    report(
        seeded,
        milestone,
        at=at,
        percent=50,
        note="已开工\ufffe\uffff，进展顺利",
        status=ReportStatus.on_track,
    )
    overdue = seeded.exec(
        select(Milestone)
        .join(Task)
        .join(Plan)
        .where(
            Plan.key == "zibo-zichuan-2023",
            Milestone.recurrence == "none",
            Milestone.due_on < AS_OF - dt.timedelta(days=60),
        )
    ).first()
    assert overdue is not None
    overdue.escalation_paused_until, overdue.escalation_pause_reason = AS_OF, "等待资金\uffff到位"
    seeded.add(overdue)
    seeded.commit()

    output = tmp_path / "台账.xlsx"
    export_xlsx(session=seeded, output=output, today=AS_OF, tz=TZ)
    notes = [c for row in rows_of(load_workbook(output)["淄博市淄川区"]) for c in row if isinstance(c, str)]
    assert "已开工，进展顺利" in notes
    plan = seeded.exec(select(Plan).where(Plan.key == "zibo-zichuan-2023")).one()
    figures = tongbao.gather(session=seeded, plans=[plan], today=AS_OF)
    written = tmp_path / "通报.docx"
    tongbao.write(figures, written)
    text = "\n".join(
        cell.text for table in Document(str(written)).tables for row in table.rows for cell in row.cells
    )
    assert "\ufffe" not in text and "\uffff" not in text
    assert "等待资金到位" in text
