"""The importer against the reviewed seed files: at least 95% per plan on every measure."""

from __future__ import annotations

from pathlib import Path

import pytest

from duban.plan_import.agreement import MEASURES, compare, measure_all, render
from duban.plan_import.assemble import import_plan
from duban.seeding import read_seed_file
from seed_data import SOURCE_DIR, seed_files

RESULTS = {r.key: r for r in measure_all()}


def test_every_reviewed_plan_is_measured_against_its_document_in_the_repository() -> None:
    assert sorted(RESULTS) == sorted(path.stem for path in seed_files())


@pytest.mark.parametrize("key", sorted(path.stem for path in seed_files()))
@pytest.mark.parametrize("measure", MEASURES)
def test_agreement_per_plan(key: str, measure: str) -> None:
    result = RESULTS[key]
    assert result.share(measure) >= 0.95, render([result])


def test_every_imported_seed_file_validates(tmp_path: Path) -> None:
    from duban.plan_import.seedfile import write_seed
    from seed_data.check import main as check

    for path in seed_files():
        reviewed = read_seed_file(path)
        out = tmp_path / f"{reviewed.key}.yaml"
        write_seed(import_plan(SOURCE_DIR / reviewed.source), out)
        assert check([str(out)]) == 0


def test_the_measure_notices_a_difference() -> None:
    """Compare a reviewed plan with a copy that lost a task, swapped a lead and moved a year."""
    reviewed = read_seed_file(next(p for p in seed_files() if p.stem == "jinan-changqing-2023"))
    changed = reviewed.model_copy(deep=True)
    changed.tasks = changed.tasks[1:]
    changed.tasks[0].lead, changed.tasks[0].co = changed.tasks[0].co[:1], changed.tasks[0].lead
    milestone = changed.tasks[1].milestones[0]
    changed.tasks[1].milestones[0] = milestone.model_copy(
        update={"due_on": milestone.due_on.replace(year=2030)}
    )
    result = compare(changed, reviewed)
    n = len(reviewed.tasks)
    assert (result.found, result.departments, result.milestones) == (n - 1, n - 2, n - 2)
    assert any("未找到" in d for d in result.disagreements)


def test_tasks_are_matched_by_text_when_refs_differ() -> None:
    reviewed = read_seed_file(next(p for p in seed_files() if p.stem == "pengshui-2023"))
    renamed = reviewed.model_copy(deep=True)
    for index, task in enumerate(renamed.tasks):
        task.ref = f"item-{index}"
    result = compare(renamed, reviewed)
    assert result.found == len(reviewed.tasks)


def test_a_plan_below_the_threshold_is_named_in_chinese() -> None:
    from duban.plan_import.agreement import PlanAgreement

    weak = PlanAgreement(key="demo-2024", reviewed=10, found=9, departments=8, milestones=9, extra=1)
    weak.disagreements.append("（一）1：未找到（示例任务）")
    text = render([weak])
    assert "低于 95% 的方案：demo-2024。" in text
    assert text.endswith("demo-2024：\n  （一）1：未找到（示例任务）")
