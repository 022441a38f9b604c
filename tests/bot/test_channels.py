"""The router sends each outbox row on its recipient's channel; a contact row belongs to one channel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from bot.channels import ChannelRouter
from duban.services.outbox import enqueue
from models import Contact, ContactRole, Department, Notification
from scheduler.delivery import RecipientUnreachable, TransientFailure

TZ = ZoneInfo("Asia/Shanghai")  # the settings' default

NOW = dt.datetime(2025, 6, 2, 1, tzinfo=dt.UTC)


def row_for(session: Session, **ids: object) -> Notification:
    department = Department(name=f"区科技局{len(ids)}{sorted(ids)}", region="淄博市淄川区")
    session.add(department)
    session.flush()
    contact = Contact(department_id=department.id or 0, name="", role=ContactRole.contact, **ids)  # type: ignore[arg-type]
    session.add(contact)
    session.flush()
    row = enqueue(session=session, key=f"k{contact.id}", kind="reminder", contact=contact, due_at=NOW, tz=TZ)
    assert row is not None
    session.commit()
    return row


def recorder(name: str, calls: list[tuple[str, int | None]]):  # type: ignore[no-untyped-def]
    async def deliver(session: Session, rows: Sequence[Notification]) -> str:
        calls.append((name, rows[0].id))
        return f"{name}-{rows[0].id}"

    return deliver


@pytest.mark.parametrize(
    ("ids", "channel"),
    [({"telegram_user_id": 7}, "telegram"), ({"dingtalk_user_id": "staff-1"}, "dingtalk")],
)
async def test_a_row_goes_out_on_its_recipients_channel(
    session: Session, ids: dict[str, object], channel: str
) -> None:
    calls: list[tuple[str, int | None]] = []
    router = ChannelRouter({"telegram": recorder("telegram", calls), "dingtalk": recorder("dingtalk", calls)})
    row = row_for(session, **ids)
    assert await router(session, [row]) == f"{channel}-{row.id}"
    assert calls == [(channel, row.id)]


async def test_a_channel_this_process_does_not_run_is_retried_later_not_a_blocked_contact(
    session: Session,
) -> None:
    calls: list[tuple[str, int | None]] = []
    router = ChannelRouter({"telegram": recorder("telegram", calls)})  # no DingTalk settings
    with pytest.raises(TransientFailure):
        await router(session, [row_for(session, dingtalk_user_id="staff-1")])
    with pytest.raises(RecipientUnreachable):  # joined nowhere
        await router(session, [row_for(session)])
    assert calls == []
