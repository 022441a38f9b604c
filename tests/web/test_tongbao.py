"""督查通报: the figures, the Word document, and `duban tongbao`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from docx import Document
from sqlmodel import Session, select

from duban import tongbao
from duban.cli import main
from duban.services.oversight import pause_escalation, status_for
from duban.services.progress import record_report
from duban.status import MilestoneState
from models import Milestone, MilestoneStatus, Plan, ReportStatus, Task
from tests.web.conftest import HOME_PLAN, NOW, County, milestone_of
from tests.zones import DEFAULT_TZ
from web import data

TODAY = NOW.date()


def _plan(session: Session) -> Plan:
    return session.exec(select(Plan).where(Plan.key == HOME_PLAN)).one()


def test_the_figures_agree_with_status_and_name_the_laggards(seeded: Session, county: County) -> None:
    milestone = milestone_of(seeded, HOME_PLAN, "（二）")
    record_report(
        session=seeded,
        contact=county.contact,
        milestone_id=milestone.id or 0,
        status=ReportStatus.on_track,
        percent=50,
        note="推进中",
        now=NOW - dt.timedelta(days=2),
        tz=DEFAULT_TZ,
    )
    figures = tongbao.gather(session=seeded, plans=[_plan(seeded)], today=TODAY)
    status = status_for(session=seeded, reader=county.lead, today=TODAY)
    assert figures.total == status.overall.total
    assert figures.states.get(MilestoneState.overdue, 0) == status.overall[MilestoneState.overdue]
    assert (figures.period_start, figures.period_end) == (dt.date(2025, 5, 27), TODAY)
    assert figures.reported_departments == ("区教体局",) and figures.reports_in_period == 1
    assert len(figures.lagging_milestones) == status.overall[MilestoneState.overdue]
    days = [m.days_overdue for m in figures.lagging_milestones]
    assert days == sorted(days, reverse=True) and all(d > 0 for d in days)
    assert sum(d.overdue for d in figures.lagging_departments) >= len(figures.lagging_milestones)


def test_a_report_outside_the_period_does_not_count(seeded: Session, county: County) -> None:
    record_report(
        session=seeded,
        contact=county.contact,
        milestone_id=milestone_of(seeded, HOME_PLAN, "（二）").id or 0,
        status=ReportStatus.on_track,
        percent=50,
        note="上上周",
        now=NOW - dt.timedelta(days=8),
        tz=DEFAULT_TZ,
    )
    figures = tongbao.gather(session=seeded, plans=[_plan(seeded)], today=TODAY)
    assert figures.reported_departments == () and figures.reports_in_period == 0


def test_the_document_has_title_period_summary_and_tables(seeded: Session, county: County) -> None:
    figures = tongbao.gather(session=seeded, plans=[_plan(seeded)], today=TODAY)
    document = tongbao.document(figures)
    texts = [p.text for p in document.paragraphs if p.text]
    assert texts[0] == "关于《淄川区推进乡村教育振兴工作方案》推进情况的督查通报"
    assert texts[1] == "各有关部门："
    assert texts[2] == tongbao.summary(figures)
    assert texts[2].startswith(f"截至2025年6月2日，方案共有时间节点{figures.total}个")
    assert "本期（2025年5月27日至2025年6月2日）" in texts[2]
    assert texts[-3:] == [
        "无。",
        _plan(seeded).issuer,
        "2025年6月2日",
    ]  # nobody reported; 落款 the plan's issuer
    departments, milestones = document.tables
    assert [c.text for c in departments.rows[0].cells] == ["牵头部门", "逾期节点", "滞后节点", "最长逾期天数"]
    assert len(departments.rows) == len(figures.lagging_departments) + 1
    first = figures.lagging_milestones[0]
    assert [c.text for c in milestones.rows[1].cells] == [
        first.lead_departments,
        f"{first.task_ref} {first.task_title}",
        first.due_on.isoformat(),
        str(first.days_overdue),
        "",  # 备注: nothing paused
    ]


def test_a_paused_escalation_is_noted_in_the_tongbao_until_the_pause_ends(
    seeded: Session, county: County
) -> None:
    """A coordinator's /snooze (with its reason) is in the 备注 column, so the circulated 通报 says why it waits."""
    first = tongbao.gather(session=seeded, plans=[_plan(seeded)], today=TODAY).lagging_milestones[0]
    [line] = [
        e.line
        for e in data.overdue_entries(session=seeded, reader=county.lead, today=TODAY)
        if (e.line.view.task_ref, e.line.view.due_on) == (first.task_ref, first.due_on)
    ][:1]
    pause_escalation(
        session=seeded,
        coordinator=county.coordinator,
        milestone_id=line.view.milestone_id,
        days=7,
        reason="等待省级资金下达",
        now=NOW,
        today=TODAY,
    )
    figures = tongbao.gather(session=seeded, plans=[_plan(seeded)], today=TODAY)
    paused = [m for m in figures.lagging_milestones if m.paused_until is not None]
    assert [(m.task_ref, m.due_on) for m in paused] == [(first.task_ref, first.due_on)]
    assert paused[0].remark == "暂停催办至2025年6月9日：等待省级资金下达"
    table = tongbao.document(figures).tables[1]
    assert [c.text for c in table.rows[0].cells][-1] == "备注"
    assert [row.cells[-1].text for row in table.rows[1:]].count(paused[0].remark) == 1
    later = tongbao.gather(session=seeded, plans=[_plan(seeded)], today=TODAY + dt.timedelta(days=8))
    assert all(m.paused_until is None for m in later.lagging_milestones)  # the pause ran out


def test_the_cli_writes_the_document(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed"]) == 0
    output = tmp_path / "通报.docx"
    assert main(["tongbao", "--plan", HOME_PLAN, "--output", str(output), "--date", "2025-06-02"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"督查通报已写入 {output}（")
    assert [p.text for p in Document(str(output)).paragraphs if p.text][0].endswith("推进情况的督查通报")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


@pytest.mark.parametrize(
    ("arguments", "line", "code"),
    [
        (
            ["--plan", "no-such-plan", "--output", "out.docx"],
            "没有编号为“no-such-plan”的方案；duban plans list 列出全部方案",
            1,
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    cli_env: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    line: str,
    code: int,
) -> None:
    assert main(["seed"]) == 0
    capsys.readouterr()
    assert main(["tongbao", *arguments]) == code
    assert capsys.readouterr().err == line + "\n"
    assert not (tmp_path / "out.docx").exists() and not (tmp_path / "out.txt").exists()


def test_a_withdrawn_milestone_is_not_named_in_the_tongbao(seeded: Session, county: County) -> None:
    before = tongbao.gather(session=seeded, plans=[_plan(seeded)], today=TODAY)
    first = before.lagging_milestones[0]
    withdrawn = seeded.exec(
        select(Milestone)
        .join(Task)
        .where(Task.plan_id == _plan(seeded).id, Task.ref == first.task_ref, Milestone.due_on == first.due_on)
    ).one()
    withdrawn.status = MilestoneStatus.withdrawn
    seeded.add(withdrawn)
    seeded.commit()
    after = tongbao.gather(session=seeded, plans=[_plan(seeded)], today=TODAY)
    named = [(m.task_ref, m.due_on) for m in after.lagging_milestones]
    assert (first.task_ref, first.due_on) not in named
    assert (after.total, len(named)) == (before.total - 1, len(before.lagging_milestones) - 1)
