"""How far the importer agrees with the reviewed seed files, plan by plan.

The reviewed files in seed_data/ were written by people reading the five documents in
seed_data/sources. Importing those documents again and comparing gives three measures per plan, each
as a share of the reviewed tasks:

- tasks found: a reviewed task has an imported counterpart, by ref, or failing that by text
  similarity within the same section (the refs of a plan read another way may differ);
- departments exact: the counterpart's lead list and co list equal the reviewed ones;
- milestone years exact: the counterpart's set of (year, recurrence, year a duty ends) equals the
  reviewed one.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from duban.plan_import.assemble import import_plan
from duban.plan_import.textnorm import department_form
from duban.seeding import read_seed_file
from duban.textfmt import table
from seed_data import SOURCE_DIR, seed_files
from seed_data.schema import SeedPlan, SeedTask

SIMILAR_ENOUGH = 0.6
MEASURES = ("tasks", "departments", "milestones")


@dataclass
class PlanAgreement:
    key: str
    reviewed: int
    found: int = 0
    departments: int = 0
    milestones: int = 0
    extra: int = 0  # imported tasks with no reviewed counterpart
    disagreements: list[str] = field(default_factory=list)

    def share(self, measure: str) -> float:
        value = {"tasks": self.found, "departments": self.departments, "milestones": self.milestones}[measure]
        return value / self.reviewed if self.reviewed else 1.0


def measure_all(
    seeds_dir: Path = SOURCE_DIR, reviewed_files: list[Path] | None = None
) -> list[PlanAgreement]:
    """Import every document that a reviewed seed file names as its source, and compare."""
    results = []
    for path in reviewed_files or seed_files():
        reviewed = read_seed_file(path)
        source = seeds_dir / reviewed.source
        if not source.exists():
            continue
        imported = import_plan(source, key=reviewed.key, region=reviewed.region).plan
        results.append(compare(imported, reviewed))
    return results


def compare(imported: SeedPlan, reviewed: SeedPlan) -> PlanAgreement:
    result = PlanAgreement(key=reviewed.key, reviewed=len(reviewed.tasks))
    pairs = _match(imported.tasks, reviewed.tasks)
    result.extra = len(imported.tasks) - len(pairs)
    for task in reviewed.tasks:
        mine = pairs.get(task.ref)
        if mine is None:
            result.disagreements.append(f"{task.ref}：未找到（{task.title}）")
            continue
        result.found += 1
        if _departments(mine) == _departments(task):
            result.departments += 1
        else:
            result.disagreements.append(
                f"{task.ref}：部门 {_show(_departments(mine))}，审定为 {_show(_departments(task))}"
            )
        if _years(mine) == _years(task):
            result.milestones += 1
        else:
            result.disagreements.append(
                f"{task.ref}：时间节点 {sorted(_years(mine))}，审定为 {sorted(_years(task))}"
            )
    return result


def _match(imported: list[SeedTask], reviewed: list[SeedTask]) -> dict[str, SeedTask]:
    """Reviewed ref -> imported task: same ref first, then the most similar text in the same section."""
    by_ref = {task.ref: task for task in imported}
    pairs = {task.ref: by_ref[task.ref] for task in reviewed if task.ref in by_ref}
    free = [task for task in imported if task.ref not in pairs]
    for task in reviewed:
        if task.ref in pairs:
            continue
        scored = [
            (difflib.SequenceMatcher(None, task.text[:300], other.text[:300]).ratio(), index)
            for index, other in enumerate(free)
            if other.section == task.section
        ]
        if scored and max(scored)[0] >= SIMILAR_ENOUGH:
            pairs[task.ref] = free.pop(max(scored)[1])
    return pairs


def _departments(task: SeedTask) -> tuple[list[str], list[str]]:
    return [department_form(n) for n in task.lead], [department_form(n) for n in task.co]


def _show(departments: tuple[list[str], list[str]]) -> str:
    lead, co = departments
    return f"牵头[{'、'.join(lead)}] 配合[{'、'.join(co)}]"


def _years(task: SeedTask) -> set[tuple[int, str, int | None]]:
    return {(m.due_on.year, m.recurrence.value, m.until.year if m.until else None) for m in task.milestones}


MEASURE_HEADERS = {"tasks": "找到任务", "departments": "部门一致", "milestones": "时间节点一致"}


def render(results: list[PlanAgreement], *, threshold: float = 0.95) -> str:
    """The table of shares per plan and measure, what falls below the threshold, and each disagreement."""
    rows = [[r.key, str(r.reviewed), *(f"{r.share(m):.1%}" for m in MEASURES), str(r.extra)] for r in results]
    lines = [
        "方案原文导入结果与审定的 seed_data 比对（占审定任务的比例）：",
        table(["方案", "审定任务", *(MEASURE_HEADERS[m] for m in MEASURES), "多出任务"], rows),
        "",
    ]
    failing = [r.key for r in results if any(r.share(m) < threshold for m in MEASURES)]
    lines.append(
        f"全部方案各项均不低于 {threshold:.0%}。"
        if not failing
        else f"低于 {threshold:.0%} 的方案：{'、'.join(failing)}。"
    )
    for r in results:
        if r.disagreements:
            lines.append(f"\n{r.key}：")
            lines.extend(f"  {d}" for d in r.disagreements)
    return "\n".join(lines)
