"""0005: a /reject reason may be as long as validation allows; reasons already stored are kept (upgraded to head)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import inspect, text
from sqlmodel import Session, select

from duban.db import make_engine
from duban.migrate import current_revision, head_revision, upgrade
from duban.seeding import load_seed
from duban.services.invites import resolve_department
from duban.services.progress import decide_closeout
from models import (
    CloseoutRequest,
    Contact,
    DepartmentRole,
    Milestone,
    TaskDepartment,
    limits,
)
from tests.later_columns import add_later_columns, drop_later_columns
from tests.zones import DEFAULT_TZ

NOW = dt.datetime(2025, 6, 2, 2, tzinfo=dt.UTC)


def test_upgrading_to_0005_widens_the_reason_and_keeps_the_rows(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0004")
    add_later_columns(engine)  # while today's seeding reads and writes milestones
    with Session(engine) as session:
        load_seed(session=session)
        department = resolve_department(session=session, name="区教体局")
        milestone_ids = session.exec(
            select(Milestone.id)
            .join(TaskDepartment, TaskDepartment.task_id == Milestone.task_id)  # type: ignore[arg-type]
            .where(TaskDepartment.department_id == department.id, TaskDepartment.role == DepartmentRole.lead)
            .order_by(Milestone.id)  # type: ignore[arg-type]
        ).all()[:2]
    old_reason = "旧" * 500  # the most the old column held
    # people, reports and 销号 requests written as the 0004 schema holds them: today's services write columns
    # (outbox payloads, DingTalk ids) that 0004 does not have
    with engine.begin() as connection:
        for contact_id, role in ((1, "contact"), (2, "coordinator")):
            connection.execute(
                text(
                    "INSERT INTO contact (id, department_id, name, role, telegram_user_id, language, active, "
                    "joined_at) VALUES (:id, :department, '', :role, :id, 'zh_CN', :active, :now)"
                ),
                {"id": contact_id, "department": department.id, "role": role, "active": True, "now": NOW},
            )
        for n, milestone_id in enumerate(milestone_ids, start=1):
            connection.execute(
                text(
                    "INSERT INTO progressreport (id, milestone_id, contact_id, status, percent, note, reported_at) "
                    "VALUES (:id, :milestone, 1, 'done', 100, '已完成', :now)"
                ),
                {"id": n, "milestone": milestone_id, "now": NOW},
            )
            connection.execute(
                text(
                    "INSERT INTO closeoutrequest (id, milestone_id, report_id, requested_by, status, decided_by, "
                    "reason, requested_at, decided_at) VALUES (:id, :milestone, :id, 1, :status, :by, :reason, "
                    ":now, :decided)"
                ),
                {
                    "id": n,
                    "milestone": milestone_id,
                    "status": "rejected" if n == 1 else "pending",
                    "by": 2 if n == 1 else None,
                    "reason": old_reason if n == 1 else None,
                    "now": NOW,
                    "decided": NOW if n == 1 else None,
                },
            )

    drop_later_columns(engine)
    upgrade(engine)

    assert current_revision(engine) == head_revision()
    [reason] = [c for c in inspect(engine).get_columns("closeoutrequest") if c["name"] == "reason"]
    assert reason["type"].length == limits.CLOSEOUT_REASON == 2000
    with Session(engine) as session:
        assert session.get(CloseoutRequest, 1).reason == old_reason  # type: ignore[union-attr]
        requests = session.exec(select(CloseoutRequest).order_by(CloseoutRequest.id)).all()  # type: ignore[arg-type]
        assert [c.status for c in requests] == ["rejected", "pending"]  # both survived
        decide_closeout(
            session=session,
            coordinator=session.exec(select(Contact).where(Contact.telegram_user_id == 2)).one(),
            closeout_id=2,
            approve=False,
            reason="新" * 2000,
            now=NOW,
            tz=DEFAULT_TZ,
        )
        assert session.get(CloseoutRequest, 2).reason == "新" * 2000  # type: ignore[union-attr]
    engine.dispose()
