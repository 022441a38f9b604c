"""`duban plans list` and `duban plans remove`: which plans there are, and taking one out (refused while anything
hangs on it, unless forced; audited)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session, col, func, select

from duban.cli import main
from duban.services.invites import create_invite, redeem_invite, resolve_department
from duban.services.outbox import enqueue
from duban.services.plans import PlanInUse, remove_plan
from duban.services.progress import record_report
from duban.services.tasks import open_task_lines
from models import (
    AuditEntry,
    Contact,
    ContactRole,
    ListedMilestone,
    Milestone,
    MilestoneStatus,
    Notification,
    Plan,
    ProgressReport,
    ReportStatus,
    Task,
)
from tests.zones import DEFAULT_TZ

TZ = ZoneInfo("Asia/Shanghai")  # the settings' default

NOW = dt.datetime(2025, 6, 2, 2, tzinfo=dt.UTC)
SEEDED_LIST = [
    "编号                   县区          任务  节点  已撤销  汇报  方案（文号）",
    "anqiu-2023             安丘市          37    25       0     0  安丘市全面推进乡村教育振兴工作方案（安政办〔2023〕46号）",
    "jinan-changqing-2023   济南市长清区    15     4       0     0  "
    "济南市长清区建设乡村教育振兴先行区专项工作方案（济长政办字〔2023〕18号）",
    "liaocheng-gaoxin-2023  聊城高新区      12     1       0     0  "
    "聊城高新区推进乡村教育振兴实施方案（聊高新区管办发〔2023〕16号）",
    "pengshui-2023          重庆市彭水县    21     1       0     0  "
    "2023年巩固拓展脱贫攻坚成果全面推进乡村教育振兴工作实施方案",
    "zibo-zichuan-2023      淄博市淄川区    54    58       0     0  淄川区推进乡村教育振兴工作方案（川政办字〔2023〕28号）",
]


def _rows(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as connection:
        return {
            t: sorted(map(tuple, connection.execute(text(f'SELECT * FROM "{t}"')).all()), key=repr)
            for t in sorted(inspect(engine).get_table_names())
        }


def _joined(session: Session, role: ContactRole = ContactRole.contact, plan: Plan | None = None) -> Contact:
    department = resolve_department(session=session, name="区教体局", region="淄博市淄川区")
    issued = create_invite(
        session=session, department=department, role=role, now=NOW, ttl=dt.timedelta(days=7), plan=plan
    )
    user = 5000 + session.exec(select(func.count()).select_from(Contact)).one()
    return redeem_invite(
        session=session, token=issued.token, telegram_user_id=user, language="zh_CN", now=NOW
    )


def _zichuan_milestones(session: Session) -> list[Milestone]:
    return list(
        session.exec(
            select(Milestone)
            .join(Task)
            .join(Plan)
            .where(Plan.key == "zibo-zichuan-2023")
            .order_by(col(Milestone.id))
        ).all()
    )


def test_plans_list_shows_every_key_with_its_county_and_counts(
    cli_env: str, seeded: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = _zichuan_milestones(seeded)[:2]
    contact = _joined(seeded)
    for milestone in (first, second):
        assert milestone.id is not None
        record_report(
            session=seeded,
            contact=contact,
            milestone_id=milestone.id,
            status=ReportStatus.on_track,
            percent=10,
            note="",
            now=NOW,
            tz=DEFAULT_TZ,
        )
    second.status = MilestoneStatus.withdrawn
    seeded.add(second)
    seeded.commit()

    assert main(["plans", "list"]) == 0
    expected = [
        *SEEDED_LIST[:-1],
        "zibo-zichuan-2023      淄博市淄川区    54    57       1     2  淄川区推进乡村教育振兴工作方案（川政办字〔2023〕28号）",
    ]
    assert capsys.readouterr().out.splitlines() == expected


def test_plans_list_on_an_empty_database_says_how_to_load_one(
    cli_env: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plans", "list"]) == 0
    assert (
        capsys.readouterr().out == "数据库中还没有方案，请先运行 duban seed 或 duban import-plan --load。\n"
    )


def test_a_plan_nobody_reported_on_is_removed_and_audited(
    cli_env: str, seeded: Session, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    others = {
        table: len(rows)
        for table, rows in _rows(engine).items()
        if table in ("departmentalias", "department")
    }
    assert main(["plans", "remove", "anqiu-2023"]) == 0
    assert capsys.readouterr().out == (
        "已删除方案 anqiu-2023（安丘市全面推进乡村教育振兴工作方案）：37 项任务、25 个时间节点、0 条汇报。已记入审计日志。\n"
    )
    assert main(["plans", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [SEEDED_LIST[0], *SEEDED_LIST[2:]]
    with Session(engine) as session:
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == "remove_plan")).all()
        assert entry.detail.startswith(
            "plan=anqiu-2023 title=安丘市全面推进乡村教育振兴工作方案 doc=安政办〔2023〕46号 tasks=37 milestones=25 "
            "withdrawn=0 reports=0 people=0 robots=0 by=duban plans remove anqiu-2023 ("
        )
    # the county's departments stay: they are the county's, not the plan's
    assert {t: len(r) for t, r in _rows(engine).items() if t in others} == others


def test_a_plan_with_reports_is_not_removed_without_force(
    cli_env: str, seeded: Session, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    milestone = _zichuan_milestones(seeded)[0]
    assert milestone.id is not None
    record_report(
        session=seeded,
        contact=_joined(seeded),
        milestone_id=milestone.id,
        status=ReportStatus.done,
        percent=100,
        note="已完成",
        now=NOW,
        tz=DEFAULT_TZ,
    )
    before = _rows(engine)
    assert main(["plans", "remove", "zibo-zichuan-2023"]) == 1
    assert capsys.readouterr().err == (
        "方案 zibo-zichuan-2023 有 1 条进度汇报、0 名仅限本方案的人员和 0 个群机器人，未删除任何内容。"
        "要连同这些一并删除：duban plans remove zibo-zichuan-2023 --force\n"
    )
    assert _rows(engine) == before


def test_force_removes_a_plan_with_its_reports_stops_its_people_and_keeps_the_record(
    cli_env: str, seeded: Session, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = seeded.exec(select(Plan).where(Plan.key == "zibo-zichuan-2023")).one()
    milestone = _zichuan_milestones(seeded)[0]
    assert milestone.id is not None
    contact = _joined(seeded)
    record_report(
        session=seeded,
        contact=contact,
        milestone_id=milestone.id,
        status=ReportStatus.done,
        percent=100,
        note="已完成",
        now=NOW,
        tz=DEFAULT_TZ,
    )  # a lead department's 已完成: a 销号 request and its notice to coordinators, in the outbox
    limited = _joined(seeded, ContactRole.coordinator, plan=plan)
    shown = open_task_lines(session=seeded, contact=contact, today=NOW.date())  # the contact saw numbers
    queued = enqueue(
        session=seeded,
        key="test:reminder",
        kind="reminder",
        contact=contact,
        payload={"days": 7},
        due_at=NOW,
        milestone_id=milestone.id,
        instance_due_on=milestone.due_on,
        tz=TZ,
    )
    assert queued is not None
    seeded.commit()
    other_milestones = seeded.exec(select(func.count()).select_from(Milestone)).one() - 58
    milestone_id, contact_id, limited_id, queued_id = milestone.id, contact.id, limited.id, queued.id

    assert main(["plans", "remove", "zibo-zichuan-2023", "--force"]) == 0
    assert capsys.readouterr().out == (
        "已删除方案 zibo-zichuan-2023（淄川区推进乡村教育振兴工作方案）：54 项任务、58 个时间节点、1 条汇报；"
        "仅限本方案的 1 人已停用。已记入审计日志。\n"
    )
    with Session(engine) as session:
        assert session.exec(select(Plan).where(Plan.key == "zibo-zichuan-2023")).first() is None
        assert session.exec(select(func.count()).select_from(ProgressReport)).one() == 0
        assert session.exec(select(func.count()).select_from(Milestone)).one() == other_milestones
        stopped = session.get(Contact, limited_id)
        assert stopped is not None and (stopped.active, stopped.plan_id) == (False, None)
        assert session.get(Contact, contact_id).active  # type: ignore[union-attr]  (a county's contact stays)
        # the record stays: the report's audit row says which milestone it was about; the queued message is
        # about nothing now, and goes out as nothing
        report_entry = session.exec(select(AuditEntry).where(AuditEntry.action == "report")).one()
        assert report_entry.milestone_id is None
        assert report_entry.detail.endswith(f" (plan zibo-zichuan-2023 removed: milestone {milestone_id})")
        row = session.get(Notification, queued_id)
        assert row is not None and row.milestone_id is None
        # the numbers the contact was shown stay taken, now meaning nothing: never given to another milestone
        numbers = session.exec(select(ListedMilestone).where(ListedMilestone.contact_id == contact_id)).all()
        assert sorted((n.number, n.milestone_id) for n in numbers) == [(line.number, None) for line in shown]
        assert (
            session.exec(select(AuditEntry.detail).where(AuditEntry.action == "remove_plan"))
            .one()
            .startswith(
                "plan=zibo-zichuan-2023 title=淄川区推进乡村教育振兴工作方案 doc=川政办字〔2023〕28号 tasks=54 milestones=58 "
                "withdrawn=0 reports=1 people=1 robots=0 by=duban plans remove zibo-zichuan-2023 --force ("
            )
        )


def test_removing_a_key_no_plan_has_points_to_the_list(
    cli_env: str, seeded: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plans", "remove", "anqiu-2032"]) == 1
    assert capsys.readouterr().err == "没有编号为“anqiu-2032”的方案；duban plans list 列出全部方案\n"


def test_the_service_refuses_before_it_writes(seeded: Session) -> None:
    plan = seeded.exec(select(Plan).where(Plan.key == "anqiu-2023")).one()
    _joined(seeded, ContactRole.coordinator, plan=None)
    limited = _joined(
        seeded, ContactRole.lead, plan=seeded.exec(select(Plan).where(Plan.key == "zibo-zichuan-2023")).one()
    )
    with pytest.raises(PlanInUse) as refused:
        remove_plan(session=seeded, key="zibo-zichuan-2023", force=False, now=NOW, by="test")
    assert (refused.value.figures.reports, refused.value.figures.people) == (0, 1)
    assert seeded.get(Contact, limited.id).active  # type: ignore[union-attr]
    assert plan.id is not None and seeded.get(Plan, plan.id) is not None
