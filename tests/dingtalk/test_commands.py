"""The platform-neutral command core as a DingTalk user meets it: join with a code, Chinese words or /commands."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.core.commands import ROLES, WORDS, Clock, CommandCore, Sender, parse
from bot.core.message import Message
from bot.dingtalk.render import render
from duban.config import Settings
from duban.seeding import load_seed
from duban.services import invites as invites_service
from duban.services.invites import create_invite, redeem_invite, resolve_department
from duban.services.outbox import enqueue
from duban.services.web_login import check_login_link
from models import (
    AuditEntry,
    CloseoutRequest,
    Contact,
    ContactRole,
    Milestone,
    MilestoneStatus,
    Notification,
    ProgressReport,
    Task,
)

TZ = ZoneInfo("Asia/Shanghai")  # the settings' default

NOW = dt.datetime(2025, 6, 2, 2, 0, tzinfo=dt.UTC)
REMINDER_ACTIONS = {
    "ack",
    "ackall",
    "snz",
    "nochange",
    "rep",
}  # offered on a reminder, not in the help
WANG = Sender("dingtalk", "staff-001")
LI = Sender("dingtalk", "staff-002")  # coordinator
STRANGER = Sender("dingtalk", "staff-999")


def text_of(messages: list[Message]) -> str:
    """What the user reads, as plain lines: title, then each section's heading and lines."""
    lines: list[str] = []
    for message in messages:
        lines.append(message.title)
        for section in message.sections:
            lines += ([section.heading] if section.heading else []) + list(section.lines)
    return "\n".join(lines)


@pytest.fixture
def core(engine: Engine) -> Iterator[CommandCore]:
    with Session(engine) as session:
        load_seed(session=session)
    clock = [NOW]
    yield CommandCore(session=lambda: Session(engine), clock=Clock(Settings(), lambda: clock[0]))


def invite(
    engine: Engine, department: str, role: ContactRole = ContactRole.contact, region: str = "淄博市淄川区"
) -> str:
    with Session(engine) as session:
        dept = resolve_department(session=session, name=department, region=region)
        return create_invite(
            session=session, department=dept, role=role, now=NOW, ttl=dt.timedelta(days=7)
        ).token


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("任务", ("tasks", "")),
        ("/tasks", ("tasks", "")),
        ("任务3", ("tasks", "3")),
        ("/task 3", ("tasks", "3")),
        ("汇报2 完成60%，已开工", ("report", "2 完成60%，已开工")),
        ("逾期", ("overdue", "")),
        ("同意 4", ("approve", "4")),
        ("驳回 4 缺少佐证", ("reject", "4 缺少佐证")),
        ("联系人", ("contacts", "")),
        ("停用12", ("revoke", "12")),
        ("暂停 45 7 等待资金到位", ("pause", "45 7 等待资金到位")),
        ("/snooze #45 7 等待资金到位", ("pause", "#45 7 等待资金到位")),  # Telegram's name for the pause
        ("延后 42 3", ("snz", "42 3")),
        ("完成60%", (None, "完成60%")),
    ],
)
def test_chinese_words_and_slash_commands_are_one_language(
    typed: str, expected: tuple[str | None, str]
) -> None:
    assert parse(typed) == expected


def test_a_stranger_learns_nothing_but_how_to_join(core: CommandCore, engine: Engine) -> None:
    for typed in ("任务", "/status", "逾期", "同意 1", "hello"):
        assert text_of(core.handle(STRANGER, typed)) == (
            "您好！这里是督办提醒机器人。您尚未加入：请把教育局发给您的邀请码发送给我。"
        )
    with Session(engine) as session:
        assert session.exec(select(AuditEntry)).all() == []


def test_joining_with_the_code_binds_this_dingtalk_user_once(core: CommandCore, engine: Engine) -> None:
    token = invite(engine, "区科技局")

    welcome = text_of(core.handle(WANG, token))

    assert welcome.startswith("欢迎！您现在是区科技局的联络员。")
    assert "发送 帮助 查看可用功能" in welcome  # DingTalk's word, not Telegram's /help
    assert "\n任务 — " in welcome and "\n汇报 — " in welcome
    assert "/" not in welcome
    with Session(engine) as session:
        contact = session.exec(select(Contact).where(Contact.dingtalk_user_id == "staff-001")).one()
        assert contact.telegram_user_id is None and contact.joined_at is not None
    # the code works once: another person sending it is refused
    assert text_of(core.handle(STRANGER, f"加入 {token}")) == (
        "此邀请码无效：可能已过期或已被使用。请联系教育局重新获取。"
    )


def test_tasks_and_one_task_in_full(core: CommandCore, engine: Engine) -> None:
    core.handle(WANG, invite(engine, "区科技局"))
    listing = text_of(core.handle(WANG, "任务"))
    assert listing.splitlines()[0] == "未完成的时间节点（发送 任务 编号 查看详情）"
    assert listing.splitlines()[1].startswith("1. [牵头] 附件-34 ")
    detail = text_of(core.handle(WANG, "任务1"))
    assert "附件-34" in detail and "牵头：区教体局、区科技局" in detail and "汇报记录" in detail


def test_a_progress_report_is_recorded_and_confirmed(core: CommandCore, engine: Engine) -> None:
    core.handle(WANG, invite(engine, "区科技局"))
    core.handle(WANG, "任务")
    answer = text_of(core.handle(WANG, "汇报 1 完成60%，已开工"))
    assert answer.splitlines()[1:] == [
        "节点：2025-12-31到期",
        "状态：正常推进",
        "进度：60%",
        "备注：已开工",
        "识别有误？请在 10 分钟内点击“撤销”。",
    ]
    with Session(engine) as session:
        [report] = session.exec(select(ProgressReport)).all()
        assert (report.percent, report.note) == (60, "已开工")


@pytest.mark.parametrize(
    ("typed", "answer"),
    [
        ("汇报", "请给出“任务”列表中的编号，例如“汇报 2 完成60%”。"),
        (
            "汇报 99 完成60%",
            "编号 99 不在您看到过的任务列表中。请发送 任务 查看您的未完成任务及其编号。",
        ),
        ("汇报 1 完成160%", "百分比应在 0 到 100 之间，未保存任何内容。"),
    ],
)
def test_a_bad_report_changes_nothing_and_says_why(
    core: CommandCore, engine: Engine, typed: str, answer: str
) -> None:
    core.handle(WANG, invite(engine, "区科技局"))
    core.handle(WANG, "任务")
    assert text_of(core.handle(WANG, typed)) == answer
    with Session(engine) as session:
        assert session.exec(select(ProgressReport)).all() == []


def test_coordinators_read_overdue_and_status_contacts_may_not(core: CommandCore, engine: Engine) -> None:
    core.handle(WANG, invite(engine, "区科技局"))
    core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator))
    assert text_of(core.handle(WANG, "逾期")) == "抱歉，您无权使用此功能。"
    assert text_of(core.handle(LI, "任务")) == "抱歉，您无权使用此功能。"
    assert "淄川区推进乡村教育振兴工作方案" in text_of(core.handle(LI, "状态"))
    assert text_of(core.handle(LI, "/overdue")).startswith("逾期")


def test_a_closeout_is_approved_on_dingtalk_and_the_requester_is_told_through_the_outbox(
    core: CommandCore, engine: Engine
) -> None:
    core.handle(WANG, invite(engine, "区教体局"))
    core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator))
    number = next(
        line.split(".")[0]
        for line in text_of(core.handle(WANG, "任务")).splitlines()
        if "（二）" in line and "[牵头]" in line
    )
    answer = text_of(core.handle(WANG, f"汇报 {number} 已完成"))
    assert "已向督办人员提交销号申请（申请编号 1）。" in answer

    assert text_of(core.handle(WANG, "同意 1")) == "抱歉，您无权使用此功能。"
    assert text_of(core.handle(LI, "同意 1")) == (
        "申请 1（（二） 实施教育强镇筑基行动，2025-12-31到期）已批准，该节点已销号。"
    )
    assert text_of(core.handle(LI, "同意 1")) == "该销号申请已处理过。"
    with Session(engine) as session:
        closeout = session.exec(select(CloseoutRequest)).one()
        assert session.get(Milestone, closeout.milestone_id).status == MilestoneStatus.done  # type: ignore[union-attr]
        keys = sorted(n.idempotency_key for n in session.exec(select(Notification)).all())
        assert keys[0].startswith("closeout:1:approved:c") and keys[1].startswith("closeout:1:requested:c")


def reminder_for(engine: Engine, staff_id: str, task_ref: str) -> int:
    """A reminder the dispatcher sent this DingTalk user about a task; returns its number."""
    with Session(engine) as session:
        contact = session.exec(select(Contact).where(Contact.dingtalk_user_id == staff_id)).one()
        milestone = session.exec(select(Milestone).join(Task).where(Task.ref == task_ref)).first()
        assert milestone is not None
        row = enqueue(
            session=session,
            key=f"test:{staff_id}:{task_ref}",
            kind="reminder",
            contact=contact,
            due_at=NOW,
            milestone_id=milestone.id,
            tz=TZ,
        )
        assert row is not None and row.id is not None
        session.commit()
        return row.id


def test_a_reminders_actions_work_by_typing_or_tapping_their_link(core: CommandCore, engine: Engine) -> None:
    core.handle(WANG, invite(engine, "区科技局"))
    core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator))
    number = reminder_for(engine, "staff-001", "附件-34")

    assert text_of(core.handle(WANG, f"/ack {number}")) == "已签收，谢谢。"
    assert text_of(core.handle(WANG, f"延后 {number} 3")) == "将在 3 天后再次提醒您。"
    assert text_of(core.handle(WANG, f"延后 {number} 5")) == "可以延后 1、3 或 7 天。"
    assert text_of(core.handle(LI, f"收到 {number}")) == "抱歉，您无权使用此功能。"  # not their reminder
    assert text_of(core.handle(WANG, "收到 abc")) == "此按钮已失效，未做任何更改。"
    answer = text_of(core.handle(WANG, f"/nochange {number}"))
    assert "进度：—" in answer and "备注：无变化" in answer
    with Session(engine) as session:
        reminder = session.get(Notification, number)
        assert reminder is not None and reminder.acknowledged_at is not None


def test_a_picture_after_a_report_is_its_evidence(core: CommandCore, engine: Engine) -> None:
    core.handle(WANG, invite(engine, "区科技局"))
    assert text_of(core.handle_file(WANG, "dingtalk:code-1")) == (
        "如需上传佐证材料，请先发送进度（汇报 编号 …），再发送图片或文件。"
    )
    core.handle(WANG, "任务")
    core.handle(WANG, "汇报 1 完成60%")
    assert text_of(core.handle_file(WANG, "dingtalk:code-1")).startswith("已为 附件-34 ")
    assert text_of(core.handle_file(STRANGER, "dingtalk:code-2")).startswith("您好！这里是督办提醒机器人。")
    with Session(engine) as session:
        [report] = session.exec(select(ProgressReport)).all()
        assert report.evidence_file_id == "dingtalk:code-1"


def test_a_coordinator_invites_a_colleague_who_joins_with_the_code(core: CommandCore, engine: Engine) -> None:
    core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator))
    assert text_of(core.handle(LI, "邀请 区科技局")) == "用法：邀请 部门 contact|coordinator|lead"
    answer = text_of(core.handle(LI, "邀请 区科技局 contact")).splitlines()
    assert answer[0] == "区科技局的邀请码（2025-06-09 前有效，仅可使用一次）："
    assert answer[2] == "请对方在钉钉中把此邀请码发送给机器人。"
    assert text_of(core.handle(WANG, answer[1])).startswith("欢迎！您现在是区科技局的联络员。")


@pytest.mark.parametrize(
    "issued_before",
    [None, "7NRZiW-Fx_q2LmA9bC8dE7fG6hI5jK4l"],  # a new code; a token_urlsafe one issued before, with - and _
)
def test_the_code_a_coordinator_is_sent_on_dingtalk_joins_when_copied_and_pasted_back(
    core: CommandCore, engine: Engine, monkeypatch: pytest.MonkeyPatch, issued_before: str | None
) -> None:
    core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator))
    if issued_before is not None:
        monkeypatch.setattr(invites_service, "new_invite_code", lambda: issued_before)
    [part] = render(core.handle(LI, "邀请 区科技局 contact")[0])
    # the markdown DingTalk gets: the title block, then the code on a line of its own
    title, _blank, code_line, *_rest = part.msg_param["text"].split("\n")
    assert title == "#### 区科技局的邀请码（2025\\-06\\-09 前有效，仅可使用一次）："
    copied = code_line.strip()
    if issued_before is None:  # letters and digits: the line is the code, shown and copied alike
        assert copied.isascii() and copied.isalnum() and len(copied) == 32
    else:  # the escaping DingTalk shows or copies: the backslashes are dropped on the way back
        assert copied == r"7NRZiW\-Fx\_q2LmA9bC8dE7fG6hI5jK4l"

    assert text_of(core.handle(WANG, copied)).startswith("欢迎！您现在是区科技局的联络员。")


def test_a_coordinator_reads_one_department(core: CommandCore, engine: Engine) -> None:
    core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator))
    assert "附件-34" in text_of(core.handle(LI, "部门 区科技局"))
    assert "区科技局" in text_of(core.handle(LI, "状态 区科技局"))
    assert text_of(core.handle(LI, "部门 不存在")) == "没有找到相应内容，请检查编号或名称。"


def test_help_lists_every_command_a_role_may_use_and_the_readme_names_them(
    core: CommandCore, engine: Engine
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    core.handle(WANG, invite(engine, "区科技局"))
    core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator))
    for sender, role in ((WANG, ContactRole.contact), (LI, ContactRole.coordinator)):
        shown = text_of(core.handle(sender, "帮助"))
        allowed = [
            c for c, roles in ROLES.items() if (not roles or role in roles) and c not in REMINDER_ACTIONS
        ]
        for command in allowed:  # each offered by a Chinese word the parser reads as that command
            words = [w for w, c in WORDS.items() if c == command and not w.isascii()]
            assert any(f"\n{word} — " in shown for word in words), command
        assert "/" not in shown  # no Telegram command taught on DingTalk
    for command in set(WORDS.values()):
        chinese = [w for w, c in WORDS.items() if c == command and not w.isascii()]
        assert any(f"`{word}" in readme for word in chinese), command


def test_someone_joined_takes_up_a_new_invitation_as_lead(core: CommandCore, engine: Engine) -> None:
    core.handle(WANG, invite(engine, "区科技局"))
    answer = text_of(core.handle(WANG, f"加入 {invite(engine, '区教体局', ContactRole.lead)}"))
    # the person's role in the county (分管领导), not a task's lead department (牵头)
    assert answer.startswith("欢迎！您现在是区教体局的分管领导。发送 帮助 查看可用功能。")
    assert "\n逾期 — " in answer and "\n任务 — " not in answer
    with Session(engine) as session:
        [contact] = session.exec(select(Contact).where(Contact.dingtalk_user_id == "staff-001")).all()
        assert contact.role == ContactRole.lead


@pytest.mark.parametrize(
    "typed",
    [
        "汇报 1 " + "进" * 2001,
        "汇报 1 完成60%\x00",
        "任务 ²",
        "任务 99999999999999999999",
        "同意 -1",
        "/" * 5000,
    ],
)
def test_hostile_text_is_refused_or_saved_cleanly_never_raised(
    core: CommandCore, engine: Engine, typed: str
) -> None:
    core.handle(WANG, invite(engine, "区科技局"))
    answer = text_of(core.handle(WANG, typed))
    assert answer and "Traceback" not in answer
    with Session(engine) as session:
        notes = [r.note for r in session.exec(select(ProgressReport)).all()]
    assert all("\x00" not in n and len(n) <= 2000 for n in notes)
    if typed.startswith("汇报 1 进"):
        assert answer == "消息太长（超过 2000 字），请精简后再发；未保存任何内容。" and notes == []


def test_a_coordinator_gets_a_single_use_dashboard_link_and_a_contact_does_not(
    core: CommandCore, engine: Engine
) -> None:
    core.handle(WANG, invite(engine, "区科技局"))
    core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator))
    assert text_of(core.handle(WANG, "网页")) == "抱歉，您无权使用此功能。"
    answer = text_of(core.handle(LI, "网页")).splitlines()
    assert answer[0] == "您的督办网页端登录链接（仅限本人，只能使用一次，10 分钟内有效）："
    prefix = "http://127.0.0.1:8080/login/"
    assert answer[1].startswith(prefix)
    with Session(engine) as session:
        login = check_login_link(session=session, token=answer[1].removeprefix(prefix), now=NOW)
        coordinator = session.exec(select(Contact).where(Contact.dingtalk_user_id == LI.user_id)).one()
        assert login.contact_id == coordinator.id


# ---- a coordinator's people and pauses: /contacts, /revoke and /snooze of the Telegram bot ---------------------

ZHOU = Sender("dingtalk", "staff-003")  # a coordinator of another county (安丘市)


def contact_id(engine: Engine, sender: Sender) -> int:
    with Session(engine) as session:
        contact = session.exec(select(Contact).where(Contact.dingtalk_user_id == sender.user_id)).one()
        assert contact.id is not None
        return contact.id


def test_a_coordinator_lists_the_county_and_ends_a_contacts_access(core: CommandCore, engine: Engine) -> None:
    core.handle(WANG, invite(engine, "区科技局"))
    core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator))
    invite(engine, "区财政局")  # invited, not joined yet
    wang, li = contact_id(engine, WANG), contact_id(engine, LI)

    listing = text_of(core.handle(LI, "联系人")).splitlines()

    assert listing[0] == "有使用权限的人员（用 停用 编号 撤销权限）"
    # joined on DingTalk is joined: no "尚未加入" beside them
    assert f"{wang}. 区科技局 · 联络员 · 未填姓名 · 已通过钉钉加入（账号 …-001）" in listing
    assert f"{li}. 区教体局 · 督办人员 · 未填姓名 · 已通过钉钉加入（账号 …-002）" in listing
    assert any(
        line.endswith("区财政局 · 联络员 · 未填姓名 · 已邀请，尚未加入（邀请有效至 2025-06-09）")
        for line in listing
    )
    assert text_of(core.handle(LI, f"停用 {wang}")) == (
        f"已撤销 {wang}. 区科技局 · 联络员 的权限；未使用的邀请一并作废。"
    )
    # the next message finds a stranger; the list no longer shows them
    assert text_of(core.handle(WANG, "任务")).startswith("您好！这里是督办提醒机器人。您尚未加入")
    assert f"{wang}. " not in text_of(core.handle(LI, "/contacts"))
    assert text_of(core.handle(LI, f"/revoke {wang}")) == "此人已无使用权限。"
    assert text_of(core.handle(LI, f"停用 {li}")) == "不能撤销自己的权限，请联系其他督办人员。"
    with Session(engine) as session:
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == "deactivate")).all()
        assert entry.contact_id == li and entry.detail == f"contact={wang} role=contact"


@pytest.mark.parametrize(
    ("who", "typed", "answer"),
    [
        ("WANG", "停用 {li}", "抱歉，您无权使用此功能。"),  # a contact
        ("WANG", "联系人", "抱歉，您无权使用此功能。"),
        ("ZHOU", "停用 {wang}", "没有找到相应内容，请检查编号或名称。"),  # another county's coordinator
        ("LI", "停用", "请给出“联系人”列表中的编号，例如“停用 12”。"),
        ("LI", "停用 王某", "请给出“联系人”列表中的编号，例如“停用 12”。"),
        ("LI", "停用 {wang} {li}", "请给出“联系人”列表中的编号，例如“停用 12”。"),
        ("LI", "停用 99999", "没有找到相应内容，请检查编号或名称。"),
    ],
)
def test_a_refused_revoke_says_why_and_nobody_loses_access(
    core: CommandCore, engine: Engine, who: str, typed: str, answer: str
) -> None:
    core.handle(WANG, invite(engine, "区科技局"))
    core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator))
    core.handle(ZHOU, invite(engine, "市教体局", ContactRole.coordinator, region="安丘市"))
    sender = {"WANG": WANG, "LI": LI, "ZHOU": ZHOU}[who]
    typed = typed.format(wang=contact_id(engine, WANG), li=contact_id(engine, LI))

    assert text_of(core.handle(sender, typed)) == answer
    with Session(engine) as session:
        assert all(c.active for c in session.exec(select(Contact)).all())
        assert session.exec(select(AuditEntry).where(AuditEntry.action == "deactivate")).all() == []
    assert "附件-34" in text_of(core.handle(WANG, "任务"))  # still a member


def test_two_people_of_one_department_are_told_apart_by_name_and_where_they_joined(
    core: CommandCore, engine: Engine
) -> None:
    core.handle(WANG, invite(engine, "区科技局"))  # no name given with the invitation
    core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator))
    with Session(engine) as session:  # a colleague of the same department, named, who joined on Telegram
        department = resolve_department(session=session, name="区科技局", region="淄博市淄川区")
        issued = create_invite(
            session=session,
            department=department,
            role=ContactRole.contact,
            now=NOW,
            ttl=dt.timedelta(days=7),
            name="李四",
        )
        redeem_invite(
            session=session, token=issued.token, telegram_user_id=987654321, language="zh_CN", now=NOW
        )
        telegram_colleague = issued.contact.id

    listing = text_of(core.handle(LI, "联系人")).splitlines()

    assert (
        f"{contact_id(engine, WANG)}. 区科技局 · 联络员 · 未填姓名 · 已通过钉钉加入（账号 …-001）" in listing
    )
    assert f"{telegram_colleague}. 区科技局 · 联络员 · 李四 · 已通过Telegram加入（账号 …4321）" in listing


def test_the_contacts_list_is_dingtalk_markdown_with_every_name_escaped(
    core: CommandCore, engine: Engine
) -> None:
    core.handle(WANG, invite(engine, "区科技局"))
    core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator))
    with Session(engine) as session:
        wang = session.get(Contact, contact_id(engine, WANG))
        assert wang is not None
        wang.name = "*王*<b>[链接](http://x)"
        session.add(wang)
        session.commit()

    [part] = render(core.handle(LI, "联系人")[0])

    assert part.msg_key == "sampleMarkdown"
    blocks = part.msg_param["text"].split("\n\n")
    assert blocks[0] == "#### 有使用权限的人员（用 停用 编号 撤销权限）"
    assert (
        rf"{contact_id(engine, WANG)}\. 区科技局 · 联络员 · \*王\*&lt;b\>\[链接\]\(http://x\)"
        r" · 已通过钉钉加入（账号 …\-001）"
    ) in blocks


def overdue_number(core: CommandCore, task_ref: str) -> int:
    """The milestone number 逾期 shows a coordinator ([#N]) for a task."""
    line = next(line for line in text_of(core.handle(LI, "逾期")).splitlines() if f"] {task_ref} " in line)
    return int(line.split("]")[0].removeprefix("[#"))


def test_a_coordinator_pauses_an_overdue_escalation_with_a_reason(core: CommandCore, engine: Engine) -> None:
    core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator))
    number = overdue_number(core, "附件-1")

    answer = text_of(core.handle(LI, f"暂停 {number} 7 等待资金到位"))

    assert answer == "附件-1 乡村全环境立德树人行动 的逾期催办已暂停至 2025-06-09。"
    # Telegram's form works too, and the latest pause counts
    assert text_of(core.handle(LI, f"/snooze #{number} 14 等待资金到位")).endswith("已暂停至 2025-06-16。")
    with Session(engine) as session:
        milestone = session.get(Milestone, number)
        assert milestone is not None
        assert milestone.escalation_paused_until == dt.date(2025, 6, 16)
        assert milestone.escalation_pause_reason == "等待资金到位"
        actions = session.exec(select(AuditEntry.action).where(AuditEntry.milestone_id == number)).all()
        assert actions == ["pause_escalation", "pause_escalation"]


USAGE_PAUSE = "用法：暂停 编号 天数 理由，例如“暂停 12 7 等待资金到位”（编号见“逾期”，天数 1 至 90）。"


@pytest.mark.parametrize(
    ("who", "typed", "answer"),
    [
        ("WANG", "暂停 {n} 7 等待资金到位", "抱歉，您无权使用此功能。"),  # a contact
        ("ZHOU", "暂停 {n} 7 等待资金到位", "没有找到相应内容，请检查编号或名称。"),  # another county
        ("LI", "暂停", USAGE_PAUSE),
        ("LI", "暂停 {n}", USAGE_PAUSE),
        ("LI", "暂停 {n} 7", USAGE_PAUSE),  # a reason is kept with every pause
        ("LI", "暂停 {n} 0 等待资金到位", USAGE_PAUSE),
        ("LI", "暂停 {n} 91 等待资金到位", USAGE_PAUSE),
        ("LI", "暂停 {n} 七 等待资金到位", USAGE_PAUSE),
        ("LI", "暂停 99999 7 等待资金到位", "没有找到相应内容，请检查编号或名称。"),
        ("LI", "暂停 {n} 7 " + "等" * 501, "理由太长（超过 500 字），请精简后再发；本次未保存。"),
    ],
)
def test_a_refused_pause_says_why_and_the_escalation_goes_on(
    core: CommandCore, engine: Engine, who: str, typed: str, answer: str
) -> None:
    core.handle(WANG, invite(engine, "区科技局"))
    core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator))
    core.handle(ZHOU, invite(engine, "市教体局", ContactRole.coordinator, region="安丘市"))
    sender = {"WANG": WANG, "LI": LI, "ZHOU": ZHOU}[who]
    number = overdue_number(core, "附件-1")

    assert text_of(core.handle(sender, typed.format(n=number))) == answer
    with Session(engine) as session:
        milestone = session.get(Milestone, number)
        assert milestone is not None and milestone.escalation_paused_until is None
        assert session.exec(select(AuditEntry).where(AuditEntry.action == "pause_escalation")).all() == []


def _numbered(listing: str) -> dict[int, str]:
    """number -> the task ref a 任务 list shows under it."""
    return {
        int(line.split(".")[0]): line.split("] ")[1].split(" ")[0]
        for line in listing.splitlines()
        if line[:1].isdigit() and ". [" in line
    }


def test_a_number_means_the_milestone_the_person_saw_after_the_list_changes(
    core: CommandCore, engine: Engine
) -> None:
    """The story that put reports on the wrong milestone: 2 and 3 on the list, 1 closed out, then 汇报 2."""
    core.handle(WANG, invite(engine, "区教体局"))
    core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator))
    seen = _numbered(text_of(core.handle(WANG, "任务")))
    assert sorted(seen)[:3] == [1, 2, 3]
    core.handle(WANG, "汇报 1 已完成")
    assert text_of(core.handle(LI, "同意 1")) == (
        "申请 1（附件-1 乡村全环境立德树人行动，2023-12-31到期）已批准，该节点已销号。"
    )

    answer = text_of(core.handle(WANG, "汇报 2 完成50%"))

    assert answer.startswith(
        f"已为 {seen[2]} "
    )  # the milestone shown as 2, not the one second on the list now
    assert text_of(core.handle(WANG, "汇报 1 完成50%")).startswith(f"编号 1 是 {seen[1]} ")
    assert "该节点已销号。请发送 任务 查看您的未完成任务。" in text_of(core.handle(WANG, "任务 1"))
    relisted = _numbered(text_of(core.handle(WANG, "任务")))
    assert 1 not in relisted and {n: seen[n] for n in relisted} == relisted  # the others keep their numbers
    with Session(engine) as session:
        milestone_refs = [
            session.get(Task, session.get(Milestone, r.milestone_id).task_id).ref  # type: ignore[union-attr]
            for r in session.exec(select(ProgressReport).order_by(ProgressReport.id)).all()  # type: ignore[arg-type]
        ]
    assert milestone_refs == [seen[1], seen[2]]


def test_the_undo_link_and_the_word_take_a_report_back(core: CommandCore, engine: Engine) -> None:
    core.handle(WANG, invite(engine, "区科技局"))
    core.handle(WANG, "任务")
    [confirmation] = core.handle(WANG, "汇报 1 完成60%")
    [undo] = confirmation.actions
    assert (undo.label, undo.command) == ("↩️ 撤销", "/undo 1")
    assert (
        text_of(core.handle(WANG, undo.command)) == "已撤销这条汇报（正常推进，60%），不作保留。请重新汇报。"
    )
    core.handle(WANG, "汇报 1 完成70%")
    assert text_of(core.handle(WANG, "撤销")) == "已撤销这条汇报（正常推进，70%），不作保留。请重新汇报。"
    assert text_of(core.handle(WANG, "撤销")) == "这条汇报已超过可撤销时间，请重新汇报一次。"
    with Session(engine) as session:
        assert session.exec(select(ProgressReport)).all() == []


def test_a_contact_made_coordinator_cannot_approve_what_they_asked_for(
    core: CommandCore, engine: Engine
) -> None:
    core.handle(WANG, invite(engine, "区教体局"))
    core.handle(WANG, "任务")
    assert "申请编号 1" in text_of(core.handle(WANG, "汇报 1 已完成"))
    assert text_of(core.handle(WANG, invite(engine, "区教体局", ContactRole.coordinator))).startswith(
        "欢迎！"
    )

    assert text_of(core.handle(WANG, "同意 1")) == "这条销号申请是您本人提交的，须由其他督办人员审核。"
    core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator))
    assert text_of(core.handle(LI, "同意 1")) == (
        "申请 1（附件-1 乡村全环境立德树人行动，2023-12-31到期）已批准，该节点已销号。"
    )
