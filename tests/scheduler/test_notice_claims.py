"""Every kind of notice says only what the database shows (STYLE.md rule 14; issue 26 item 2).

Each sentence that states a fact is checked against the rows that record it: 已告知分管领导 against the leader's own
rung and message, 补发 against the reason its rows prove (a day off, the reader joining late, the scheduler stopped,
or none), 通报 and overdue lines against the milestones' state when the notice goes out, 未回复部门 against the
contacts who can be reached. Every command a notice names must be one the reader's role may use. The kinds are
read from the code: a new kind of outbox row fails here until it has a test of its own.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.core.commands import ROLES, WORDS
from bot.core.message import Message
from bot.core.notices import RENDERERS, message_for
from bot.core.vocabulary import CHANNELS, TELEGRAM, Commands
from bot.telegram import views
from duban.robots import add_robot, disable_robot
from duban.sealing import Keyring
from duban.services.invites import create_invite, redeem_invite, resolve_department
from duban.services.oversight import Unanswered, UnreachedDepartment
from duban.services.progress import decide_closeout, record_report
from duban.workdays import is_working_day
from models import (
    AuditEntry,
    CloseoutRequest,
    Contact,
    ContactRole,
    Department,
    DepartmentRole,
    EscalationStep,
    Milestone,
    MilestoneStatus,
    Notification,
    Plan,
    ReportStatus,
    RobotPlatform,
    Task,
    TaskDepartment,
)
from models.people import channel_of, reachable
from scheduler.delivery import NothingToSay
from scheduler.digest_job import plan_digests
from scheduler.dispatcher import MAX_ATTEMPTS
from scheduler.escalation import EscalationPolicy, plan_escalations, plan_rechases, plan_tongbao
from scheduler.lease import DOWN, LeaseKeeper
from scheduler.outbox_planner import SEND_AT, plan_outbox
from scheduler.planner import ReminderKind
from scheduler.policy import ReminderPolicy
from tests.scheduler.conftest import SHANGHAI, local
from tests.zones import DEFAULT_TZ

ROOT = Path(__file__).resolve().parents[2]
ZICHUAN = "淄博市淄川区"
LONG_AGO = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
POLICY = ReminderPolicy()
LADDER = EscalationPolicy()
MEANT = "原定"  # every note on a reminder's lateness names its own day
LATE_WORDS = ("补发", "顺延", "停止运行", "尚未接入")  # what a note on lateness may say, any reason


# --- reading a notice as its reader does -------------------------------------------------------------------


def text_of(message: Message) -> str:
    lines = [message.title, *(line for section in message.sections for line in section.lines)]
    return "\n".join([*lines, message.footer or ""])


def words_of(session: Session, row: Notification) -> Commands:
    """The reader's channel's command words, as the dispatcher's router picks them."""
    reader = session.get(Contact, row.contact_id) if row.contact_id else None
    return CHANNELS.get(channel_of(reader) or "telegram", TELEGRAM) if reader is not None else TELEGRAM


def render(session: Session, row: Notification) -> str:
    """The notice as its reader gets it, after checking every command it names is theirs to use."""
    message = message_for(session, row, tz=SHANGHAI, words=words_of(session, row))
    reader = session.get(Contact, row.contact_id)
    assert reader is not None
    commands_allowed(message, reader)
    return text_of(message)


def commands_allowed(message: Message, reader: Contact) -> None:
    """Each command a notice names, typed (/report) or as a Chinese word in quotes (“汇报 2 …”), or carried by a
    button, must be one the reader's role may use (the roles the commands themselves check)."""
    text = text_of(message)
    named = re.findall(r"(?<![\w/])/([a-z]+)", text)
    named += [word.split()[0] for word in re.findall(r"“([^”]+)”", text) if word.split()[0] in WORDS]
    named += [action.command.split()[0].lstrip("/") for action in message.actions]
    for word in named:
        assert word in WORDS, f"{word!r} is no command ({text})"
        roles = ROLES[WORDS[word]]
        assert not roles or reader.role in roles, f"{reader.role} is told to use {word!r}: {text}"


# --- the people and the rows -------------------------------------------------------------------------------


def join_at(
    session: Session,
    department: str,
    user_id: int,
    at: dt.datetime = LONG_AGO,
    role: ContactRole = ContactRole.contact,
    plan: Plan | None = None,
    dingtalk: bool = False,
) -> Contact:
    """Someone joins through an invitation at `at`, as `duban invite` and /start make them."""
    dept = resolve_department(session=session, name=department, region=ZICHUAN)
    issued = create_invite(
        session=session, department=dept, role=role, now=at, ttl=dt.timedelta(days=7), plan=plan
    )
    if dingtalk:
        return redeem_invite(
            session=session, token=issued.token, dingtalk_user_id=f"staff{user_id}", language="zh_CN", now=at
        )
    return redeem_invite(
        session=session, token=issued.token, telegram_user_id=user_id, language="zh_CN", now=at
    )


def task_two(session: Session) -> Milestone:
    """淄川's （二） 实施教育强镇筑基行动: led by 区教体局 with three co departments, due 2025-12-31."""
    return session.exec(
        select(Milestone).join(Task).join(Plan).where(Plan.key == "zibo-zichuan-2023", Task.ref == "（二）")
    ).one()


def line_about(text: str, milestone: Milestone) -> str:
    [line] = [line for line in text.split("\n") if milestone.task.title in line]
    return line


def rows(session: Session, kind: str, contact: Contact | None = None) -> list[Notification]:
    statement = select(Notification).where(Notification.kind == kind).order_by(col(Notification.id))
    if contact is not None:
        statement = statement.where(Notification.contact_id == contact.id)
    return list(session.exec(statement).all())


# --- every kind of outbox row is tested here -----------------------------------------------------------------


def kinds_in_the_code() -> set[str]:
    """The kinds outbox rows are written with: each constant given as `kind=` to Owed, enqueue or Notification
    (or as "kind" of a row written as a dict), the planner's reminder kinds, and the kinds that have a view."""
    found = {str(kind) for kind in ReminderKind} | set(RENDERERS)
    writers = {"Owed", "enqueue", "Notification"}
    for package in ("duban", "scheduler", "bot", "web"):
        for path in (ROOT / package).rglob("*.py"):
            if "/migrations/" in path.as_posix():
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                    for keyword in node.keywords:
                        if (
                            name in writers
                            and keyword.arg == "kind"
                            and isinstance(keyword.value, ast.Constant)
                        ):
                            found.add(str(keyword.value.value))
                elif isinstance(node, ast.Dict):
                    for key, value in zip(node.keys, node.values, strict=True):
                        if (
                            isinstance(key, ast.Constant)
                            and key.value == "kind"
                            and isinstance(value, ast.Constant)
                            and isinstance(value.value, str)
                        ):
                            found.add(value.value)
    return found


def test_every_kind_of_notice_has_its_claims_tested_here() -> None:
    assert kinds_in_the_code() == set(TESTED), "a kind of notice without a test of its claims, or one gone"
    assert set(RENDERERS) == set(TESTED)  # and every one of them can be rendered


# --- reminders and co-department notices: 补发 names the reason its rows prove -------------------------------


REASONS = ("on_time", "day_off", "joined_late", "service_stopped", "no_reason_known")


def pick(session: Session, kind: str, day_off: bool) -> tuple[Milestone, int, str]:
    """A dated milestone of 淄川 with a reminder of `kind` whose day is (or is not) a day off, its days before,
    and the department told: the lead for a reminder, the first co department for a co-department notice."""
    role = DepartmentRole.lead if kind == "reminder" else DepartmentRole.co
    steps = POLICY.lead_days if kind == "reminder" else (POLICY.co_notice_days,)
    candidates = session.exec(
        select(Milestone, Plan, Department)
        .join(Task, col(Task.id) == Milestone.task_id)
        .join(Plan, col(Plan.id) == Task.plan_id)
        .join(TaskDepartment, col(TaskDepartment.task_id) == Task.id)
        .join(Department, col(Department.id) == TaskDepartment.department_id)
        .where(Plan.key == "zibo-zichuan-2023", Milestone.recurrence == "none", TaskDepartment.role == role)
        .order_by(col(Milestone.due_on), col(Milestone.id), col(TaskDepartment.position))
    ).all()
    for milestone, plan, department in candidates:
        for days in steps:
            day = milestone.due_on - dt.timedelta(days=days)
            if day >= plan.issued_on and is_working_day(day) != day_off and day.year >= 2024:
                return milestone, days, department.name
    raise AssertionError(f"no {kind} falls on a {'day off' if day_off else 'working day'}")


def later_working_day(day: dt.date, at_least: int) -> dt.date:
    later = day + dt.timedelta(days=at_least)
    while not is_working_day(later):
        later += dt.timedelta(days=1)
    return later


@pytest.mark.parametrize("kind", ["reminder", "co_notice"])
@pytest.mark.parametrize("reason", REASONS)
def test_a_late_reminder_names_the_reason_its_rows_prove(
    seeded: Session, engine: Engine, kind: str, reason: str
) -> None:
    milestone, days, department = pick(seeded, kind, day_off=reason == "day_off")
    day = milestone.due_on - dt.timedelta(days=days)
    meant = dt.datetime.combine(day, SEND_AT, tzinfo=SHANGHAI)
    planned = dt.datetime.combine(later_working_day(day, 2), dt.time(10, 5), tzinfo=SHANGHAI)
    if reason in ("on_time", "day_off"):
        contact = join_at(seeded, department, 1001)
        planned = meant + dt.timedelta(minutes=5 if reason == "on_time" else 60)
    elif reason == "joined_late":
        contact = join_at(seeded, department, 1001, at=planned - dt.timedelta(minutes=5))
    else:
        contact = join_at(seeded, department, 1001)
    if reason == "service_stopped":  # one process held the lease the day before, and died; another starts
        clock = [meant - dt.timedelta(days=1)]
        assert LeaseKeeper(engine=engine, clock=lambda: clock[0], holder="old").acquire()
        clock[0] = planned - dt.timedelta(minutes=1)
        assert LeaseKeeper(engine=engine, clock=lambda: clock[0], holder="new").acquire()
        seeded.expire_all()
    # on its day a tick plans that day only; a late tick plans the catch-up window (a start, a join, a change)
    late = planned.date() > day
    plan_outbox(
        session=seeded,
        now=planned,
        policy=POLICY,
        tz=SHANGHAI,
        catch_up_days=7 if late else 0,
        stale_lookback_days=0,
    )
    key = f"{kind}:m{milestone.id}:c{contact.id}:d{days}:{milestone.due_on.isoformat()}"
    row = seeded.exec(select(Notification).where(Notification.idempotency_key == key)).one()
    text = render(seeded, row)
    note = [line.strip() for line in text.split("\n") if MEANT in line or day.isoformat() in line]

    # the facts, from the rows
    goes_out = row.due_at.astimezone(SHANGHAI).date()
    joined_after = contact.joined_at is not None and contact.joined_at > meant
    stops = [
        (dt.datetime.fromisoformat(entry.detail), entry.at)
        for entry in seeded.exec(select(AuditEntry).where(AuditEntry.action == DOWN)).all()
    ]
    stopped_then = [(start, end) for start, end in stops if start <= meant <= end]
    if reason == "on_time":
        assert goes_out == day and note == []
    elif reason == "day_off":
        assert not is_working_day(day) and goes_out > day and not joined_after and not stopped_then
        assert note == [f"（本提醒原定 {day} 发送，当日为休息日，顺延至工作日。）"]
    elif reason == "joined_late":
        assert joined_after and not stopped_then
        assert note == [f"（补发：本提醒原定 {day} 发送，当时您尚未接入（{planned.date()} 接入）。）"]
    elif reason == "service_stopped":
        [(start, end)] = stopped_then
        assert not joined_after
        assert note == [
            f"（补发：本提醒原定 {day} 发送，系统于 {start.astimezone(SHANGHAI):%Y-%m-%d %H:%M} "
            f"至 {end.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 停止运行。）"
        ]
    else:  # sent late (a change brought it in), but no row says why: nothing is claimed
        assert goes_out > day and not joined_after and not stopped_then and is_working_day(day)
        assert note == [] and not any(word in text for word in LATE_WORDS)


def test_a_reminder_put_off_by_its_reader_says_nothing_of_lateness(seeded: Session, engine: Engine) -> None:
    """延后: the copy the reader asked for later is not 补发, whatever held the first."""
    from duban.services.reminders import snooze

    milestone, days, department = pick(seeded, "reminder", day_off=True)
    day = milestone.due_on - dt.timedelta(days=days)
    contact = join_at(seeded, department, 1001)
    plan_outbox(
        session=seeded,
        now=dt.datetime.combine(day, dt.time(10), tzinfo=SHANGHAI),
        policy=POLICY,
        tz=SHANGHAI,
        catch_up_days=0,
        stale_lookback_days=0,
    )
    [first] = [r for r in rows(seeded, "reminder", contact) if r.milestone_id == milestone.id]
    assert MEANT in render(seeded, first)  # held for the day off
    first.sent_at = first.due_at
    seeded.add(first)
    seeded.commit()
    again = snooze(
        session=seeded, contact=contact, notification_id=first.id or 0, days=3, now=first.due_at, tz=SHANGHAI
    )
    assert not any(word in render(seeded, again) for word in (MEANT, *LATE_WORDS))


def test_a_dingtalk_reader_is_not_told_to_reply_to_a_reminder(seeded: Session) -> None:
    """DingTalk has no replies: a reply there reports nothing, so the reminder says to tap 汇报进度 instead."""
    milestone, days, department = pick(seeded, "reminder", day_off=False)
    contact = join_at(seeded, department, 1001, dingtalk=True)
    day = milestone.due_on - dt.timedelta(days=days)
    now = dt.datetime.combine(day, dt.time(9, 5), tzinfo=SHANGHAI)
    plan_outbox(session=seeded, now=now, policy=POLICY, tz=SHANGHAI, catch_up_days=0, stale_lookback_days=0)
    [row] = [r for r in rows(seeded, "reminder", contact) if r.milestone_id == milestone.id]
    text = render(seeded, row)
    assert "回复本消息" not in text and "请点击下方“汇报进度”，再发送进度" in text


# --- re-chases: 尚未签收 only while nobody acknowledged -------------------------------------------------------


def test_a_rechase_names_only_what_is_still_unacknowledged(seeded: Session) -> None:
    contact = join_at(seeded, "区教体局", 1001)
    plan_outbox(session=seeded, now=local("2025-12-24", 9, 5), policy=POLICY, tz=SHANGHAI, catch_up_days=0)
    sent = rows(seeded, "reminder", contact)
    for row in sent:
        row.sent_at = local("2025-12-24", 9, 5)
        seeded.add(row)
    seeded.commit()
    assert plan_rechases(session=seeded, now=local("2025-12-26", 10), tz=SHANGHAI, policy=LADDER)
    [chase, *_] = rows(seeded, "rechase", contact)
    original = seeded.get(Notification, chase.payload["of"])
    assert original is not None and original.acknowledged_at is None
    text = render(seeded, chase)
    assert "再次提醒（尚未签收）" in text and not any(word in text for word in LATE_WORDS)

    original.acknowledged_at = local("2025-12-26", 9)  # 签收 before the re-chase went out
    seeded.add(original)
    seeded.commit()
    with pytest.raises(NothingToSay):
        message_for(seeded, chase, tz=SHANGHAI, words=words_of(seeded, chase))


# --- the overdue ladder: 已告知分管领导 only from the leader's own rung and message ------------------------------


LEADERSHIP = ("none", "joined", "blocked", "of_another_plan")
TOLD = "——催办：已同时告知本部门分管领导"
NOT_TOLD = "——未能告知本部门分管领导：无已接入的分管领导"
URGED = "——催办：请督促本部门尽快办理"


def leader_rung(session: Session, milestone: Milestone, step: int) -> list[tuple[Contact, Notification]]:
    """The leadership's rungs at `step` and their messages, from the rows."""
    found = session.exec(
        select(Contact, Notification)
        .join(EscalationStep, col(EscalationStep.contact_id) == Contact.id)
        .join(Notification, col(Notification.id) == EscalationStep.notification_id)
        .where(EscalationStep.milestone_id == milestone.id, EscalationStep.step == step)
        .where(Contact.role == ContactRole.lead)
    ).all()
    return [(contact, notice) for contact, notice in found]


@pytest.mark.parametrize("leadership", LEADERSHIP)
def test_the_overdue_notice_says_the_leadership_was_told_only_when_it_was(
    seeded: Session, leadership: str
) -> None:
    milestone = task_two(seeded)  # due 2025-12-31: 14 days overdue on 2026-01-14, the 催办 rung
    contact = join_at(seeded, "区教体局", 1001)
    coordinator = join_at(seeded, "区教体局", 2002, role=ContactRole.coordinator)
    leader = None
    if leadership != "none":
        plan = None
        if leadership == "of_another_plan":  # invited for another plan of the county: 淄川 has one more
            plan = Plan(key="zichuan-other", title="另一方案", issuer="淄川区", issued_on=dt.date(2024, 1, 1))
            plan.region = ZICHUAN
            seeded.add(plan)
            seeded.commit()
        leader = join_at(seeded, "区教体局", 3003, role=ContactRole.lead, plan=plan)
    now = local("2026-01-14", 10)
    plan_escalations(session=seeded, now=now, tz=SHANGHAI, policy=LADDER)
    step = (now.date() - milestone.due_on).days // LADDER.repeat_every_days
    if leadership == "blocked":  # the leader's message was refused: the contact blocked the bot
        assert leader is not None
        [(_, notice)] = leader_rung(seeded, milestone, step)
        notice.attempts, notice.last_error = MAX_ATTEMPTS, "Forbidden: bot was blocked by the user"
        leader.active = False
        seeded.add_all([notice, leader])
        seeded.commit()

    told = [
        n
        for c, n in leader_rung(seeded, milestone, step)
        if n.sent_at is not None or n.attempts < MAX_ATTEMPTS
    ]
    reachable_leaders = seeded.exec(
        select(Contact).where(
            Contact.department_id == contact.department_id, Contact.role == ContactRole.lead, reachable()
        )
    ).all()
    assert bool(told) == (leadership == "joined")
    [to_contact] = rows(seeded, "overdue", contact)
    [to_coordinator] = rows(seeded, "overdue", coordinator)
    for notice in (to_contact, to_coordinator):
        assert notice.payload["items"] and any(
            i["m"] == milestone.id and i["urge"] for i in notice.payload["items"]
        )
    contact_line = line_about(render(seeded, to_contact), milestone)
    coordinator_text = render(seeded, to_coordinator)
    coordinator_line = line_about(coordinator_text, milestone)
    assert "已逾期 14 天" in contact_line
    assert (TOLD in contact_line) == (TOLD in coordinator_line) == bool(told)
    assert (NOT_TOLD in coordinator_line) == (
        not told and not any(c.plan_id is None for c in reachable_leaders)
    )
    assert NOT_TOLD not in contact_line  # the contact's notice asks them to report, not to invite anyone
    assert render(seeded, to_contact).endswith("请使用 /report 汇报进度。")
    assert coordinator_text.endswith("发送 /overdue 查看全部逾期时间节点。")
    if leader is not None and leadership != "blocked":
        notices = rows(seeded, "overdue", leader)
        if leadership == "joined":
            [to_leader] = notices
            leader_text = render(seeded, to_leader)
            assert line_about(leader_text, milestone).endswith(URGED)
            assert leader_text.endswith("发送 /overdue 查看全部逾期时间节点。")
        else:  # told of the plan they were invited for only: nothing of this one
            assert notices == []


def test_an_overdue_notice_names_no_milestone_closed_out_before_it_went_out(seeded: Session) -> None:
    milestone = task_two(seeded)
    contact = join_at(seeded, "区教体局", 1001)
    plan_escalations(session=seeded, now=local("2026-01-14", 10), tz=SHANGHAI, policy=LADDER)
    [notice] = rows(seeded, "overdue", contact)
    assert milestone.task.title in render(seeded, notice)
    milestone.status, milestone.done_at = MilestoneStatus.done, local("2026-01-14", 11)
    seeded.add(milestone)
    seeded.commit()
    with contextlib.suppress(NothingToSay):  # nothing left to say is as true
        assert milestone.task.title not in render(seeded, notice)


# --- the weekly 通报: a department is named only for milestones overdue 30 days when it goes out --------------


def test_the_tongbao_names_only_milestones_still_overdue_thirty_days(seeded: Session) -> None:
    milestone = task_two(seeded)
    join_at(seeded, "区教体局", 1001)
    coordinator = join_at(seeded, "区教体局", 2002, role=ContactRole.coordinator)
    now = local("2026-02-02", 10)  # 33 days after 2025-12-31
    assert plan_tongbao(session=seeded, now=now, tz=SHANGHAI, policy=LADDER) == 1
    [notice] = rows(seeded, "tongbao", coordinator)
    text = render(seeded, notice)
    assert f"· {milestone.task.ref} {milestone.task.title}" in text
    for department, ids in notice.payload["departments"].items():
        for milestone_id in ids:
            named = seeded.get(Milestone, milestone_id)
            assert named is not None and named.status == MilestoneStatus.open
            if named.recurrence == "none":  # a dated one: overdue 30 days by its own date
                assert (now.date() - named.due_on).days >= LADDER.tongbao_after_days, department
    milestone.status, milestone.done_at = MilestoneStatus.done, now
    seeded.add(milestone)
    seeded.commit()
    with contextlib.suppress(NothingToSay):  # nothing left to say is as true
        assert f"{milestone.task.ref} {milestone.task.title}" not in render(seeded, notice)


# --- one-paragraph notices: each says what its row still proves ------------------------------------------------


def test_a_blocked_contact_is_reported_only_while_inactive(seeded: Session) -> None:
    from scheduler.escalation import tell_coordinators_blocked

    contact = join_at(seeded, "区教体局", 1001)
    coordinator = join_at(seeded, "区教体局", 2002, role=ContactRole.coordinator)
    contact.active = False  # the dispatcher's mark after a 403
    seeded.add(contact)
    tell_coordinators_blocked(seeded, contact, local("2026-01-06"), DEFAULT_TZ)
    seeded.commit()
    [notice] = rows(seeded, "blocked", coordinator)
    assert "已屏蔽机器人" in render(seeded, notice)
    contact.active = True  # joined again before the notice went out
    seeded.add(contact)
    seeded.commit()
    with pytest.raises(NothingToSay):
        message_for(seeded, notice, tz=SHANGHAI, words=words_of(seeded, notice))


def closeout(seeded: Session) -> tuple[Contact, Contact, Notification]:
    contact = join_at(seeded, "区教体局", 1001)
    coordinator = join_at(seeded, "区教体局", 2002, role=ContactRole.coordinator)
    outcome = record_report(
        session=seeded,
        contact=contact,
        milestone_id=task_two(seeded).id or 0,
        status=ReportStatus.done,
        percent=100,
        note="已完成",
        now=local("2026-01-06"),
        tz=DEFAULT_TZ,
    )
    [request] = rows(seeded, "closeout_request", coordinator)
    assert outcome.closeout is not None and request.payload == {"closeout_id": outcome.closeout.id}
    return contact, coordinator, request


def test_a_closeout_request_asks_for_a_decision_only_while_one_is_owed(seeded: Session) -> None:
    _contact, coordinator, request = closeout(seeded)
    assert "/approve 1" in render(seeded, request)
    decide_closeout(
        session=seeded,
        coordinator=coordinator,
        closeout_id=1,
        approve=True,
        reason="",
        now=local("2026-01-06", 11),
        tz=DEFAULT_TZ,
    )
    with pytest.raises(NothingToSay):  # decided before it reached this coordinator: nothing left to approve
        message_for(seeded, request, tz=SHANGHAI, words=words_of(seeded, request))


@pytest.mark.parametrize("approve", [True, False])
def test_a_closeout_decision_says_the_decision_recorded(seeded: Session, approve: bool) -> None:
    contact, coordinator, _request = closeout(seeded)
    decide_closeout(
        session=seeded,
        coordinator=coordinator,
        closeout_id=1,
        approve=approve,
        reason="" if approve else "缺少佐证",
        now=local("2026-01-06", 11),
        tz=DEFAULT_TZ,
    )
    [told] = rows(seeded, "closeout_decided", contact)
    text = render(seeded, told)
    decided = seeded.get(CloseoutRequest, told.payload["closeout_id"])
    assert decided is not None and decided.status == ("approved" if approve else "rejected")
    assert ("销号申请已批准" in text) == approve and ("未获批准：缺少佐证" in text) == (not approve)


def test_a_disabled_robot_is_reported_only_while_disabled(seeded: Session) -> None:
    coordinator = join_at(seeded, "区教体局", 2002, role=ContactRole.coordinator)
    robot = add_robot(
        session=seeded,
        platform=RobotPlatform.wecom,
        webhook_url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x",
        secret=None,
        region=ZICHUAN,
        plan=None,
        name="督办群",
        now=local("2026-01-06"),
        keyring=Keyring([Fernet.generate_key().decode()]),
    )
    disable_robot(
        session=seeded, robot=robot, reason="invalid webhook url", now=local("2026-01-06"), tz=SHANGHAI
    )
    seeded.commit()
    [notice] = rows(seeded, "robot_disabled", coordinator)
    assert "invalid webhook url" in render(seeded, notice)
    robot.active = True  # working again before the notice went out
    seeded.add(robot)
    seeded.commit()
    with pytest.raises(NothingToSay):
        message_for(seeded, notice, tz=SHANGHAI, words=words_of(seeded, notice))


# --- the digest: 未回复部门 never says all answered while a department is out of reach -------------------------


def test_the_digest_lists_departments_nobody_joined_for_and_never_says_all_answered(seeded: Session) -> None:
    join_at(seeded, "区教体局", 1001)
    lead = join_at(seeded, "区教体局", 3003, role=ContactRole.lead)
    plan_digests(session=seeded, now=local("2026-01-05", 9), tz=SHANGHAI)
    [digest] = rows(seeded, "digest", lead)
    [chart] = rows(seeded, "digest_chart", lead)
    text = render(seeded, digest)
    assert "所有部门都已回复" not in text
    assert "尚未接入的部门" in text
    unreached = text.split("尚未接入的部门", 1)[1].split("\n")[1:]
    named = [line.split(" — ")[0] for line in unreached if " — 未销号时间节点" in line]
    assert named and "区教体局" not in named
    for name in named:  # nobody a reminder can reach speaks for it
        department = resolve_department(session=seeded, name=name, region=ZICHUAN)
        assert not seeded.exec(
            select(Contact).where(
                Contact.department_id == department.id, Contact.role == ContactRole.contact, reachable()
            )
        ).all()
    chart_message = message_for(seeded, chart, tz=SHANGHAI, words=words_of(seeded, chart))
    assert (chart_message.image or b"").startswith(b"\x89PNG")
    assert render(seeded, chart).startswith(f"各牵头部门进度（截至 {chart.payload['today']}）")


def test_all_answered_is_said_only_when_no_department_is_out_of_reach() -> None:
    from bot.i18n import gettext_for

    _ = gettext_for("zh_CN")
    assert views.silent_entries(_, Unanswered(silent=[], unreached=[])) == ["所有部门都已回复最近一次提醒。"]
    out_of_reach = views.silent_entries(_, Unanswered([], [UnreachedDepartment("区委编办", 3, 2)]))
    assert not any("所有部门" in entry for entry in out_of_reach)
    assert out_of_reach[1].startswith("<b>尚未接入的部门</b>")
    assert out_of_reach[2] == "区委编办 — 未销号时间节点 3 个，其中已逾期 2 个"


# which test checks the claims of each kind of notice
TESTED: dict[str, Callable[..., Any]] = {
    "reminder": test_a_late_reminder_names_the_reason_its_rows_prove,
    "co_notice": test_a_late_reminder_names_the_reason_its_rows_prove,
    "rechase": test_a_rechase_names_only_what_is_still_unacknowledged,
    "overdue": test_the_overdue_notice_says_the_leadership_was_told_only_when_it_was,
    "tongbao": test_the_tongbao_names_only_milestones_still_overdue_thirty_days,
    "blocked": test_a_blocked_contact_is_reported_only_while_inactive,
    "closeout_request": test_a_closeout_request_asks_for_a_decision_only_while_one_is_owed,
    "closeout_decided": test_a_closeout_decision_says_the_decision_recorded,
    "digest": test_the_digest_lists_departments_nobody_joined_for_and_never_says_all_answered,
    "digest_chart": test_the_digest_lists_departments_nobody_joined_for_and_never_says_all_answered,
    "robot_disabled": test_a_disabled_robot_is_reported_only_while_disabled,
}
