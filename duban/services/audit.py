"""The audit trail: who changed what, when. Every domain function that changes something calls this once."""

import datetime as dt

from sqlmodel import Session

from models import AuditEntry


def record(
    session: Session,
    *,
    now: dt.datetime,
    contact_id: int | None,
    action: str,
    milestone_id: int | None = None,
    detail: str = "",
) -> None:
    session.add(
        AuditEntry(at=now, contact_id=contact_id, action=action, milestone_id=milestone_id, detail=detail)
    )
