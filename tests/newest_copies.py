"""Each milestone's copy of its newest report, beside its source: a plain query of its own (a window over
progressreport, not the triggers' ORDER BY … LIMIT 1) giving, for every milestone, the report with the latest
reported_at and then the highest id, or none; and a contact to write reports."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from duban.services.invites import create_invite, redeem_invite, resolve_department
from models import Contact, ContactRole, DepartmentRole, Milestone, TaskDepartment

NOW = dt.datetime(2025, 6, 2, 2, tzinfo=dt.UTC)

SOURCE = text(
    """
    SELECT m.id, n.id, n.reported_at, n.status, n.percent
    FROM milestone m LEFT JOIN (
        SELECT id, milestone_id, reported_at, status, percent,
               ROW_NUMBER() OVER (PARTITION BY milestone_id ORDER BY reported_at DESC, id DESC) AS place
        FROM progressreport
    ) n ON n.milestone_id = m.id AND n.place = 1
    ORDER BY m.id
    """
)
COPY = text(
    "SELECT id, latest_report_id, latest_reported_at, latest_report_status, latest_report_percent "
    "FROM milestone ORDER BY id"
)


def copies(session: Session) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in session.execute(COPY)]


def sources(session: Session) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in session.execute(SOURCE)]


def assert_copies_right(session: Session, what: str = "") -> None:
    wrong = [(c, s) for c, s in zip(copies(session), sources(session), strict=True) if c != s]
    assert wrong == [], what


def join(session: Session, user_id: int = 1001) -> Contact:
    department = resolve_department(session=session, name="区教体局")
    issued = create_invite(
        session=session, department=department, role=ContactRole.contact, now=NOW, ttl=dt.timedelta(days=7)
    )
    return redeem_invite(
        session=session, token=issued.token, telegram_user_id=user_id, language="zh_CN", now=NOW
    )


def led_milestones(session: Session, contact: Contact) -> list[int]:
    return [
        m or 0
        for m in session.exec(
            select(Milestone.id)
            .join(TaskDepartment, col(TaskDepartment.task_id) == Milestone.task_id)
            .where(
                TaskDepartment.department_id == contact.department_id,
                TaskDepartment.role == DepartmentRole.lead,
            )
            .order_by(col(Milestone.id))
        ).all()
    ]
