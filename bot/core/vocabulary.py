"""What a person types on each channel for the commands a text teaches: one small table per channel.

Telegram takes /commands from its menu; on DingTalk people type Chinese words (bot/core/commands.py reads them,
WORDS). A view or notice that names a command asks the reader's channel's table, and the adapter that shows the
text chooses the table: the Telegram handlers and channel take TELEGRAM, the command core and the DingTalk channel
take DINGTALK. So a DingTalk text never teaches a Telegram command, and the two command paths, until they become
one core, differ here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

Gettext = Callable[[str], str]


@dataclass(frozen=True)
class Commands:
    """One channel's words, keyed by Telegram's command name ("task" is one task, "snooze" the overdue pause)."""

    channel: str
    words: Mapping[str, str]
    # whether a reply to a reminder reports on it: Telegram tells replies apart, DingTalk's robot does not
    replies: bool

    def __getitem__(self, command: str) -> str:
        return self.words[command]

    def how_to_report(self, _: Gettext) -> str:
        """A sentence on how to report progress outside a reminder."""
        if self.replies:
            return _("Please report progress with /report.")
        return _(
            "To report progress, send 汇报, the task number from 任务 and your progress, e.g. “汇报 2 完成60%，已开工”."
        )

    def how_to_answer(self, _: Gettext, report_label: str) -> str:
        """The footer of a reminder of one item: how its reader answers it."""
        if self.replies:
            return _("Reply to this message with your progress, e.g. “完成60%，已开工”.")
        return _("Tap “{report}” below, then send your progress, e.g. “完成60%，已开工”.").format(
            report=report_label
        )


TELEGRAM = Commands(
    channel="telegram",
    words={
        name: f"/{name}"
        for name in (
            "help",
            "tasks",
            "task",
            "report",
            "find",
            "status",
            "overdue",
            "silent",
            "dept",
            "digest",
            "web",
            "pending",
            "approve",
            "reject",
            "invite",
            "snooze",
            "contacts",
            "revoke",
        )
    },
    replies=True,
)

DINGTALK = Commands(
    channel="dingtalk",
    words={
        "help": "帮助",
        "tasks": "任务",
        "task": "任务",  # 任务 N: one task in full
        "report": "汇报",
        "find": "查找",
        "status": "状态",
        "overdue": "逾期",
        "silent": "未回复",
        "dept": "部门",
        "digest": "周报",
        "web": "网页",
        "pending": "待销号",
        "approve": "同意",
        "reject": "驳回",
        "invite": "邀请",
        "snooze": "暂停",  # 暂停 N 天数 理由: the coordinator's pause of the overdue ladder
        "contacts": "联系人",
        "revoke": "停用",
    },
    replies=False,
)

CHANNELS = {table.channel: table for table in (TELEGRAM, DINGTALK)}
