"""`duban db check [--repair]`: every derived value against its source, one line per kind; drift found is exit 1,
repaired (in one transaction) is exit 0."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import Engine, insert, text
from sqlmodel import Session

from duban import derived
from duban.cli import main
from duban.services.progress import record_report
from models import ProgressReport, ReportStatus, newest_report
from tests.newest_copies import NOW, copies, join, led_milestones, sources
from tests.zones import DEFAULT_TZ

CLEAN = [
    "维护最新汇报副本的触发器（progressreport）：缺失 0 个",
    "节点的最新汇报副本（milestone.latest_*）：0 个节点与其最新汇报不一致",
    "没有发现不一致。",
]


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


def _drift(session: Session) -> None:
    """Three copies wrong, one trigger gone: a copy edited by hand, a report loaded while a trigger was missing,
    a copy left on a milestone with no report."""
    contact = join(session)
    first, second, third, fourth = led_milestones(session, contact)[:4]
    for milestone_id in (first, second):
        record_report(
            session=session,
            contact=contact,
            milestone_id=milestone_id,
            status=ReportStatus.on_track,
            percent=40,
            note="",
            now=NOW,
            tz=DEFAULT_TZ,
        )
    session.execute(text("UPDATE milestone SET latest_report_percent = 41 WHERE id = :m"), {"m": first})
    dropped = newest_report.TRIGGERS[0]  # after insert
    on = "" if session.get_bind().dialect.name == "sqlite" else " ON progressreport"
    session.execute(text(f"DROP TRIGGER {dropped}{on}"))
    session.execute(
        insert(ProgressReport),
        [
            {
                "milestone_id": third,
                "contact_id": contact.id,
                "status": ReportStatus.blocked,
                "percent": 5,
                "note": "",
                "reported_at": NOW,
            }
        ],
    )
    session.execute(
        text("UPDATE milestone SET latest_report_id = 77, latest_report_status = 'done' WHERE id = :m"),
        {"m": fourth},
    )
    session.commit()


def test_a_database_whose_copies_are_right_passes(seeded: Session, cli_env: str, capsys) -> None:  # type: ignore[no-untyped-def]
    contact = join(seeded)
    record_report(
        session=seeded,
        contact=contact,
        milestone_id=led_milestones(seeded, contact)[0],
        status=ReportStatus.at_risk,
        percent=20,
        note="",
        now=NOW,
        tz=DEFAULT_TZ,
    )
    assert main(["db", "check"]) == 0
    assert _lines(capsys) == CLEAN


def test_drift_is_counted_by_kind_and_left_alone_without_repair(
    seeded: Session, cli_env: str, capsys
) -> None:  # type: ignore[no-untyped-def]
    _drift(seeded)
    before = copies(seeded)
    assert main(["db", "check"]) == 1
    assert _lines(capsys) == [
        "维护最新汇报副本的触发器（progressreport）：缺失 1 个",
        "节点的最新汇报副本（milestone.latest_*）：3 个节点与其最新汇报不一致",
        "发现不一致；运行 duban db check --repair 在一个事务中修复。",
    ]
    seeded.expire_all()
    assert copies(seeded) == before != sources(seeded)


def test_repair_fixes_every_kind_and_the_database_keeps_them_right_after(
    seeded: Session, cli_env: str, capsys
) -> None:  # type: ignore[no-untyped-def]
    _drift(seeded)
    assert main(["db", "check", "--repair"]) == 0
    assert _lines(capsys) == [
        "维护最新汇报副本的触发器（progressreport）：缺失 1 个，已修复 1 个",
        "节点的最新汇报副本（milestone.latest_*）：3 个节点与其最新汇报不一致，已修复 3 个",
        "已在一个事务中修复。",
    ]
    assert main(["db", "check"]) == 0
    assert _lines(capsys) == CLEAN
    seeded.expire_all()
    assert copies(seeded) == sources(seeded)
    # the trigger is back: a bulk-loaded report is copied at once
    contact = join(seeded, 1002)
    milestone_id = led_milestones(seeded, contact)[5]
    seeded.execute(
        insert(ProgressReport),
        [
            {
                "milestone_id": milestone_id,
                "contact_id": contact.id,
                "status": ReportStatus.done,
                "percent": 100,
                "note": "",
                "reported_at": NOW,
            }
        ],
    )
    seeded.commit()
    assert copies(seeded) == sources(seeded)


def test_a_repair_that_fails_part_way_changes_nothing(
    seeded: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _drift(seeded)
    before = copies(seeded)

    def fails(_connection: object) -> int:
        raise RuntimeError("the disk is full")

    triggers, copy = derived.KINDS
    monkeypatch.setattr(derived, "KINDS", (triggers, dataclasses.replace(copy, repair=fails)))
    with pytest.raises(RuntimeError):
        derived.check(engine, repair=True)
    assert [d.found for d in derived.check(engine, repair=False)] == [
        1,
        3,
    ]  # the triggers were not made either
    seeded.expire_all()
    assert copies(seeded) == before


def test_check_refuses_a_database_that_does_not_exist(cli_env: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["db", "check"]) == 1
    assert "没有 duban 数据库" in capsys.readouterr().err


def test_repair_belongs_to_check_alone(cli_env: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["db", "current", "--repair"]) == 2
    assert capsys.readouterr().err.strip() == "--repair 只能用于 duban db check。"
