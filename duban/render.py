"""Text for the terminal: status tables, in Chinese (reminder listings: scheduler/preview.py)."""

from __future__ import annotations

from duban.status import Counts, MilestoneState, StatusReport
from duban.textfmt import table

STATE_COLUMNS = [
    (MilestoneState.done, "已销号"),
    (MilestoneState.reported, "已汇报"),
    (MilestoneState.silent, "未汇报"),
    (MilestoneState.overdue, "已逾期"),
]


def _row(label: str, counts: Counts) -> list[str]:
    return [label, str(counts.total), *(str(counts[state]) for state, _ in STATE_COLUMNS)]


def render_status(report: StatusReport) -> str:
    headers = ["", "节点数", *(label for _, label in STATE_COLUMNS)]
    scope = f"部门：{report.department}" if report.department else "全部部门"
    parts = [f"督办进度（截至 {report.today.isoformat()}，{scope}）"]
    if not report.overall.total:
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
