"""`duban status`: milestones by plan and by year, as of the day it runs."""

from __future__ import annotations

import datetime as dt

import pytest
from freezegun import freeze_time
from sqlmodel import Session, select

from duban.cli import main
from duban.seeding import read_seed_files
from duban.status import MilestoneState, Pace, pace_of, status_report
from models import Contact, Department, Milestone, MilestoneStatus, ProgressReport, ReportStatus


def test_on_new_year_2026_every_open_2025_milestone_is_overdue(seeded: Session) -> None:
    done = seeded.exec(select(Milestone).where(Milestone.due_on == dt.date(2025, 12, 31))).first()
    assert done is not None
    done.status = MilestoneStatus.done
    seeded.add(done)
    seeded.commit()

    report = status_report(session=seeded, today=dt.date(2026, 1, 1))

    dated_2025 = [v for v in report.milestones if v.recurrence == "none" and v.due_on.year == 2025]
    in_seed_files = [
        m
        for plan in read_seed_files()
        for t in plan.tasks
        for m in t.milestones
        if m.recurrence == "none" and m.due_on.year == 2025
    ]
    assert len(dated_2025) == len(in_seed_files) == 37
    assert [v.state for v in dated_2025].count(MilestoneState.done) == 1
    assert all(v.state == MilestoneState.overdue for v in dated_2025 if v.milestone_id != done.id)


def test_before_the_due_date_a_report_counts_as_reported(seeded: Session) -> None:
    milestone = seeded.exec(select(Milestone).where(Milestone.due_on == dt.date(2027, 12, 31))).first()
    assert milestone is not None
    department = seeded.exec(select(Department)).first()
    assert department is not None
    contact = Contact(department_id=department.id, name="王老师")
    seeded.add(contact)
    seeded.flush()
    seeded.add(
        ProgressReport(
            milestone_id=milestone.id,
            contact_id=contact.id,
            status=ReportStatus.on_track,
            percent=40,
            reported_at=dt.datetime(2026, 5, 20, 3, 0, tzinfo=dt.UTC),
        )
    )
    seeded.commit()

    report = status_report(session=seeded, today=dt.date(2026, 6, 1))

    view = next(v for v in report.milestones if v.milestone_id == milestone.id)
    assert (view.state, view.latest_percent) == (MilestoneState.reported, 40)
    assert report.by_year["2027"][MilestoneState.reported] == 1


def test_a_yearly_duty_missed_last_year_is_overdue(seeded: Session) -> None:
    report = status_report(session=seeded, today=dt.date(2026, 3, 1))
    yearly = [v for v in report.milestones if v.recurrence == "yearly"]
    assert yearly
    assert {v.state for v in yearly} == {MilestoneState.overdue}
    assert {v.due_on for v in yearly} <= {dt.date(2025, 12, 31)}


def test_department_filter_counts_only_that_departments_tasks(seeded: Session) -> None:
    report = status_report(session=seeded, today=dt.date(2026, 1, 1), department="区科技局")
    assert sorted({v.task_ref for v in report.milestones}) == ["附件-34", "（七）"]


@freeze_time("2026-01-01 10:00:00", tz_offset=0)
def test_cli_status_prints_counts_in_chinese(cli_env: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["seed"]) == 0
    capsys.readouterr()
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "督办进度（截至 2026-01-01，全部部门）" in out
    assert "按方案" in out and "按年份" in out
    row_2025 = next(line for line in out.splitlines() if line.startswith("2025 "))
    total, done, reported, silent, overdue = (int(x) for x in row_2025.split()[1:])
    assert total == overdue and done == reported == silent == 0


def test_cli_status_for_an_unknown_department_says_so_politely(cli_env: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["seed"]) == 0
    capsys.readouterr()
    assert main(["status", "--department", "不存在的局"]) == 1
    assert "没有找到部门“不存在的局”" in capsys.readouterr().err


def test_cli_status_on_an_empty_database_says_to_seed_first(cli_env: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["status"]) == 1
    assert "请先运行 duban seed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("state", "status", "percent", "today", "expected"),
    [
        (MilestoneState.done, ReportStatus.done, 100, "2024-01-01", Pace.done),
        (MilestoneState.overdue, ReportStatus.on_track, 90, "2026-01-02", Pace.red),
        (MilestoneState.reported, ReportStatus.blocked, 50, "2024-01-01", Pace.red),
        (MilestoneState.silent, None, None, "2024-01-01", Pace.grey),
        # half the time has passed (2023-01-01 .. 2025-01-01): 50% expected, 25 points of tolerance
        (MilestoneState.reported, ReportStatus.on_track, 26, "2024-01-01", Pace.green),
        (MilestoneState.reported, ReportStatus.on_track, 24, "2024-01-01", Pace.amber),
        (MilestoneState.reported, ReportStatus.at_risk, 80, "2024-01-01", Pace.amber),
    ],
)
def test_pace_colour_against_the_time_elapsed(state, status, percent, today, expected) -> None:  # type: ignore[no-untyped-def]
    latest = (
        None
        if status is None
        else ProgressReport(milestone_id=1, contact_id=1, status=status, percent=percent)
    )
    assert (
        pace_of(
            state,
            latest,
            start=dt.date(2023, 1, 1),
            due=dt.date(2025, 1, 1),
            today=dt.date.fromisoformat(today),
        )
        == expected
    )
