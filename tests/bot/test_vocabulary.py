"""Each channel's words (bot/core/vocabulary.py): a text shown on DingTalk teaches DingTalk's words, one shown on
Telegram its /commands, from the same view."""

from __future__ import annotations

import datetime as dt
import inspect
import re
from zoneinfo import ZoneInfo

import pytest

from bot.core import labels
from bot.core.commands import parse
from bot.core.vocabulary import DINGTALK, TELEGRAM, Commands
from bot.i18n import gettext_for
from bot.telegram import views
from duban.services.invites import Member
from models import CloseoutRequest, Contact, ContactRole, Task

SLASH = re.compile(r"(?<![\w/:.<])/[A-Za-z]+")
# the command core's name where it differs from Telegram's
CORE_NAME = {"task": "tasks", "snooze": "pause"}
REASONS = re.findall(r'^\s+"(\w+)": _\(', inspect.getsource(views.invalid_input), re.M)


def test_every_dingtalk_word_is_read_as_the_command_it_stands_for() -> None:
    assert DINGTALK.words.keys() == TELEGRAM.words.keys()
    for name, word in DINGTALK.words.items():
        assert parse(f"{word} 2")[0] == CORE_NAME.get(name, name), word
        assert parse(TELEGRAM[name])[0] == CORE_NAME.get(name, name), name  # the core takes /commands too


def texts(_: views.Gettext, words: Commands) -> dict[str, str]:
    """Every view that names a command, rendered in `words`."""
    task = Task(plan_id=1, ref="（一）", section="body", title="实施强镇筑基", text="")
    member = Member(
        Contact(id=7, department_id=1, role=ContactRole.contact), "区教体局", "淄博市淄川区", None
    )
    shown = {
        "welcome": views.welcome(_, "区教体局", ContactRole.lead, words),
        "unknown": views.unknown_command(_, words),
        "tasks": views.tasks_header(_, words),
        "contacts": views.member_entries(_, [member], words, ZoneInfo("Asia/Shanghai"))[0],
        "closeout": views.closeout_requested(_, CloseoutRequest(id=3), task, "区科技局", "", words),  # type: ignore[call-arg]
        "how to report": words.how_to_report(_),
        "how to answer": words.how_to_answer(_, views.report_button(_)),
    }
    shown |= {f"refusal {reason}": views.invalid_input(_, reason, words) for reason in REASONS}
    return shown


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_a_view_shown_on_dingtalk_teaches_no_telegram_command(language: str) -> None:
    shown = texts(gettext_for(language), DINGTALK)
    assert {"usage_task", "usage_approve", "reply_to_bundle"} <= set(REASONS)  # every refusal is read
    taught = {
        name: text
        for name, text in shown.items()
        if SLASH.search(text) and name.removeprefix("refusal ") not in views.TELEGRAM_ONLY_REASONS
    }
    assert taught == {}
    assert "发送 帮助 查看可用功能" in shown["welcome"] or language == "en"


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_the_same_views_on_telegram_still_teach_its_commands(language: str) -> None:
    shown = texts(gettext_for(language), TELEGRAM)
    for name, command in [
        ("welcome", "/help"),
        ("unknown", "/help"),
        ("tasks", "/task"),
        ("contacts", "/revoke"),
        ("closeout", "/approve 3"),
        ("how to report", "/report"),
        ("refusal usage_task", "/task 2"),
        ("refusal usage_approve", "/approve 3"),
        ("refusal usage_snooze", "/snooze"),
        ("refusal usage_revoke", "/revoke 12"),
        ("refusal usage_invite", "/invite"),
    ]:
        assert command in shown[name], (name, shown[name])


def test_a_leader_is_welcomed_as_the_leader_not_as_a_tasks_lead_department() -> None:
    _ = gettext_for("zh_CN")
    assert views.welcome(_, "区教体局", ContactRole.lead, TELEGRAM) == (
        "欢迎！您现在是区教体局的分管领导。发送 /help 查看可用功能。"
    )
    assert labels.role_label(_, "lead") == "牵头"  # a task's lead department keeps its word
    assert {labels.contact_role_label(_, role) for role in ContactRole} == {"联络员", "督办人员", "分管领导"}


def test_the_dates_a_view_shows_are_the_configured_zones() -> None:
    """An invitation made at 07:00 in Shanghai expires at 07:00 seven days on: that day, not UTC's day before."""
    from duban.services.invites import IssuedInvite

    made = dt.datetime(2025, 6, 1, 23, 0, tzinfo=dt.UTC)  # 07:00 on 2 June in Shanghai
    issued = IssuedInvite(
        token="abc", contact=Contact(department_id=1), expires_at=made + dt.timedelta(days=7)
    )
    shown = views.invite_created(
        gettext_for("zh_CN"), issued, "duban_bot", "区教体局", ZoneInfo("Asia/Shanghai")
    )
    assert "2025-06-09" in shown
