"""Text for the terminal: status tables and reminder listings, in Chinese."""

from __future__ import annotations

from typing import TYPE_CHECKING

from duban.status import Counts, MilestoneState, StatusReport
from duban.textfmt import table

if TYPE_CHECKING:  # the CLI hands the scheduler's reminders in; duban itself does not import the scheduler
    from scheduler.planner import PlannedReminder

STATE_COLUMNS = [
    (MilestoneState.done, "已销号"),
    (MilestoneState.reported, "已汇报"),
    (MilestoneState.silent, "未汇报"),
    (MilestoneState.overdue, "已逾期"),
]
RECURRENCE_NOTE = {"none": "", "yearly": "（每年）", "semester": "（每学期）", "monthly": "（每月）"}


def _row(label: str, counts: Counts) -> list[str]:
    return [label, str(counts.total), *(str(counts[state]) for state, _ in STATE_COLUMNS)]


def render_status(report: StatusReport) -> str:
    headers = ["", "节点数", *(label for _, label in STATE_COLUMNS)]
    scope = f"部门：{report.department}" if report.department else "全部部门"
    parts = [f"督办进度（截至 {report.today.isoformat()}，{scope}）"]
    if not report.milestones:
        parts.append("没有需要跟踪的节点。")
        return "\n".join(parts)
    parts += [
        "",
        "按方案",
        table(["方案", *headers[1:]], [_row(title, c) for title, c in report.by_plan.items()]),
    ]
    parts += [
        "",
        "按年份（周期性任务按当期计）",
        table(["年份", *headers[1:]], [_row(year, c) for year, c in report.by_year.items()]),
    ]
    parts += ["", table(["合计", *headers[1:]], [_row("全部", report.overall)])]
    return "\n".join(parts)


def render_reminders(reminders: list[PlannedReminder]) -> str:
    if not reminders:
        return "这段时间没有要发送的提醒。"
    lines = []
    for r in reminders:
        who = "、".join(r.departments)
        if r.kind == "reminder":
            what = f"提醒牵头部门 {who}：还有{r.days_before}天到期"
        else:
            what = f"通知配合部门 {who}：请在到期前{r.days_before}天内向牵头部门报送材料"
        lines.append(
            f"{r.send_on.isoformat()}  {what}｜{r.plan_title} {r.task_ref}《{r.task_title}》"
            f" 到期 {r.instance_due.isoformat()}{RECURRENCE_NOTE[r.recurrence]}"
        )
    return "\n".join(lines)
