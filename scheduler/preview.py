"""When reminder messages will actually go out: what `duban reminders` and `duban demo` show.

The planner says on which day a reminder is due (`plan_reminders`); the outbox sends it at 09:00 on that day,
moved past public holidays, 调休 and quiet hours (`next_allowed_moment`). This module applies the same rule and
groups the result the way a message goes out: one entry per recipient department, kind and moment, listing its
milestones. Plain values only; no Telegram, no bot/ imports.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from models import Department
from scheduler.outbox_planner import send_moment as outbox_send_moment
from scheduler.planner import PlannedReminder, ReminderKind, plan_reminders
from scheduler.policy import ReminderPolicy

# A reminder due inside a holiday goes out after it: look this far back for ones that land in the window.
LONGEST_HOLIDAY_DAYS = 14
WEEKDAYS = "一二三四五六日"
KIND_LABELS = {ReminderKind.reminder: "牵头提醒", ReminderKind.co_notice: "配合通知"}
RECURRENCE_NOTES = {"none": "", "yearly": "（每年）", "semester": "（每学期）", "monthly": "（每月）"}


@dataclass(frozen=True)
class MessageItem:
    """One milestone in a message."""

    plan_key: str
    plan_title: str
    task_ref: str
    task_title: str
    due_on: dt.date  # the instance the reminder is about
    recurrence: str
    days_before: int
    nominal_on: dt.date  # the day the policy names; the message may go out later

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan_key": self.plan_key,
            "task_ref": self.task_ref,
            "task_title": self.task_title,
            "due_on": self.due_on.isoformat(),
            "recurrence": self.recurrence,
            "days_before": self.days_before,
            "nominal_on": self.nominal_on.isoformat(),
        }


@dataclass(frozen=True)
class PreviewMessage:
    """One message to one department's contacts."""

    send_at: dt.datetime  # aware, in the county's time zone
    department: str
    region: str
    kind: ReminderKind
    items: tuple[MessageItem, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "send_at": self.send_at.isoformat(),
            "department": self.department,
            "region": self.region,
            "kind": self.kind.value,
            "milestones": [item.as_dict() for item in self.items],
        }


def send_moment(send_on: dt.date, *, tz: dt.tzinfo) -> dt.datetime:
    """When the outbox sends a reminder due on `send_on`, in local time (planned ahead, as the planner does)."""
    return outbox_send_moment(send_on, dt.datetime.combine(send_on, dt.time.min, tzinfo=tz), tz).astimezone(
        tz
    )


def send_rule(timezone: str) -> str:
    """The rule above in one line, for the heading of a listing (quiet hours: next_allowed_moment's defaults)."""
    return (
        f"{timezone} 时间；遇法定节假日、周末顺延到下一个工作日，调休上班日照常发送，夜间 22:00–8:00 不发送"
    )


def preview_messages(
    *, session: Session, start: dt.date, end: dt.date, policy: ReminderPolicy, tz: dt.tzinfo
) -> list[PreviewMessage]:
    """The messages that go out on local days start..end (inclusive), earliest first."""
    reminders = plan_reminders(
        session=session, start=start - dt.timedelta(days=LONGEST_HOLIDAY_DAYS), end=end, policy=policy
    )
    moments = {day: send_moment(day, tz=tz) for day in {r.send_on for r in reminders}}
    grouped: dict[tuple[dt.datetime, int, ReminderKind], list[PlannedReminder]] = defaultdict(list)
    for reminder in reminders:
        moment = moments[reminder.send_on]
        if not start <= moment.date() <= end:
            continue
        for department_id in reminder.department_ids:
            grouped[(moment, department_id, reminder.kind)].append(reminder)
    departments = _departments(session, {department_id for _, department_id, _ in grouped})
    messages = [
        PreviewMessage(
            send_at=moment,
            department=departments[department_id].name,
            region=departments[department_id].region,
            kind=kind,
            items=tuple(
                _item(r) for r in sorted(members, key=lambda r: (r.instance_due, r.plan_key, r.task_ref))
            ),
        )
        for (moment, department_id, kind), members in grouped.items()
    ]
    messages.sort(key=lambda m: (m.send_at, m.region, m.department, m.kind != ReminderKind.reminder))
    return messages


def _departments(session: Session, ids: set[int]) -> dict[int, Department]:
    found = session.exec(select(Department).where(col(Department.id).in_(ids))).all() if ids else []
    return {department.id or 0: department for department in found}


def _item(reminder: PlannedReminder) -> MessageItem:
    return MessageItem(
        plan_key=reminder.plan_key,
        plan_title=reminder.plan_title,
        task_ref=reminder.task_ref,
        task_title=reminder.task_title,
        due_on=reminder.instance_due,
        recurrence=reminder.recurrence,
        days_before=reminder.days_before,
        nominal_on=reminder.send_on,
    )


def render_text(messages: list[PreviewMessage]) -> str:
    """The terminal listing, in Chinese: one block per message, its milestones under their plan."""
    if not messages:
        return "这段时间没有要发送的提醒。"
    blocks = []
    for message in messages:
        sent_on = message.send_at.date()
        nominal = {item.nominal_on for item in message.items}
        moved = (
            f"（原定 {min(nominal)}，遇休息日顺延）" if len(nominal) == 1 and sent_on not in nominal else ""
        )
        lines = [
            f"{sent_on} 周{WEEKDAYS[sent_on.weekday()]} {message.send_at:%H:%M}  "
            f"{message.department}（{message.region}）{KIND_LABELS[message.kind]}，{len(message.items)} 个节点{moved}："
        ]
        plan_title = None
        for item in sorted(message.items, key=lambda i: (i.plan_key, i.due_on)):
            if item.plan_title != plan_title:
                plan_title = item.plan_title
                lines.append(f"  {plan_title}")
            late = (
                f"；原定 {item.nominal_on}，顺延" if len(nominal) > 1 and item.nominal_on != sent_on else ""
            )
            lines.append(
                f"    · {item.task_ref}《{item.task_title}》 {item.due_on}{RECURRENCE_NOTES[item.recurrence]}到期，"
                f"提前{item.days_before}天{late}"
            )
        blocks.append("\n".join(lines))
    return "\n".join(blocks)
