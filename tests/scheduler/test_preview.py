"""`duban reminders`: when each message really goes out, grouped the way it is sent."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from duban.cli import main
from duban.services.invites import create_invite, redeem_invite, resolve_department
from models import ContactRole, Notification
from scheduler.outbox_planner import plan_outbox
from scheduler.planner import ReminderKind, plan_reminders
from scheduler.policy import ReminderPolicy
from scheduler.preview import preview_messages, render_text

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = ReminderPolicy()
NATIONAL_DAY = (dt.date(2025, 9, 28), dt.date(2025, 10, 11))
AFTER_THE_HOLIDAY = dt.datetime(
    2025, 10, 9, 9, 0, tzinfo=SHANGHAI
)  # 09:00 of the first working day after 10-08


def test_national_day_reminders_go_out_on_the_first_working_morning_after_it(seeded: Session) -> None:
    start, end = NATIONAL_DAY
    messages = preview_messages(session=seeded, start=start, end=end, policy=POLICY, tz=SHANGHAI)
    assert messages
    assert not any(dt.date(2025, 10, 1) <= m.send_at.date() <= dt.date(2025, 10, 8) for m in messages)
    zichuan = next(
        m
        for m in messages
        if (m.department, m.region, m.kind) == ("区教体局", "淄博市淄川区", ReminderKind.reminder)
        and m.send_at == AFTER_THE_HOLIDAY
    )
    nominal = [
        r
        for r in plan_reminders(
            session=seeded, start=dt.date(2025, 10, 2), end=dt.date(2025, 10, 2), policy=POLICY
        )
        if r.kind == ReminderKind.reminder
        and r.plan_key == "zibo-zichuan-2023"
        and "区教体局" in r.departments
    ]
    assert sorted((i.task_ref, i.due_on, i.days_before) for i in zichuan.items) == sorted(
        (r.task_ref, r.instance_due, r.days_before) for r in nominal
    )
    text = render_text(messages)
    assert (
        f"2025-10-09 周四 09:00  区教体局（淄博市淄川区）牵头提醒，{len(nominal)} 个节点"
        "（原定 2025-10-02，遇休息日顺延）：\n  淄川区推进乡村教育振兴工作方案\n"
    ) in text
    assert "    · （二）《实施教育强镇筑基行动》 2025-12-31到期，提前90天\n" in text


def test_one_entry_per_department_kind_and_moment_holding_every_milestone(seeded: Session) -> None:
    start, end = dt.date(2025, 1, 1), dt.date(2025, 12, 31)
    messages = preview_messages(session=seeded, start=start, end=end, policy=POLICY, tz=SHANGHAI)
    keys = Counter((m.send_at, m.region, m.department, m.kind) for m in messages)
    assert max(keys.values()) == 1
    assert all(
        m.send_at.tzinfo is SHANGHAI and m.send_at.time() in (dt.time(8), dt.time(9)) for m in messages
    )
    assert all(m.send_at.weekday() < 5 or m.send_at.date() in WORKING_WEEKENDS_2025 for m in messages)
    # every (reminder, recipient department) of the year is in exactly one message, nothing more
    planned = plan_reminders(session=seeded, start=start, end=end, policy=POLICY)
    landing = Counter(
        (r.task_ref, r.plan_key, r.instance_due, r.days_before, r.kind)
        for r in planned
        for _ in r.department_ids
        if r.send_on <= dt.date(2025, 12, 24)  # late-December ones may move into 2026
    )
    shown = Counter(
        (i.task_ref, i.plan_key, i.due_on, i.days_before, m.kind)
        for m in messages
        for i in m.items
        if i.nominal_on <= dt.date(2025, 12, 24)
    )
    assert shown == landing


WORKING_WEEKENDS_2025 = {  # 调休: Saturdays and Sundays offices work in 2025
    dt.date(2025, 1, 26),
    dt.date(2025, 2, 8),
    dt.date(2025, 4, 27),
    dt.date(2025, 9, 28),
    dt.date(2025, 10, 11),
}


def test_the_outbox_queues_the_same_moment_the_preview_shows(seeded: Session) -> None:
    department = resolve_department(session=seeded, name="区教体局", region="淄博市淄川区")
    joined = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    issued = create_invite(
        session=seeded, department=department, role=ContactRole.contact, now=joined, ttl=dt.timedelta(days=7)
    )
    contact = redeem_invite(
        session=seeded, token=issued.token, telegram_user_id=4242, language="zh_CN", now=joined
    )
    nominal_day = dt.datetime(2025, 10, 2, 9, 0, tzinfo=SHANGHAI)
    plan_outbox(
        session=seeded, now=nominal_day, policy=POLICY, tz=SHANGHAI, catch_up_days=0, stale_lookback_days=0
    )
    queued = seeded.exec(select(Notification).where(Notification.contact_id == contact.id)).all()
    assert queued
    assert {row.due_at.astimezone(SHANGHAI) for row in queued} == {AFTER_THE_HOLIDAY}


def test_cli_prints_send_times_and_json_gives_the_same(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed"]) == 0
    capsys.readouterr()
    assert main(["reminders", "--from", "2025-09-28", "--days", "14"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("2025-09-28 至 2025-10-11 实际发出的提醒（Asia/Shanghai 时间；遇法定节假日")
    assert "2025-10-02" not in text.replace("原定 2025-10-02", "")

    assert main(["reminders", "--from", "2025-09-28", "--days", "14", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["from"], data["to"], data["timezone"]) == ("2025-09-28", "2025-10-11", "Asia/Shanghai")
    first = data["messages"][0]
    assert list(first) == ["send_at", "department", "region", "kind", "milestones"]
    assert first["send_at"] == "2025-10-09T09:00:00+08:00"
    assert {"plan_key", "task_ref", "due_on"} <= set(first["milestones"][0])
    items_listed = sum(line.startswith("    · ") for line in text.splitlines())
    assert sum(len(m["milestones"]) for m in data["messages"]) == items_listed


def test_a_quiet_window_says_so(seeded: Session) -> None:
    messages = preview_messages(
        session=seeded, start=dt.date(2031, 3, 1), end=dt.date(2031, 3, 2), policy=POLICY, tz=SHANGHAI
    )
    assert render_text(messages) == "这段时间没有要发送的提醒。"
