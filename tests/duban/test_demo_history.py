"""`duban demo`: a labelled sample history of reports, so the demo looks like a county in mid-plan."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine
from sqlmodel import Session, select

from duban.cli import main
from duban.db import create_schema, make_engine
from duban.demo_history import SAMPLE_MARK, load_sample_history
from duban.seeding import load_seed
from duban.status import MilestoneState, Pace, status_report
from models import AuditEntry, Contact, Plan, ProgressReport

TZ = ZoneInfo("Asia/Shanghai")
TODAY = dt.date(2026, 3, 2)


def history_of(engine: Engine) -> list[tuple[int, str, int | None, str, dt.datetime]]:
    with Session(engine) as session:
        return [
            (r.milestone_id, r.status, r.percent, r.note, r.reported_at)
            for r in session.exec(select(ProgressReport).order_by(ProgressReport.id)).all()
        ]


def fresh(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    with Session(engine) as session:
        load_seed(session=session)
        load_sample_history(session=session, today=TODAY, tz=TZ)
    return engine


def test_the_same_seed_and_day_make_the_same_history(tmp_path: Path) -> None:
    first, second = fresh(tmp_path / "a.db"), fresh(tmp_path / "b.db")
    assert history_of(first) == history_of(second) != []
    first.dispose()
    second.dispose()


def test_every_sample_is_labelled_and_nobody_can_be_messaged(seeded: Session) -> None:
    summary = load_sample_history(session=seeded, today=TODAY, tz=TZ)
    reports = seeded.exec(select(ProgressReport)).all()
    assert len(reports) == summary.reports > 100
    assert all(report.note.startswith(SAMPLE_MARK) for report in reports)
    contacts = seeded.exec(select(Contact)).all()
    assert len(contacts) == summary.contacts
    assert all(c.name.startswith("【示例】") and c.telegram_user_id is None for c in contacts)
    # the real services wrote it: every report is in the audit trail
    assert len(seeded.exec(select(AuditEntry).where(AuditEntry.action == "report")).all()) == len(reports)


def test_reports_fall_between_the_plan_issue_and_yesterday(seeded: Session) -> None:
    load_sample_history(session=seeded, today=TODAY, tz=TZ)
    first_issue = min(plan.issued_on for plan in seeded.exec(select(Plan)).all())
    days = [r.reported_at.astimezone(TZ).date() for r in seeded.exec(select(ProgressReport)).all()]
    assert first_issue <= min(days) and max(days) < TODAY


def test_status_looks_like_a_county_in_mid_plan(seeded: Session) -> None:
    load_sample_history(session=seeded, today=TODAY, tz=TZ)
    report = status_report(session=seeded, today=TODAY)
    overall = report.overall
    assert all(overall[state] > 0 for state in MilestoneState)
    assert overall[MilestoneState.done] > overall[MilestoneState.overdue]
    paces = {view.pace for view in report.milestones}
    assert paces == set(Pace)


@freeze_time("2026-03-02 02:00:00", tz_offset=0)
def test_cli_demo_says_the_reports_are_samples(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--database", str(tmp_path / "demo.db")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"演示数据库：{tmp_path / 'demo.db'}（5 个方案，")
    assert out[1].startswith("【示例数据】进度汇报为按固定种子生成的示例，不是真实汇报：")
    assert "不会收到任何消息" in out[1]
    assert "督办进度（截至 2026-03-02，全部部门）" in out
    assert any(line.startswith("未来 90 天实际发出的提醒") for line in out)


@freeze_time("2026-03-02 02:00:00", tz_offset=0)
def test_cli_demo_without_history_says_nobody_has_reported(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--database", str(tmp_path / "demo.db"), "--no-history"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("数据库中还没有任何进度汇报：已过时限的节点都显示为“已逾期”，其余为“未汇报”。")
    assert "合计  节点数  已销号  已汇报  未汇报  已逾期" in out
    assert next(line for line in out if line.startswith("全部")).split()[2:4] == ["0", "0"]
