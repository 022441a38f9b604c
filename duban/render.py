"""Text for the terminal: status tables and what a load changed, in Chinese (reminder listings:
scheduler/preview.py)."""

from __future__ import annotations

from duban.seeding import SeedSummary
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


# ---------------------------------------------------------------- what a load changed

HEADER_LABELS = {
    "title": "标题",
    "issuer": "发文机关",
    "doc_number": "文号",
    "issued_on": "印发日期",
    "region": "地区",
}
KIND_LABELS = {"none": "", "yearly": "（每年）", "semester": "（每学期）", "monthly": "（每月）"}


def render_changes(summary: SeedSummary) -> list[str]:
    """What a seed, import or replace changed in plans that were there before, beyond their wording: one block per
    plan, nothing for a plan that is new or unchanged."""
    lines: list[str] = []
    for plan in summary.changes:
        if plan.new or not plan:
            continue
        lines.append(f"方案 {plan.key} 的变化：")
        lines += [
            f"  {HEADER_LABELS.get(name, name)}：{before or '（无）'} → {after or '（无）'}"
            for name, before, after in plan.header
        ]
        if plan.tasks_added:
            lines.append(f"  新增任务 {len(plan.tasks_added)} 项：{'、'.join(plan.tasks_added)}")
        if plan.tasks_removed:
            removed = "、".join(f"{ref}{_reports(n)}" for ref, n in plan.tasks_removed)
            lines.append(f"  删除任务 {len(plan.tasks_removed)} 项（其时间节点撤销）：{removed}")
        if plan.moved:
            moved = "；".join(
                f"{c.task_ref}{KIND_LABELS.get(c.recurrence, '')} {c.due_on} → {c.moved_to}{_reports(c.reports)}"
                for c in plan.moved
            )
            lines.append(f"  时限调整 {len(plan.moved)} 个（汇报随节点保留）：{moved}")
        for label, found in (
            ("撤销节点", plan.withdrawn),
            ("恢复节点", plan.restored),
            ("方案中已没有、但已销号而保留的节点", plan.kept_closed),
        ):
            if found:
                listed = "；".join(
                    f"{c.task_ref}{KIND_LABELS.get(c.recurrence, '')} {c.due_on}{_reports(c.reports)}"
                    for c in found
                )
                lines.append(f"  {label} {len(found)} 个：{listed}")
        if plan.closeouts_voided:
            lines.append(f"  撤销节点上待审批的销号申请 {plan.closeouts_voided} 个已作废")
    return lines


def _reports(n: int) -> str:
    return f"（{n} 条汇报保留）" if n else ""
