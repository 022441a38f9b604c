"""The buttons under a reminder, as the contact presses them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session, select

from bot.telegram.reminder_buttons import parse
from models import AuditEntry, Notification, ProgressReport
from tests.bot.conftest import FakeUser, Harness

CONTACT = FakeUser(1001)
OTHER = FakeUser(1002)


def _reminder(harness: Harness, ref: str = "（三）", plan: str = "zibo-zichuan-2023") -> int:
    contact = harness.join(CONTACT, "区教体局")
    harness.reminder_sent_to(contact, plan, ref, telegram_message_id=900)
    [row] = harness.rows(Notification, Notification.platform_message_id == "900")
    return row.id


async def test_received_records_the_acknowledgement(harness: Harness) -> None:
    notification_id = _reminder(harness)
    assert await harness.press(CONTACT, f"rm:ack:{notification_id}") == ["已签收，谢谢。"]
    [row] = harness.rows(Notification, Notification.id == notification_id)
    assert row.acknowledged_at == harness.clock_value[0]
    assert "acknowledge" in [a.action for a in harness.rows(AuditEntry)]


async def test_snooze_queues_the_reminder_again(harness: Harness) -> None:
    notification_id = _reminder(harness)
    assert await harness.press(CONTACT, f"rm:snz:{notification_id}:3") == ["将在 3 天后再次提醒您。"]
    again = harness.rows(Notification, Notification.idempotency_key.contains(":snooze:"))  # type: ignore[attr-defined]
    assert len(again) == 1 and again[0].sent_at is None
    assert again[0].due_at.date() == (harness.clock_value[0] + dt.timedelta(days=3)).date()
    assert await harness.press(CONTACT, f"rm:snz:{notification_id}:99") == ["可以延后 1、3 或 7 天。"]


async def test_report_button_opens_the_report_flow_at_that_milestone(harness: Harness) -> None:
    notification_id = _reminder(harness)
    answers = await harness.press(CONTACT, f"rm:rep:{notification_id}")
    assert answers[-1] == "（三） 实施乡村学校办学条件提档升级行动\n目前进展如何？"
    await harness.press(CONTACT, "rp:s:on_track")
    await harness.press(CONTACT, "rp:p:70")
    await harness.say(CONTACT, "/skip")
    assert [(r.status, r.percent) for r in harness.rows(ProgressReport)] == [("on_track", 70)]


async def test_no_change_on_a_monthly_duty_records_a_report(harness: Harness) -> None:
    contact = harness.join(CONTACT, "教育科")
    harness.reminder_sent_to(contact, "pengshui-2023", "（一）1", telegram_message_id=901)
    [row] = harness.rows(Notification, Notification.platform_message_id == "901")
    answers = await harness.press(CONTACT, f"rm:nc:{row.id}")
    assert "\n备注：无变化\n识别有误？请在 10 分钟内点击“撤销”。" in answers[-1]
    [report] = harness.rows(ProgressReport)
    assert report.note == "无变化"
    # the confirmation carries the same 撤销 as any other report's
    assert harness.buttons() == [f"ud:{report.id}"]
    await harness.press(CONTACT, f"ud:{report.id}")
    assert harness.rows(ProgressReport) == []


async def test_someone_elses_reminder_button_changes_nothing(harness: Harness) -> None:
    notification_id = _reminder(harness)
    harness.join(OTHER, "区教体局")
    assert await harness.press(OTHER, f"rm:ack:{notification_id}") == ["抱歉，您无权使用此功能。"]
    assert await harness.press(OTHER, f"rm:rep:{notification_id}") == ["此按钮已失效，未做任何更改。"]
    assert await harness.press(OTHER, "rm:ack:999999") == ["没有找到相应内容，请检查编号或名称。"]
    [row] = harness.rows(Notification, Notification.id == notification_id)
    assert row.acknowledged_at is None


def _bundle(harness: Harness) -> list[int]:
    """Two reminders that went out together as one message (platform id 950)."""
    contact = harness.join(CONTACT, "区教体局")
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（二）", telegram_message_id=950)
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（三）", telegram_message_id=951)
    with Session(harness.engine) as session:
        rows = list(session.exec(select(Notification).order_by(Notification.id)).all())
        for row in rows:
            row.bundle_id, row.platform_message_id = rows[0].id, "950"
            session.add(row)
        session.commit()
        return [row.id or 0 for row in rows]


async def test_acknowledge_all_covers_every_item_of_the_message(harness: Harness) -> None:
    first, second = _bundle(harness)
    harness.join(OTHER, "区教体局")
    assert await harness.press(OTHER, f"/ackall {first}") == ["抱歉，您无权使用此功能。"]
    assert await harness.press(CONTACT, f"/ackall {first}") == ["已签收，谢谢。"]
    assert all(r.acknowledged_at == harness.clock_value[0] for r in harness.rows(Notification))


async def test_snooze_brings_the_whole_message_back_together(harness: Harness) -> None:
    first, second = _bundle(harness)
    assert await harness.press(CONTACT, f"/snz {first} 3") == ["将在 3 天后再次提醒您。"]
    again = harness.rows(Notification, Notification.idempotency_key.contains(":snooze:"))  # type: ignore[attr-defined]
    assert sorted(r.milestone_id for r in again) == sorted(
        r.milestone_id
        for r in harness.rows(Notification, Notification.id.in_([first, second]))  # type: ignore[union-attr]
    )
    assert len({r.due_at for r in again}) == 1  # due at one moment: they go out as one message again


async def test_report_on_item_two_opens_the_flow_at_that_item(harness: Harness) -> None:
    _first, second = _bundle(harness)
    answers = await harness.press(CONTACT, f"/rep {second}")
    assert answers[-1] == "（三） 实施乡村学校办学条件提档升级行动\n目前进展如何？"


async def test_a_text_reply_to_a_message_of_several_items_asks_which_one(harness: Harness) -> None:
    _bundle(harness)
    answers = await harness.say(CONTACT, "完成60%", reply_to=950)
    assert answers == ["该提醒包含多项事项：请点击其下方的“汇报 n”选择要汇报的事项，或使用 /report。"]
    assert harness.rows(ProgressReport) == []


async def test_every_button_is_also_a_command_that_can_be_typed(harness: Harness) -> None:
    first, second = _bundle(harness)
    assert await harness.say(CONTACT, f"/snz {first} 7") == ["将在 7 天后再次提醒您。"]
    assert await harness.say(CONTACT, f"/ackall {first}") == ["已签收，谢谢。"]
    assert all(
        r.acknowledged_at is not None
        for r in harness.rows(Notification, Notification.id.in_([first, second]))
    )  # type: ignore[union-attr]
    harness.join(OTHER, "区教体局")
    assert await harness.say(OTHER, f"/ack {first}") == ["抱歉，您无权使用此功能。"]


@pytest.mark.parametrize("data", ["", "/", "rm:", "rm:ack"])
def test_a_button_without_its_data_is_no_action(data: str) -> None:
    verb, notification_id, _days = parse(data)
    assert notification_id is None  # refused as a stale button, never an exception
