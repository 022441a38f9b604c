"""0005: a /reject reason may be as long as validation allows; reasons already stored are kept."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import inspect
from sqlmodel import Session, select

from duban.db import make_engine
from duban.migrate import current_revision, upgrade
from duban.seeding import load_seed
from duban.services.invites import create_invite, redeem_invite, resolve_department
from duban.services.progress import decide_closeout, record_report
from models import (
    CloseoutRequest,
    Contact,
    ContactRole,
    DepartmentRole,
    Milestone,
    ReportStatus,
    TaskDepartment,
    limits,
)

NOW = dt.datetime(2025, 6, 2, 2, tzinfo=dt.UTC)


def test_upgrading_to_0005_widens_the_reason_and_keeps_the_rows(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0004")
    with Session(engine) as session:
        load_seed(session=session)
        department = resolve_department(session=session, name="区教体局")
        people = [
            redeem_invite(
                session=session,
                token=create_invite(
                    session=session, department=department, role=role, now=NOW, ttl=dt.timedelta(days=1)
                ).token,
                telegram_user_id=user_id,
                language="zh_CN",
                now=NOW,
            )
            for user_id, role in ((1, ContactRole.contact), (2, ContactRole.coordinator))
        ]
        milestones = session.exec(
            select(Milestone)
            .join(TaskDepartment, TaskDepartment.task_id == Milestone.task_id)  # type: ignore[arg-type]
            .where(TaskDepartment.department_id == department.id, TaskDepartment.role == DepartmentRole.lead)
            .order_by(Milestone.id)  # type: ignore[arg-type]
        ).all()
        for milestone in milestones[:2]:
            record_report(
                session=session,
                contact=people[0],
                milestone_id=milestone.id or 0,
                status=ReportStatus.done,
                percent=100,
                note="已完成",
                now=NOW,
            )
        old_reason = "旧" * 500  # the most the old column held
        decide_closeout(
            session=session, coordinator=people[1], closeout_id=1, approve=False, reason=old_reason, now=NOW
        )

    upgrade(engine)

    assert current_revision(engine) == "0005"
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
        )
        assert session.get(CloseoutRequest, 2).reason == "新" * 2000  # type: ignore[union-attr]
    engine.dispose()
