"""Which plan a sheet belongs to, the plan as it stands merged with the sheet's tasks, and the write.

The plan is rebuilt from the database as a `SeedPlan` (every task, in order, with the names its
departments were printed as and the `until` of its duties; no withdrawn milestone), the sheet's tasks
replace those with the same ref or are appended, and the whole plan goes through the seed loader's
upsert, keyed by plan key + task ref. A plan unchanged by the sheet is therefore written back
unchanged; a task the sheet shows with a moved date has that milestone moved, and one of its
milestones the sheet no longer shows is withdrawn (duban/seeding.py `_match_milestones`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlmodel import Session, select

from duban import seeding
from duban.ledger import STATE_LABELS, sheet_title
from duban.seeding import SeedSummary
from duban.status import MilestoneState
from duban.xlsx_import.errors import Problem
from duban.xlsx_import.sheets import SheetTask
from models import Department, DepartmentAlias, DepartmentRole, MilestoneStatus, Plan, Task
from seed_data.schema import Recurrence, Section, SeedMilestone, SeedPlan, SeedTask

__all__ = ["Draft", "sheet_title", "write_plans"]
CLOSED = STATE_LABELS[MilestoneState.done]


@dataclass
class Draft:
    """One plan being imported: its header, its tasks in order, and where each imported task came from."""

    key: str
    title: str
    issuer: str
    doc_number: str | None
    issued_on: dt.date
    region: str
    existing: Plan | None = None
    tasks: list[SeedTask] = field(default_factory=list)
    origin: dict[str, tuple[str, int]] = field(default_factory=dict)  # ref -> (sheet, row)
    departments: dict[str, list[str]] = field(default_factory=dict)
    sheets: list[str] = field(default_factory=list)

    @classmethod
    def of_plan(cls, session: Session, plan: Plan) -> Draft:
        draft = cls(
            key=plan.key,
            title=plan.title,
            issuer=plan.issuer,
            doc_number=plan.doc_number,
            issued_on=plan.issued_on,
            region=plan.region,
            existing=plan,
        )
        draft.tasks = [_seed_task(task) for task in plan.tasks]
        aliases = session.exec(
            select(Department.name, DepartmentAlias.name)
            .join_from(DepartmentAlias, Department)
            .where(DepartmentAlias.region == plan.region)
            .order_by(Department.name, DepartmentAlias.name)
        ).all()
        for canonical, alias in aliases:
            draft.departments.setdefault(canonical, []).append(alias)
        return draft

    def put(self, item: SheetTask, problems: list[Problem], notices: list[str]) -> None:
        ref = item.ref
        if ref in self.origin:
            sheet, row = self.origin[ref]
            problems.append(
                Problem(
                    item.sheet, item.row, "序号", f"序号“{ref}”已在工作表“{sheet}”第{row}行导入过（同一方案）"
                )
            )
            return
        self.origin[ref] = (item.sheet, item.row)
        old = self._existing_task(ref)
        task = item.task if old is None else _keep_what_the_sheet_omits(item.task, old)
        if old is not None:
            _note_status_edits(item, old, notices)
        at = next((i for i, t in enumerate(self.tasks) if t.ref == ref), None)
        if at is None:
            self.tasks.append(task)
        else:
            self.tasks[at] = task

    def _existing_task(self, ref: str) -> Task | None:
        if self.existing is None:
            return None
        return next((t for t in self.existing.tasks if t.ref == ref), None)

    def seed(self, source: str) -> SeedPlan:
        return SeedPlan(
            key=self.key,
            title=self.title,
            issuer=self.issuer,
            doc_number=self.doc_number,
            issued_on=self.issued_on,
            region=self.region,
            source=source,
            departments=self.departments,
            tasks=self.tasks,
        )


def _seed_task(task: Task) -> SeedTask:
    return SeedTask(
        ref=task.ref,
        section=Section(task.section),
        title=task.title,
        text=task.text,
        lead=[link.printed_as for link in task.department_links if link.role == DepartmentRole.lead],
        co=[link.printed_as for link in task.department_links if link.role == DepartmentRole.co],
        milestones=[
            SeedMilestone(
                due_on=m.due_on, target=m.target, recurrence=Recurrence(m.recurrence), until=m.until
            )
            for m in task.milestones
            if m.status
            != MilestoneStatus.withdrawn  # the plan no longer has it: written back, it would return
        ],
    )


def _keep_what_the_sheet_omits(task: SeedTask, old: Task) -> SeedTask:
    """A sheet shows a department by its name and no duty's end: keep the name printed and the `until` (of the
    same duty, or of the task's one duty of that kind, whose first date the sheet may have moved)."""
    printed: dict[str, str] = {}
    for link in old.department_links:
        printed[link.department.name] = link.printed_as
        printed[link.printed_as] = link.printed_as
    live = [m for m in old.milestones if m.status != MilestoneStatus.withdrawn]
    until = {(m.due_on, str(m.recurrence)): m.until for m in live}
    # a duty whose first date the sheet moved is still the task's one duty of its kind: its end stays too
    only = {
        kind: ends[0]
        for kind in {str(m.recurrence) for m in live}
        if len(ends := [m.until for m in live if str(m.recurrence) == kind]) == 1
    }

    def kept_until(m: SeedMilestone) -> dt.date | None:
        end = until.get((m.due_on, str(m.recurrence)), only.get(str(m.recurrence)))
        return end if end is not None and end >= m.due_on else None

    milestones = [
        m if m.until is not None else m.model_copy(update={"until": kept_until(m)}) for m in task.milestones
    ]
    return task.model_copy(
        update={
            "lead": [printed.get(n, n) for n in task.lead],
            "co": [printed.get(n, n) for n in task.co],
            "milestones": milestones,
        }
    )


def _note_status_edits(item: SheetTask, old: Task, notices: list[str]) -> None:
    """Say so where the sheet closes (已销号) a dated milestone that is open, or reopens a closed one.

    The 状态 column is computed as of the day of the export (已逾期, 已汇报, …), so only closing matters; a
    recurring duty's 已销号 is this period's report, never a state the import could change.
    """
    closed = {
        (m.due_on, str(m.recurrence)): m.status == MilestoneStatus.done
        for m in old.milestones
        if m.recurrence == "none"
    }
    for row, due_on, recurrence, label in item.statuses:
        current = closed.get((due_on, recurrence))
        if label and current is not None and (label == CLOSED) != current:
            notices.append(
                f"工作表“{item.sheet}”第{row}行：状态“{label}”未导入——销号须经审批，表格中的状态列仅供查阅。"
            )


def write_plans(*, session: Session, plans: list[SeedPlan], by: str) -> SeedSummary:
    """All plans through the seed loader's upsert, in one transaction; `by` is who imported, for the record of
    the milestones the sheets withdrew."""
    return seeding.load_plans(session=session, plans=plans, by=by)
