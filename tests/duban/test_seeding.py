"""`duban seed`: loads every plan, twice changes nothing, a broken file loads nothing; a moved date moves its
milestone, one the file no longer has is withdrawn, and a key holding another plan is refused."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session, col, func, select

from duban.cli import main
from duban.db import make_engine
from duban.seeding import MilestoneChange, SeedError, _match_milestones, load_seed
from duban.services.invites import create_invite, redeem_invite, resolve_department
from duban.services.progress import record_report
from models import (
    AuditEntry,
    ContactRole,
    Department,
    DepartmentRole,
    Milestone,
    MilestoneStatus,
    Plan,
    ProgressReport,
    Recurrence,
    ReportStatus,
    Task,
)
from scheduler.planner import plan_reminders
from scheduler.policy import ReminderPolicy
from seed_data import seed_files
from seed_data.schema import SeedMilestone
from tests.zones import DEFAULT_TZ


def _snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    tables = sorted(inspect(engine).get_table_names())
    with engine.connect() as conn:
        return {
            t: sorted(map(tuple, conn.execute(text(f'SELECT * FROM "{t}"')).all()), key=repr) for t in tables
        }


def test_seeding_twice_gives_the_same_database(engine: Engine) -> None:
    with Session(engine) as session:
        first = load_seed(session=session)
    before = _snapshot(engine)
    with Session(engine) as session:
        second = load_seed(session=session)
    assert _snapshot(engine) == before
    assert (second.created, second.updated) == (0, 0)
    assert (first.plans, first.tasks, first.milestones) == (5, 139, 89)


def test_departments_of_two_counties_are_kept_apart(seeded: Session) -> None:
    zichuan = seeded.exec(select(Department).where(Department.name == "区教体局")).one()
    changqing = seeded.exec(select(Department).where(Department.name == "区教育体育局")).one()
    assert (zichuan.region, changqing.region) == ("淄博市淄川区", "济南市长清区")


def test_a_name_printed_two_ways_is_one_department(seeded: Session) -> None:
    task = seeded.exec(
        select(Task).join(Plan).where(Plan.key == "zibo-zichuan-2023", Task.ref == "附件-7")
    ).one()
    assert [d.name for d in task.departments(DepartmentRole.lead)] == ["区教体局"]
    assert [link.printed_as for link in task.department_links if link.role == "lead"] == ["区教育局"]


def _copy_seeds(tmp_path: Path) -> list[Path]:
    copies = []
    for path in seed_files():
        target = tmp_path / path.name
        shutil.copy(path, target)
        copies.append(target)
    return copies


def test_a_broken_file_is_named_with_task_and_field_and_nothing_is_loaded(
    engine: Engine, tmp_path: Path
) -> None:
    copies = _copy_seeds(tmp_path)
    broken = next(p for p in copies if p.name == "zibo-zichuan-2023.yaml")
    data = yaml.safe_load(broken.read_text(encoding="utf-8"))
    data["tasks"][2]["milestones"][0]["due_on"] = "2027-02-30"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")

    with Session(engine) as session, pytest.raises(SeedError) as caught:
        load_seed(session=session, paths=copies)

    message = str(caught.value)
    assert "zibo-zichuan-2023.yaml" in message
    assert "任务 （三）" in message and "不是有效日期" in message
    assert "milestones.0.due_on" in message
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Plan)).one() == 0
        assert session.exec(select(func.count()).select_from(Milestone)).one() == 0


def test_a_file_that_is_not_yaml_is_named(engine: Engine, tmp_path: Path) -> None:
    copies = _copy_seeds(tmp_path)
    copies[0].write_text("key: [unclosed\n", encoding="utf-8")
    with Session(engine) as session, pytest.raises(SeedError, match=copies[0].name):
        load_seed(session=session, paths=copies)


# ---------------------------------------------------------------- a source is the whole plan: moved and withdrawn

ZICHUAN = "zibo-zichuan-2023"
REPORTED_AT = dt.datetime(2025, 3, 3, 2, tzinfo=dt.UTC)


def _edited(tmp_path: Path, edit: Callable[[dict[str, Any]], None], name: str = f"{ZICHUAN}.yaml") -> Path:
    """淄川's seed file with `edit` applied to its data, written where `duban seed FILE` can read it."""
    source = next(p for p in seed_files() if p.name == f"{ZICHUAN}.yaml")
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    edit(data)
    target = tmp_path / name
    target.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


def _task_data(data: dict[str, Any], ref: str) -> dict[str, Any]:
    task: dict[str, Any] = next(t for t in data["tasks"] if t["ref"] == ref)
    return task


def _milestones_of(session: Session, ref: str) -> list[Milestone]:
    session.expire_all()
    return list(
        session.exec(
            select(Milestone)
            .join(Task)
            .join(Plan)
            .where(Plan.key == ZICHUAN, Task.ref == ref)
            .order_by(col(Milestone.due_on))
        ).all()
    )


def _report(session: Session, milestone: Milestone) -> ProgressReport:
    """A report by 区教体局's contact, who joined through an invitation, as the bot records it."""
    department = resolve_department(session=session, name="区教体局", region="淄博市淄川区")
    issued = create_invite(
        session=session,
        department=department,
        role=ContactRole.contact,
        now=REPORTED_AT,
        ttl=dt.timedelta(days=7),
    )
    contact = redeem_invite(
        session=session, token=issued.token, telegram_user_id=4242, language="zh_CN", now=REPORTED_AT
    )
    assert milestone.id is not None
    return record_report(
        session=session,
        contact=contact,
        milestone_id=milestone.id,
        status=ReportStatus.on_track,
        percent=40,
        note="已开工",
        now=REPORTED_AT,
        tz=DEFAULT_TZ,
    ).report


def test_a_moved_date_moves_the_milestone_with_its_report_and_its_reminders(
    seeded: Session, tmp_path: Path
) -> None:
    [milestone] = _milestones_of(seeded, "（二）")
    assert milestone.due_on == dt.date(2025, 12, 31)
    report = _report(seeded, milestone)

    def move(data: dict[str, Any]) -> None:
        _task_data(data, "（二）")["milestones"][0]["due_on"] = "2026-06-30"

    summary = load_seed(session=seeded, paths=[_edited(tmp_path, move)])

    [moved] = _milestones_of(seeded, "（二）")
    assert (moved.id, moved.due_on, moved.status) == (
        milestone.id,
        dt.date(2026, 6, 30),
        MilestoneStatus.open,
    )
    assert seeded.get(ProgressReport, report.id).milestone_id == moved.id  # type: ignore[union-attr]
    [changes] = summary.changes
    assert changes.moved == [
        MilestoneChange("（二）", "none", dt.date(2025, 12, 31), moved_to=dt.date(2026, 6, 30), reports=1)
    ]
    assert (changes.withdrawn, changes.tasks_added, changes.tasks_removed) == ([], [], [])
    # the reminders are the new date's: 180/90/30/7/1 days before 2026-06-30, and none before the old one
    assert moved.id is not None
    reminders = plan_reminders(
        session=seeded,
        start=dt.date(2025, 6, 1),
        end=dt.date(2026, 6, 30),
        policy=ReminderPolicy(),
        milestone_ids=[moved.id],
    )
    assert sorted({r.send_on for r in reminders if r.kind == "reminder"}) == [
        dt.date(2026, 6, 30) - dt.timedelta(days=d) for d in (180, 90, 30, 7, 1)
    ]
    assert {r.instance_due for r in reminders} == {dt.date(2026, 6, 30)}


def test_a_milestone_the_file_no_longer_has_is_withdrawn_with_its_report_and_comes_back_if_listed_again(
    seeded: Session, tmp_path: Path
) -> None:
    dated = next(m for m in _milestones_of(seeded, "（七）") if m.recurrence == Recurrence.none)
    report = _report(seeded, dated)

    def drop(data: dict[str, Any]) -> None:
        task = _task_data(data, "（七）")
        task["milestones"] = [m for m in task["milestones"] if m.get("recurrence", "none") != "none"]

    edited = _edited(tmp_path, drop)
    summary = load_seed(session=seeded, paths=[edited], by="duban seed zibo-zichuan-2023.yaml (alice)")

    after = {m.id: m for m in _milestones_of(seeded, "（七）")}
    assert len(after) == 3  # nothing deleted
    gone = after[dated.id]
    assert gone.status == MilestoneStatus.withdrawn
    assert gone.withdrawn_by == "duban seed zibo-zichuan-2023.yaml (alice)"
    assert gone.withdrawn_at is not None
    assert [m.status for i, m in after.items() if i != dated.id] == [MilestoneStatus.open] * 2
    assert seeded.get(ProgressReport, report.id) is not None
    assert summary.changes[0].withdrawn == [
        MilestoneChange("（七）", "none", dt.date(2025, 12, 31), reports=1)
    ]
    assert seeded.exec(
        select(AuditEntry.detail).where(
            AuditEntry.action == "withdraw_milestone", AuditEntry.milestone_id == dated.id
        )
    ).all() == ["by=duban seed zibo-zichuan-2023.yaml (alice)"]

    again = load_seed(session=seeded, paths=[edited])
    assert (again.created, again.updated, bool(again.changes[0])) == (0, 0, False)

    back = load_seed(session=seeded, paths=[next(p for p in seed_files() if p.name == f"{ZICHUAN}.yaml")])
    restored = {m.id: m for m in _milestones_of(seeded, "（七）")}[dated.id]
    assert (restored.status, restored.withdrawn_at, restored.withdrawn_by) == (
        MilestoneStatus.open,
        None,
        None,
    )
    assert back.changes[0].restored == [MilestoneChange("（七）", "none", dt.date(2025, 12, 31), reports=1)]


def test_a_task_the_file_no_longer_has_keeps_its_reports_and_an_empty_one_goes(
    seeded: Session, tmp_path: Path
) -> None:
    [milestone] = _milestones_of(seeded, "（三）")
    _report(seeded, milestone)

    def drop(data: dict[str, Any]) -> None:
        data["tasks"] = [t for t in data["tasks"] if t["ref"] not in ("（三）", "（六）")]

    summary = load_seed(session=seeded, paths=[_edited(tmp_path, drop)])

    [kept] = _milestones_of(seeded, "（三）")
    assert (kept.id, kept.status) == (milestone.id, MilestoneStatus.withdrawn)
    assert summary.changes[0].tasks_removed == [("（三）", 1), ("（六）", 0)]
    refs = seeded.exec(select(Task.ref).join(Plan).where(Plan.key == ZICHUAN)).all()
    assert "（三）" in refs and "（六）" not in refs  # (六) had no milestone, nothing to keep


def test_a_closed_out_milestone_the_file_no_longer_has_stays_closed(seeded: Session, tmp_path: Path) -> None:
    [milestone] = _milestones_of(seeded, "（四）")
    milestone.status = MilestoneStatus.done
    seeded.add(milestone)
    seeded.commit()

    def drop(data: dict[str, Any]) -> None:
        _task_data(data, "（四）")["milestones"] = []

    summary = load_seed(session=seeded, paths=[_edited(tmp_path, drop)])
    assert [m.status for m in _milestones_of(seeded, "（四）")] == [MilestoneStatus.done]
    assert summary.changes[0].kept_closed == [MilestoneChange("（四）", "none", dt.date(2027, 12, 31))]
    assert summary.changes[0].withdrawn == []


def _milestone(due_on: str, target: str, recurrence: str = "none") -> Milestone:
    return Milestone(
        task_id=1, due_on=dt.date.fromisoformat(due_on), target=target, recurrence=Recurrence(recurrence)
    )


def _wanted(due_on: str, target: str, recurrence: str = "none") -> SeedMilestone:
    return SeedMilestone.model_validate({"due_on": due_on, "target": target, "recurrence": recurrence})


@pytest.mark.parametrize(
    ("existing", "wanted", "pairs", "added", "left"),
    [
        # one milestone, moved and reworded: still the one
        ([("2025-12-31", "A")], [("2026-06-30", "A2")], [("2025-12-31", "2026-06-30")], [], []),
        # the same date is the same milestone, whatever else moved
        (
            [("2025-12-31", "A"), ("2026-12-31", "B")],
            [("2025-12-31", "A"), ("2027-06-30", "C")],
            [("2025-12-31", "2025-12-31"), ("2026-12-31", "2027-06-30")],
            [],
            [],
        ),
        # the same target is the milestone moved, even with more on one side
        (
            [("2025-12-31", "A"), ("2026-12-31", "B")],
            [("2027-12-31", "B")],
            [("2026-12-31", "2027-12-31")],
            [],
            ["2025-12-31"],
        ),
        # unequal numbers and no target in common: nothing is guessed
        (
            [("2025-12-31", "A"), ("2026-12-31", "B")],
            [("2027-12-31", "C")],
            [],
            ["2027-12-31"],
            ["2025-12-31", "2026-12-31"],
        ),
        # kinds never pair: a one-off that became a yearly duty is withdrawn, the duty added
        ([("2025-12-31", "A")], [("2025-12-31", "A", "yearly")], [], ["2025-12-31"], ["2025-12-31"]),
    ],
)
def test_milestones_are_matched_by_kind_then_date_then_target_then_order(
    existing: list[tuple[str, ...]],
    wanted: list[tuple[str, ...]],
    pairs: list[tuple[str, str]],
    added: list[str],
    left: list[str],
) -> None:
    found, new, rest = _match_milestones([_milestone(*m) for m in existing], [_wanted(*w) for w in wanted])
    assert sorted((m.due_on.isoformat(), w.due_on.isoformat()) for m, w in found) == pairs
    assert [w.due_on.isoformat() for w in new] == added
    assert [m.due_on.isoformat() for m in rest] == left


def test_seed_prints_what_it_moved_and_withdrew(cli_env: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["seed"]) == 0
    capsys.readouterr()

    def edit(data: dict[str, Any]) -> None:
        _task_data(data, "（二）")["milestones"][0]["due_on"] = "2026-06-30"
        _task_data(data, "（三）")["milestones"] = []

    assert main(["seed", str(_edited(tmp_path, edit))]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "方案 zibo-zichuan-2023 的变化：",
        "  时限调整 1 个（汇报随节点保留）：（二） 2025-12-31 → 2026-06-30",
        "  撤销节点 1 个：（三） 2027-12-31",
    ]
    assert main(["seed", str(_edited(tmp_path, edit))]) == 0  # again: nothing changes, nothing printed
    assert capsys.readouterr().out.splitlines()[1:] == []


def test_seed_refuses_a_file_whose_key_holds_another_plan_unless_told_to_replace_it(
    cli_env: str, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    assert main(["seed"]) == 0
    capsys.readouterr()
    engine = make_engine(cli_env)
    before = _snapshot(engine)

    def retitle(data: dict[str, Any]) -> None:
        data["title"] = "淄川区乡村教育振兴三年行动方案"
        data["doc_number"] = "川政办字〔2024〕3号"

    edited = _edited(tmp_path, retitle)
    assert main(["seed", str(edited)]) == 1
    assert capsys.readouterr().err == (
        "编号 zibo-zichuan-2023 已是另一个方案《淄川区推进乡村教育振兴工作方案》（淄川区人民政府办公室 "
        "川政办字〔2023〕28号），本文件是《淄川区乡村教育振兴三年行动方案》（淄川区人民政府办公室 川政办字〔2024〕3号），"
        "未载入任何内容。要用本文件替换它，请加 --replace zibo-zichuan-2023；要两者都保留，请给本文件另一个编号"
        "（duban plans list 列出已有编号）\n"
    )
    assert _snapshot(engine) == before

    assert main(["seed", str(edited), "--replace", "zibo-zichuan-2023"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "方案 zibo-zichuan-2023 的变化：",
        "  标题：淄川区推进乡村教育振兴工作方案 → 淄川区乡村教育振兴三年行动方案",
        "  文号：川政办字〔2023〕28号 → 川政办字〔2024〕3号",
    ]
    assert main(["seed", str(edited), "--replace", "anqiu-2023"]) == 1
    assert capsys.readouterr().err == "--replace anqiu-2023：要载入的内容中没有这个编号的方案\n"
    engine.dispose()
