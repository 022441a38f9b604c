"""Every kind of outbox row, rendered at send time in each language, and split to Telegram's limit between items."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.core.message import Message
from bot.core.notices import RENDERERS, message_for
from bot.core.vocabulary import DINGTALK, TELEGRAM
from bot.telegram.render import TELEGRAM_LIMIT, parts, utf16_length
from duban.services.outbox import enqueue
from duban.services.progress import decide_closeout, record_report, undo_report
from models import Contact, ContactRole, Milestone, MilestoneStatus, Notification, Plan, ReportStatus, Task
from scheduler.delivery import NothingToSay
from scheduler.digest_job import plan_digests
from scheduler.escalation import tell_coordinators_blocked
from tests.scheduler.conftest import SHANGHAI, local, shown
from tests.zones import DEFAULT_TZ

NOW = local("2026-01-06", 10)  # a Tuesday


def _milestones(session: Session, plan_key: str = "zibo-zichuan-2023") -> list[Milestone]:
    return list(
        session.exec(
            select(Milestone).join(Task).join(Plan).where(Plan.key == plan_key).order_by(Milestone.id)
        ).all()
    )


def _row(
    session: Session, contact: Contact, kind: str, payload: dict[str, Any], milestone: Milestone | None = None
) -> Notification:
    row = enqueue(
        session=session,
        key=f"test:{kind}:{contact.id}",
        kind=kind,
        contact=contact,
        payload=payload,
        due_at=NOW,
        milestone_id=milestone.id if milestone else None,
        instance_due_on=milestone.due_on if milestone else None,
        tz=SHANGHAI,
    )
    assert row is not None
    session.commit()
    return row


def _speaker(join: Any, seeded: Session, language: str, role: ContactRole = ContactRole.contact) -> Contact:
    contact: Contact = join("区教体局", 1001 if role == ContactRole.contact else 2002, role)
    contact.language = language
    seeded.add(contact)
    seeded.commit()
    return contact


EXPECTED = {
    # the milestone fell due on 2025-12-31, six days before NOW (a reminder before it: see the latest-report test)
    ("reminder", "zh_CN"): [
        "<b>⏰ 督办提醒</b>",
        "1. （一） ",
        "到期，已逾期 6 天",
        "请直接回复本消息汇报进度",
    ],
    ("reminder", "en"): [
        "<b>⏰ Work-plan reminder (督办提醒)</b>",
        "1. （一） ",
        "6 days overdue",
        "Reply to this message",
    ],
    ("co_notice", "zh_CN"): ["<b>📌 配合事项提示</b>", "请及时向牵头部门报送材料"],
    ("co_notice", "en"): [
        "<b>📌 For cooperating departments</b>",
        "please send your input to the lead department",
    ],
    ("rechase", "zh_CN"): ["<b>🔁 再次提醒（尚未签收）</b>", "1. （一） "],
    ("rechase", "en"): ["<b>🔁 Second reminder: not yet acknowledged</b>"],
    # no leader has joined, so no 催办 is claimed (test_notice_claims.py checks each claim against the rows)
    ("overdue", "zh_CN"): ["<b>⚠️ 以下时间节点已逾期</b>", "已逾期 6 天", "请使用 /report 汇报进度。"],
    ("overdue", "en"): [
        "<b>⚠️ Overdue milestones</b>",
        "6 days overdue",
        "Please report progress with /report.",
    ],
    ("tongbao", "zh_CN"): ["<b>通报：逾期 30 天以上的时间节点</b>", "<b>区教体局</b>", "· 附件-1 "],
    ("tongbao", "en"): ["<b>通报: milestones overdue 30 days or more</b>", "<b>区教体局</b>"],
    ("legacy", "zh_CN"): ["原文 &lt;照发&gt;"],
    ("legacy", "en"): ["原文 &lt;照发&gt;"],
}


@pytest.mark.parametrize("kind,language", sorted(EXPECTED))
def test_each_kind_reads_right_in_each_language(seeded: Session, join: Any, kind: str, language: str) -> None:
    contact = _speaker(join, seeded, language)
    first = _milestones(seeded)[0]
    # the 通报 names a milestone overdue 30 days or more when it is sent
    lagging = next(
        m for m in _milestones(seeded) if m.recurrence == "none" and (NOW.date() - m.due_on).days >= 30
    )
    payloads = {
        "reminder": {"days": 30, "late_since": None},
        "co_notice": {"days": 30, "late_since": None},
        "rechase": {"of": None, "days": 30},
        "overdue": {"items": [{"m": first.id, "due": first.due_on.isoformat(), "days": 6, "urge": False}]},
        "tongbao": {"plan_id": lagging.task.plan_id, "departments": {"区教体局": [lagging.id]}},
        "legacy": {"legacy_text": "<b>原文</b> &lt;照发&gt;"},
    }
    with_milestone = kind in ("reminder", "co_notice", "rechase")
    row = _row(seeded, contact, kind, payloads[kind], first if with_milestone else None)
    text = shown(seeded, row)
    for expected in EXPECTED[(kind, language)]:
        assert expected in text, (expected, text)


def test_notices_written_by_the_services_read_right(seeded: Session, join: Any) -> None:
    contact = join("区教体局", 1001)
    coordinator = join("区教体局", 2002, ContactRole.coordinator)
    lead = join("区教体局", 3003, ContactRole.lead)
    milestone = _milestones(seeded)[1]
    outcome = record_report(
        session=seeded,
        contact=contact,
        milestone_id=milestone.id or 0,
        status=ReportStatus.done,
        percent=100,
        note="已完成\x00验收",  # the NUL never reaches the notice: it is made from the stored report (issue 11 #4)
        now=NOW,
        tz=DEFAULT_TZ,
    )
    [request] = [seeded.get(Notification, i) for i in outcome.notices]
    assert request is not None and request.contact_id == coordinator.id
    assert shown(seeded, request).startswith(
        "<b>销号申请 1：区教体局报告 （二） 实施教育强镇筑基行动 已完成。</b>\n备注：已完成验收"
    )
    decision = decide_closeout(
        session=seeded,
        coordinator=coordinator,
        closeout_id=1,
        approve=False,
        reason="缺<佐证>",
        now=NOW,
        tz=DEFAULT_TZ,
    )
    [told] = [seeded.get(Notification, i) for i in decision.notices]
    assert told is not None and told.contact_id == contact.id and told.department_id == contact.department_id
    assert shown(seeded, told) == "<b>您对 （二） 实施教育强镇筑基行动 的销号申请未获批准：缺&lt;佐证&gt;</b>"

    contact.active = False  # as the dispatcher marks a contact who blocked the bot
    seeded.add(contact)
    tell_coordinators_blocked(seeded, contact, NOW, DEFAULT_TZ)
    seeded.commit()
    [blocked] = seeded.exec(select(Notification).where(Notification.kind == "blocked")).all()
    assert shown(seeded, blocked).startswith("<b>—（区教体局）已屏蔽机器人，将不再收到提醒。")

    plan_digests(session=seeded, now=NOW, tz=SHANGHAI)
    digest = seeded.exec(
        select(Notification).where(Notification.kind == "digest", Notification.contact_id == lead.id)
    ).one()
    assert shown(seeded, digest).startswith("<b>每周简报（2025-12-30 至 2026-01-06）</b>")
    chart = seeded.exec(select(Notification).where(Notification.kind == "digest_chart")).one()
    assert (message_for(seeded, chart, tz=SHANGHAI, words=TELEGRAM).image or b"").startswith(b"\x89PNG")


def _visible(message: Message) -> str:
    """What the reader reads: the links' targets (the commands they send back) aside."""
    lines = [message.title, message.footer or "", *(a.label for a in message.actions)]
    for section in message.sections:
        lines += [section.heading or "", *section.lines]
    return "\n".join(lines)


def test_every_notice_teaches_the_commands_of_its_readers_channel(seeded: Session, join: Any) -> None:
    """DingTalk people type words (任务, 汇报 N …, 同意 N), Telegram people /commands and replies."""
    contact = join("区教体局", 1001)
    coordinator = join("区教体局", 2002, ContactRole.coordinator)
    join("区教体局", 3003, ContactRole.lead)
    # long overdue one-off milestones: the overdue notice and the 通报 name only what is overdue when they go out
    first, second = [
        m for m in _milestones(seeded) if m.recurrence == "none" and (NOW.date() - m.due_on).days >= 30
    ][:2]
    payloads = {
        "reminder": {"days": 30, "late_since": None},
        "co_notice": {"days": 30, "late_since": None},
        "rechase": {"of": None, "days": 30},
        "overdue": {
            "items": [
                {
                    "m": first.id,
                    "due": first.due_on.isoformat(),
                    "days": (NOW.date() - first.due_on).days,
                    "urge": True,
                }
            ]
        },
        "tongbao": {"plan_id": first.task.plan_id, "departments": {"区教体局": [first.id]}},
    }
    for kind, payload in payloads.items():
        _row(seeded, contact, kind, payload, first if kind in ("reminder", "co_notice", "rechase") else None)
    outcome = record_report(
        session=seeded,
        contact=contact,
        milestone_id=second.id or 0,
        status=ReportStatus.done,
        percent=100,
        note="已完成",
        now=NOW,
        tz=SHANGHAI,
    )
    # the request is read before it is decided: a decided request's notice has nothing left to ask
    [asking] = seeded.exec(select(Notification).where(Notification.kind == "closeout_request")).all()
    asked = {
        ("closeout_request", words.channel): _visible(message_for(seeded, asking, tz=SHANGHAI, words=words))
        for words in (TELEGRAM, DINGTALK)
    }
    decide_closeout(
        session=seeded,
        coordinator=coordinator,
        closeout_id=1,
        approve=False,
        reason="缺佐证",
        now=NOW,
        tz=SHANGHAI,
    )
    contact.active = False  # what the dispatcher does to a contact who blocked the bot
    seeded.add(contact)
    tell_coordinators_blocked(seeded, contact, NOW, SHANGHAI)
    plan_digests(session=seeded, now=NOW, tz=SHANGHAI)
    seeded.commit()
    rows = seeded.exec(select(Notification).where(Notification.kind != "digest_chart")).all()
    assert {row.kind for row in rows} == {
        *payloads,
        "closeout_request",
        "closeout_decided",
        "blocked",
        "digest",
    }

    on = asked | {
        (row.kind, words.channel): _visible(message_for(seeded, row, tz=SHANGHAI, words=words))
        for row in rows
        if row.kind != "closeout_request"
        for words in (TELEGRAM, DINGTALK)
    }

    slash = re.compile(r"(?<![\w/:.<])/[A-Za-z]+")
    assert [key for key, text in on.items() if key[1] == "dingtalk" and slash.search(text)] == []
    assert "请使用 /report 汇报进度。" in on["overdue", "telegram"]
    assert "汇报进度：发送“汇报”、“任务”列表中的编号和进度" in on["overdue", "dingtalk"]
    assert "请直接回复本消息汇报进度" in on["reminder", "telegram"]  # a reply reports on Telegram
    assert (
        "请点击下方“汇报进度”，再发送进度" in on["reminder", "dingtalk"]
    )  # DingTalk's robot sees no replies
    request = outcome.closeout
    assert request is not None
    assert (
        f"批准请发 /approve {request.id}，驳回请发 /reject {request.id} 理由。"
        in on["closeout_request", "telegram"]
    )
    assert (
        f"批准请发 同意 {request.id}，驳回请发 驳回 {request.id} 理由。" in on["closeout_request", "dingtalk"]
    )


def test_a_reminder_shows_the_latest_report_and_after_an_undo_the_one_before(
    seeded: Session, join: Any
) -> None:
    contact = join("区教体局", 1001)
    first = next(m for m in _milestones(seeded) if m.due_on > NOW.date() and m.recurrence == "none")
    row = _row(seeded, contact, "reminder", {"days": 30, "late_since": None}, first)
    assert f"{first.due_on}到期，还有 {(first.due_on - NOW.date()).days} 天 · 尚未汇报" in shown(seeded, row)
    reports = [
        record_report(
            session=seeded,
            contact=contact,
            milestone_id=first.id or 0,
            status=status,
            percent=percent,
            note="",
            now=NOW - dt.timedelta(days=days),
            tz=DEFAULT_TZ,
        ).report
        for days, status, percent in ((3, ReportStatus.on_track, 40), (1, ReportStatus.at_risk, 55))
    ]
    assert "最近汇报 2026-01-05：存在风险 55%" in shown(seeded, row)
    undo_report(session=seeded, contact=contact, report_id=reports[1].id or 0, now=NOW - dt.timedelta(days=1))
    assert "最近汇报 2026-01-03：正常推进 40%" in shown(seeded, row)


def test_every_kind_that_is_queued_has_a_view() -> None:
    queued = {
        "reminder",
        "co_notice",
        "rechase",
        "overdue",
        "tongbao",
        "blocked",
        "closeout_request",
        "closeout_decided",
        "digest",
        "digest_chart",
    }
    assert queued <= set(RENDERERS)


def test_a_long_overdue_bundle_arrives_in_parts_cut_between_items(seeded: Session, join: Any) -> None:
    contact = join("区教体局", 1001)
    later = local("2028-03-06")  # every dated milestone of the seed plans is overdue by then
    milestones = [
        m
        for key in (
            "zibo-zichuan-2023",
            "anqiu-2023",
            "pengshui-2023",
            "jinan-changqing-2023",
            "liaocheng-gaoxin-2023",
        )
        for m in _milestones(seeded, key)
        if m.recurrence == "none"
    ]
    items = [
        {"m": m.id, "due": m.due_on.isoformat(), "days": (later.date() - m.due_on).days, "urge": True}
        for m in milestones[:120]
    ]
    row = enqueue(
        session=seeded,
        key="test:overdue:long",
        kind="overdue",
        contact=contact,
        payload={"items": items},
        due_at=later,
        tz=SHANGHAI,
    )
    assert row is not None
    seeded.commit()
    message = message_for(seeded, row, tz=SHANGHAI, words=TELEGRAM)
    assert sum(len(line) for section in message.sections for line in section.lines) > TELEGRAM_LIMIT
    pieces = parts(message)
    assert len(pieces) >= 2
    assert all(utf16_length(piece.html) <= TELEGRAM_LIMIT for piece in pieces)
    lines = [line for piece in pieces for line in piece.html.split("\n") if line.startswith("· ")]
    assert len(lines) == len({(m["m"]) for m in items})  # every item once, none cut in two
    # nobody of the departments' leadership was told (no rung of theirs is recorded): no line says so
    assert all(line.endswith("天") and "催办" not in line for line in lines)


def test_a_line_longer_than_a_whole_message_is_cut_outside_entities() -> None:
    from bot.core.message import Message, Section

    line = (
        "&<>" * 3000 + "𠀀" * 2000
    )  # escaped entities and characters outside the BMP (two UTF-16 units each)
    pieces = parts(Message(title="长", sections=(Section(lines=(line,)),)))
    assert all(utf16_length(piece.html) <= TELEGRAM_LIMIT for piece in pieces)
    joined = "".join(piece.html for piece in pieces).removeprefix("<b>长</b>")
    assert joined.replace("\n", "") == "&amp;&lt;&gt;" * 3000 + "𠀀" * 2000
    assert all(not piece.html.rstrip().endswith(("&amp", "&lt", "&gt", "&")) for piece in pieces)


def test_reminder_actions_are_per_item_and_for_the_whole_message(seeded: Session, join: Any) -> None:
    contact = join("教育科", 1001, region=None)
    monthly = next(m for m in _milestones(seeded, "pengshui-2023") if m.recurrence == "monthly")
    dated = _milestones(seeded)[0]
    ids = []
    for n, milestone in enumerate((dated, monthly)):
        row = enqueue(
            session=seeded,
            key=f"r{n}",
            kind="reminder",
            contact=contact,
            payload={"days": 7},
            due_at=NOW,
            milestone_id=milestone.id,
            instance_due_on=dt.date(2026, 1, 25),
            tz=SHANGHAI,
        )
        assert row is not None
        ids.append(row.id)
    for row_id in ids:
        row = seeded.get(Notification, row_id)
        assert row is not None
        row.bundle_id = ids[0]
        seeded.add(row)
    seeded.commit()
    head = seeded.get(Notification, ids[0])
    assert head is not None
    commands = [a.command for a in message_for(seeded, head, tz=SHANGHAI, words=TELEGRAM).actions]
    labels = [a.label for a in message_for(seeded, head, tz=SHANGHAI, words=TELEGRAM).actions]
    assert commands[0] == f"/ackall {ids[0]}" and labels[0] == "全部签收"
    assert set(commands[1:-3]) == {f"/rep {ids[0]}", f"/rep {ids[1]}", f"/nc {ids[1]}"}
    assert commands[-3:] == [f"/snz {ids[0]} 1", f"/snz {ids[0]} 3", f"/snz {ids[0]} 7"]
    assert all(len(c.encode()) <= 64 for c in commands)


@pytest.mark.parametrize("kind", ["reminder", "overdue"])
def test_a_row_queued_before_its_milestone_was_withdrawn_says_nothing_of_it(
    seeded: Session, join: Any, kind: str
) -> None:
    contact = _speaker(join, seeded, "zh_CN")
    gone, kept = _milestones(seeded)[:2]
    payload: dict[str, Any] = (
        {"days": 7}
        if kind == "reminder"
        else {
            "items": [
                {"m": m.id, "due": m.due_on.isoformat(), "days": 6, "urge": False} for m in (gone, kept)
            ]
        }
    )
    rows = [_row(seeded, contact, kind, payload, gone)]
    if kind == "reminder":
        second = enqueue(
            session=seeded,
            key="test:reminder:second",
            kind="reminder",
            contact=contact,
            payload={"days": 7},
            due_at=NOW,
            milestone_id=kept.id,
            instance_due_on=kept.due_on,
            tz=SHANGHAI,
        )
        assert second is not None and rows[0].id is not None
        second.bundle_id = rows[0].bundle_id = rows[0].id
        seeded.add_all([second, rows[0]])
        seeded.commit()
        rows.append(second)
    gone_task, kept_task = (seeded.get(Task, m.task_id) for m in (gone, kept))
    assert gone_task is not None and kept_task is not None
    assert f"{gone_task.ref} {gone_task.title}" in shown(seeded, rows[0])

    gone.status = MilestoneStatus.withdrawn
    seeded.add(gone)
    seeded.commit()
    text = shown(seeded, rows[0])
    assert f"{gone_task.ref} {gone_task.title}" not in text
    assert f"{kept_task.ref} {kept_task.title}" in text

    kept.status = MilestoneStatus.withdrawn
    seeded.add(kept)
    seeded.commit()
    with pytest.raises(NothingToSay):
        message_for(seeded, rows[0], tz=SHANGHAI, words=TELEGRAM)
