"""The exports other tools and coordinators read."""

from __future__ import annotations

import json
from pathlib import Path

from openpyxl import load_workbook
from sqlmodel import Session

from duban.cli import main
from duban.ledger import LEDGER_COLUMNS, export_json, export_xlsx
from duban.seeding import read_seed_files


def test_json_export_has_exactly_the_agreed_shape(seeded: Session) -> None:
    data = export_json(session=seeded)
    assert list(data) == ["plans"]
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
                assert list(milestone) == ["due_on", "target", "recurrence"]


def test_json_export_reads_like_the_plan(seeded: Session) -> None:
    zichuan = next(p for p in export_json(session=seeded)["plans"] if p["key"] == "zibo-zichuan-2023")
    assert (zichuan["doc_number"], zichuan["issued_on"]) == ("川政办字〔2023〕28号", "2023-09-15")
    task = next(t for t in zichuan["tasks"] if t["ref"] == "（二）")
    assert task == {
        "ref": "（二）",
        "section": "body",
        "title": "实施教育强镇筑基行动",
        "lead_departments": ["区教体局"],
        "co_departments": ["区委编办", "区发改局", "区人社局"],
        "milestones": [
            {"due_on": "2025-12-31", "target": task["milestones"][0]["target"], "recurrence": "none"}
        ],
    }
    assert "十四五" in task["milestones"][0]["target"]


def test_cli_prints_the_json_export(cli_env: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["seed"]) == 0
    capsys.readouterr()
    assert main(["export", "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [p["key"] for p in printed["plans"]] == sorted(p.key for p in read_seed_files())


def test_xlsx_has_one_sheet_per_plan_and_one_row_per_task_and_milestone(
    seeded: Session, tmp_path: Path
) -> None:
    output = tmp_path / "台账.xlsx"
    export_xlsx(session=seeded, output=output)
    workbook = load_workbook(output)
    plans = {p.region: p for p in read_seed_files()}
    assert sorted(workbook.sheetnames) == sorted(plans)
    for sheet in workbook.worksheets:
        plan = plans[sheet.title]
        header = [cell.value for cell in sheet[1]]
        assert header == [name for name, _ in LEDGER_COLUMNS]
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == sheet.dimensions
        expected_rows = sum(max(1, len(task.milestones)) for task in plan.tasks)
        assert sheet.max_row - 1 == expected_rows
        data_rows = list(sheet.iter_rows(min_row=2, values_only=True))
        dated = sorted(str(row[5]) for row in data_rows if row[5])
        assert dated == sorted(m.due_on.isoformat() for t in plan.tasks for m in t.milestones)
