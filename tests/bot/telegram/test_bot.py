"""The bot as users see it: joining, tasks, reporting, close-out, coordinators' questions, bad input."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from duban.services.invites import create_invite, redeem_invite, resolve_department
from duban.services.progress import record_report
from duban.services.tasks import line_by_number
from models import (
    AuditEntry,
    Contact,
    ContactRole,
    Department,
    Milestone,
    MilestoneStatus,
    Notification,
    ProgressReport,
    ReportStatus,
)
from scheduler.dispatcher import MAX_ATTEMPTS
from tests.bot.conftest import NOW, FakeUser, Harness
from tests.zones import DEFAULT_TZ

CONTACT = FakeUser(1001)
COORDINATOR = FakeUser(2002)
WORKDAY = dt.datetime(2025, 6, 3, 2, 0, tzinfo=dt.UTC)  # Tuesday 10:00 in Shanghai (2025-06-02 is 端午)
STRANGER = FakeUser(3003)
ENGLISH = FakeUser(4004, language_code="en")


async def test_a_stranger_gets_a_polite_explanation_and_nothing_else(harness: Harness) -> None:
    for text in ("/tasks", "/start", "你好", "/status"):
        answers = await harness.say(STRANGER, text)
        assert answers == ["您好！这里是督办工作方案提醒机器人。您还没有加入：请打开教育局发给您的邀请链接。"]
    assert harness.rows(ProgressReport) == []


async def test_an_invitation_works_once(harness: Harness) -> None:
    token = harness.invite_token("区教体局")
    assert await harness.say(CONTACT, f"/start {token}") == [
        "欢迎！您现在是区教体局的联络员。发送 /help 查看可用功能。"
    ]
    assert await harness.say(STRANGER, f"/start {token}") == [
        "邀请链接无效：可能已过期或已被使用。请联系教育局重新获取。"
    ]
    assert harness.rows(Contact, Contact.telegram_user_id == STRANGER.id) == []
    [menu] = [params for endpoint, params in harness.request.calls if endpoint == "setMyCommands"]
    assert menu["scope"] == {"type": "chat", "chat_id": CONTACT.id}
    assert [c["command"] for c in menu["commands"]] == ["tasks", "task", "report", "cancel", "help", "find"]


async def test_an_expired_invitation_is_refused(harness: Harness) -> None:
    token = harness.invite_token("区教体局")
    harness.set_now(harness.clock_value[0] + dt.timedelta(days=8))
    assert await harness.say(CONTACT, f"/start {token}") == [
        "邀请链接无效：可能已过期或已被使用。请联系教育局重新获取。"
    ]


async def test_tasks_lists_lead_tasks_first_then_co_nearest_due_first(harness: Harness) -> None:
    harness.join(CONTACT, "区科技局")
    answers = await harness.say(CONTACT, "/tasks")
    assert len(answers) == 1
    lines = answers[0].splitlines()
    assert lines[0] == "<b>未完成的时间节点</b>（发送 /task 编号 查看详情）"
    assert lines[1].startswith("1. [牵头] 附件-34 ")
    assert all("[配合]" in line for line in lines[3:] if line[:1].isdigit())


async def test_task_shows_text_departments_milestones_and_history(harness: Harness) -> None:
    harness.join(CONTACT, "区科技局")
    await harness.say(CONTACT, "/tasks")
    answer = (await harness.say(CONTACT, "/task 1"))[0]
    assert "附件-34" in answer and "牵头：区教体局、区科技局" in answer
    assert "<b>时间节点</b>" in answer and "<b>汇报记录</b>" in answer and "（暂无）" in answer


async def test_task_with_a_bad_number_says_how_to_use_it(harness: Harness) -> None:
    harness.join(CONTACT, "区科技局")
    assert await harness.say(CONTACT, "/task abc") == ["请提供 /tasks 中的编号，例如 /task 2"]
    await harness.say(CONTACT, "/tasks")
    assert await harness.say(CONTACT, "/task 999") == [
        "编号 999 不在您看到过的任务列表中。请发送 /tasks 查看您的未完成任务及其编号。"
    ]


async def test_find_searches_only_what_the_user_may_see(harness: Harness) -> None:
    harness.join(CONTACT, "区科技局")
    answer = (await harness.say(CONTACT, "/find 名师"))[0]
    assert "（七） 实施城乡教育协同发展行动" in answer
    assert "安丘" not in answer and "长清" not in answer


async def test_replying_to_a_reminder_records_the_report_and_confirms_it(harness: Harness) -> None:
    contact = harness.join(CONTACT, "区教体局")
    milestone_id = harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（二）", telegram_message_id=777)

    answers = await harness.say(CONTACT, "已完成60%，<b>已开工</b>", reply_to=777)

    reports = harness.rows(ProgressReport)
    assert [(r.milestone_id, r.status, r.percent) for r in reports] == [(milestone_id, "on_track", 60)]
    assert answers == [
        "已为 （二） 实施教育强镇筑基行动 保存：\n节点：2025-12-31到期\n状态：正常推进\n进度：60%\n备注：&lt;b&gt;已开工&lt;/b&gt;\n识别有误？请在 10 分钟内点击“撤销”。"
    ]
    assert [a.action for a in harness.rows(AuditEntry)][-1] == "report"


async def test_a_percent_out_of_range_changes_nothing(harness: Harness) -> None:
    contact = harness.join(CONTACT, "区教体局")
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（二）", telegram_message_id=777)
    assert await harness.say(CONTACT, "完成150%", reply_to=777) == [
        "百分比应在 0 到 100 之间，未保存任何内容。"
    ]
    assert harness.rows(ProgressReport) == []


async def test_a_text_over_2000_characters_changes_nothing(harness: Harness) -> None:
    contact = harness.join(CONTACT, "区教体局")
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（二）", telegram_message_id=777)
    answers = await harness.say(CONTACT, "进" * 2001, reply_to=777)
    assert answers == ["消息太长（超过 2000 字），请精简后再发；未保存任何内容。"]
    assert harness.rows(ProgressReport) == []


async def test_a_reply_to_something_else_is_explained(harness: Harness) -> None:
    harness.join(CONTACT, "区教体局")
    assert await harness.say(CONTACT, "60%", reply_to=5) == [
        "无法判断这条消息对应哪项任务。请回复提醒消息，或使用 /report。"
    ]


async def test_another_departments_reminder_cannot_be_answered(harness: Harness) -> None:
    owner = harness.join(CONTACT, "区教体局")
    harness.join(STRANGER, "区科技局")
    harness.reminder_sent_to(owner, "zibo-zichuan-2023", "（二）", telegram_message_id=777)
    # STRANGER replies to a message id that belongs to another chat: no mapping, nothing stored
    assert await harness.say(STRANGER, "60%", reply_to=777) == [
        "无法判断这条消息对应哪项任务。请回复提醒消息，或使用 /report。"
    ]
    assert harness.rows(ProgressReport) == []


async def test_done_on_a_lead_task_needs_a_coordinators_approval(harness: Harness) -> None:
    harness.set_now(WORKDAY)  # notices to others wait for working hours; this is a Tuesday morning
    contact = harness.join(CONTACT, "区教体局")
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    milestone_id = harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（二）", telegram_message_id=777)

    answers = await harness.say(CONTACT, "已完成", reply_to=777)
    assert "已向督办人员提交销号申请（申请编号 1）。" in answers[0]
    coordinator_messages = [p["text"] for p in harness.request.sent(COORDINATOR.id)]
    assert coordinator_messages and coordinator_messages[-1].startswith(
        "<b>销号申请 1：区教体局报告 （二） 实施教育强镇筑基行动 已完成。</b>\n备注：—\n"
    )
    assert harness.rows(Milestone, Milestone.id == milestone_id)[0].status == MilestoneStatus.open

    assert await harness.say(COORDINATOR, "/approve 1") == [
        "申请 1（（二） 实施教育强镇筑基行动，2025-12-31到期）已批准，该节点已销号。"
    ]
    assert harness.rows(Milestone, Milestone.id == milestone_id)[0].status == MilestoneStatus.done
    assert (
        harness.request.sent(CONTACT.id)[-1]["text"]
        == "<b>您对 （二） 实施教育强镇筑基行动 的销号申请已批准。谢谢！</b>"
    )
    assert await harness.say(COORDINATOR, "/approve 1") == ["该销号申请已处理过。"]
    assert [a.action for a in harness.rows(AuditEntry)][-3:] == ["report", "closeout_request", "approve"]


async def test_a_rejection_needs_a_reason_and_tells_the_contact(harness: Harness) -> None:
    harness.set_now(WORKDAY)
    contact = harness.join(CONTACT, "区教体局")
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（二）", telegram_message_id=777)
    await harness.say(CONTACT, "已完成", reply_to=777)
    assert await harness.say(COORDINATOR, "/reject 1") == ["请说明理由：/reject 编号 理由"]
    assert await harness.say(COORDINATOR, "/reject 1 缺少<佐证>") == [
        "申请 1（（二） 实施教育强镇筑基行动，2025-12-31到期）已驳回，将通知联络员。"
    ]
    assert harness.request.sent(CONTACT.id)[-1]["text"].endswith("未获批准：缺少&lt;佐证&gt;</b>")


async def test_a_contact_cannot_approve(harness: Harness) -> None:
    harness.join(CONTACT, "区教体局")
    assert await harness.say(CONTACT, "/approve 1") == ["抱歉，您无权使用此功能。"]


async def test_report_flow_with_buttons(harness: Harness) -> None:
    harness.join(CONTACT, "区科技局")
    assert await harness.say(CONTACT, "/report") == ["您要汇报哪个时间节点？"]
    first_task = harness.buttons()[0]
    assert first_task.startswith("rp:m:")
    await harness.press(CONTACT, first_task)
    assert "rp:s:at_risk" in harness.buttons()
    await harness.press(CONTACT, "rp:s:at_risk")
    await harness.press(CONTACT, "rp:p:40")
    answers = await harness.say(CONTACT, "资金未到位")
    assert answers[0].endswith(
        "状态：存在风险\n进度：40%\n备注：资金未到位\n识别有误？请在 10 分钟内点击“撤销”。"
    )
    assert [(r.status, r.percent, r.note) for r in harness.rows(ProgressReport)] == [
        ("at_risk", 40, "资金未到位")
    ]


async def test_report_flow_can_be_cancelled_at_any_step(harness: Harness) -> None:
    harness.join(CONTACT, "区科技局")
    await harness.say(CONTACT, "/report")
    await harness.press(CONTACT, harness.buttons()[0])
    assert await harness.press(CONTACT, "rp:x") == ["已取消，未保存任何内容。"]
    assert harness.rows(ProgressReport) == []


async def test_a_forged_button_is_refused_and_changes_nothing(harness: Harness) -> None:
    harness.join(CONTACT, "区科技局")
    await harness.say(CONTACT, "/report")
    other_departments_milestone = harness.rows(Milestone)[0].id
    answers = await harness.press(CONTACT, f"rp:m:{other_departments_milestone}")
    assert answers == ["此按钮已失效，未做任何更改。"]
    assert await harness.press(CONTACT, "zz:bogus") == ["此按钮已失效，未做任何更改。"]
    assert harness.rows(ProgressReport) == []


async def test_coordinator_status_overdue_and_dept(harness: Harness) -> None:
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    harness.set_now(dt.datetime(2026, 1, 5, 2, 0, tzinfo=dt.UTC))
    status = (await harness.say(COORDINATOR, "/status"))[0]
    assert "<b>进度（截至 2026-01-05）</b>" in status and "淄川区推进乡村教育振兴工作方案" in status
    assert "安丘" not in status  # another county's plan
    overdue = (await harness.say(COORDINATOR, "/overdue"))[0]
    assert "天逾期" not in overdue and "逾期 5 天" in overdue
    dept = (await harness.say(COORDINATOR, "/dept 区科技局"))[0]
    assert "附件-34" in dept
    assert await harness.say(COORDINATOR, "/dept 不存在") == ["没有找到相应内容，请检查编号或名称。"]


async def test_long_answers_are_paged_with_buttons_under_the_limit(harness: Harness, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("bot.telegram.pages.PAGE_BUDGET", 1500)  # the seed county's list fits one real page
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    harness.set_now(dt.datetime(2028, 1, 5, 2, 0, tzinfo=dt.UTC))
    first = (await harness.say(COORDINATOR, "/overdue"))[0]
    assert first.startswith("<b>逾期的时间节点</b>") and len(first) <= 1500
    assert harness.buttons() == ["noop", "pg:overdue:1:"]
    second = (await harness.press(COORDINATOR, "pg:overdue:1:"))[-1]
    assert second != first and "逾期" in second and len(second) < 4096
    assert harness.buttons()[:2] == ["pg:overdue:0:", "noop"]
    assert await harness.press(COORDINATOR, "pg:overdue:9:") == ["此按钮已失效，未做任何更改。"]


async def test_english_users_get_english(harness: Harness) -> None:
    assert await harness.say(ENGLISH, "/tasks") == [
        "Hello! This is duban, the work-plan reminder bot. You have not joined yet: please open the invitation "
        "link your education bureau sent you."
    ]


async def test_unknown_commands_edits_and_groups(harness: Harness) -> None:
    harness.join(CONTACT, "区教体局")
    assert await harness.say(CONTACT, "/frobnicate") == ["抱歉，没有这个命令。发送 /help 查看可用功能。"]
    assert await harness.edit(CONTACT, "/tasks") == []
    assert await harness.say(CONTACT, "大家好", chat_type="group", chat_id=-100) == []


async def test_help_lists_the_roles_commands(harness: Harness) -> None:
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    answer = (await harness.say(COORDINATOR, "/help"))[0]
    for command in ("/status", "/overdue", "/silent", "/dept", "/digest", "/approve", "/reject", "/invite"):
        assert command in answer


async def test_department_pages_carry_the_department_id_and_refuse_another_county(  # type: ignore[no-untyped-def]
    harness: Harness, monkeypatch
) -> None:
    monkeypatch.setattr("bot.telegram.pages.PAGE_BUDGET", 600)
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    first = (await harness.say(COORDINATOR, "/dept 区教育局"))[0]  # an alias the plan prints
    assert first.startswith("<b>区教体局</b>")
    next_button = harness.buttons()[-1]
    view, page, department_id = next_button.split(":")[1:4]
    assert (view, page) == ("dept", "1") and department_id.isdigit()
    second = (await harness.press(COORDINATOR, next_button))[-1]
    assert second != first and "<b>区教体局</b>" not in second
    changqing = harness.rows(Department, Department.name == "区教育体育局")[0]
    assert await harness.press(COORDINATOR, f"pg:dept:0:{changqing.id}") == ["此按钮已失效，未做任何更改。"]


async def test_a_long_task_is_paged(harness: Harness, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("bot.telegram.pages.PAGE_BUDGET", 120)
    harness.join(CONTACT, "区科技局")
    await harness.say(CONTACT, "/tasks")
    await harness.say(CONTACT, "/task 1")
    assert harness.buttons() == ["noop", "pg:task:1:1"]
    assert "附件-34" not in (await harness.press(CONTACT, "pg:task:1:1"))[-1]


async def test_a_task_number_keeps_meaning_what_the_contact_saw_after_a_closeout(harness: Harness) -> None:
    contact = harness.join(CONTACT, "区教体局")
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
    listing = (await harness.say(CONTACT, "/tasks"))[0]
    seen = {
        int(line.split(".")[0]): line.split("] ")[1].split(" ")[0]
        for line in listing.splitlines()
        if line[:1].isdigit()
    }
    with Session(harness.engine) as session:
        first = line_by_number(session=session, contact=contact, number=1, today=NOW.date())
        record_report(
            session=session,
            contact=contact,
            milestone_id=first.milestone_id,
            status=ReportStatus.done,
            percent=100,
            note="",
            now=NOW,
            tz=DEFAULT_TZ,
        )
    assert await harness.say(COORDINATOR, "/approve 1") == [
        f"申请 1（{seen[1]} {first.task_title}，{first.due_on}到期）已批准，该节点已销号。"
    ]

    second = (await harness.say(CONTACT, "/task 2"))[0]
    assert second.startswith(f"<b>{seen[2]} ")
    [refused] = await harness.say(CONTACT, "/task 1")
    assert refused.startswith(f"编号 1 是 {seen[1]} ") and refused.endswith(
        "该节点已销号。请发送 /tasks 查看您的未完成任务。"
    )
    relisted = (await harness.say(CONTACT, "/tasks"))[0]
    assert not relisted.splitlines()[1].startswith("1. ") and "\n2. " in relisted


async def test_a_closeout_request_for_a_coordinator_on_dingtalk_waits_for_the_router_and_blocks_nobody(
    harness: Harness,
) -> None:
    """The Telegram handler sends notices at once only to Telegram people; a DingTalk coordinator's waits for
    the dispatcher, whose router sends it on DingTalk (it once tried Telegram and marked them as blocked)."""
    harness.set_now(WORKDAY)
    contact = harness.join(CONTACT, "区教体局")
    with Session(harness.engine) as session:
        department = resolve_department(session=session, name="区教体局")
        issued = create_invite(
            session=session,
            department=department,
            role=ContactRole.coordinator,
            now=WORKDAY,
            ttl=dt.timedelta(days=7),
        )
        redeem_invite(
            session=session, token=issued.token, dingtalk_user_id="staff-7", language="zh_CN", now=WORKDAY
        )
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（二）", telegram_message_id=777)

    answers = await harness.say(CONTACT, "已完成", reply_to=777)

    assert "已向督办人员提交销号申请（申请编号 1）。" in answers[0]
    [coordinator] = harness.rows(Contact, Contact.dingtalk_user_id == "staff-7")
    assert coordinator.active
    [request] = harness.rows(Notification, Notification.kind == "closeout_request")
    assert request.sent_at is None and request.attempts < MAX_ATTEMPTS  # owed still, to the dispatcher
