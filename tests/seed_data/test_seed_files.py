"""The seed files against the plan documents they transcribe."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from duban.seeding import read_seed_file
from seed_data import SOURCE_DIR, seed_files, source_files
from seed_data.schema import SeedPlan

# Counted by reading each document: numbered body items, numbered 工作保障/保障措施 items, attachment rows.
EXPECTED = {
    # body （一）..（十）; safeguard （十一）..（十三）; 重点项目清单 rows 1..41
    "zibo-zichuan-2023": {"body": 10, "safeguard": 3, "attachment": 41, "milestones": 58},
    # body 1..20 under （一）..（六）; safeguard 21..24; 重点任务清单 rows 1..13 (flattened)
    "anqiu-2023": {"body": 20, "safeguard": 4, "attachment": 13, "milestones": 25},
    # body （一）..（十一）; safeguard （一）..（四）
    "jinan-changqing-2023": {"body": 11, "safeguard": 4, "attachment": 0, "milestones": 4},
    # body （一）1-3, （二）1-2, （三）1-2, （四）1-2; safeguard 1..3
    "liaocheng-gaoxin-2023": {"body": 9, "safeguard": 3, "attachment": 0, "milestones": 1},
    # body 1..18 under （一）..（四）; safeguard （一）..（三）
    "pengshui-2023": {"body": 18, "safeguard": 3, "attachment": 0, "milestones": 1},
}

PLANS = {plan.key: plan for plan in (read_seed_file(path) for path in seed_files())}


def test_there_is_one_seed_file_per_plan_document() -> None:
    assert sorted(PLANS) == sorted(path.stem for path in source_files())
    assert all(plan.source == f"{plan.key}.txt" for plan in PLANS.values())


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_every_numbered_item_and_table_row_is_a_task(key: str) -> None:
    plan = PLANS[key]
    sections = Counter(task.section.value for task in plan.tasks)
    expected = EXPECTED[key]
    assert {s: sections.get(s, 0) for s in ("body", "safeguard", "attachment")} == {
        s: expected[s] for s in ("body", "safeguard", "attachment")
    }
    assert sum(len(task.milestones) for task in plan.tasks) == expected["milestones"]


def test_zichuan_table_rows_are_numbered_one_to_forty_one() -> None:
    refs = [t.ref for t in PLANS["zibo-zichuan-2023"].tasks if t.section == "attachment"]
    assert refs == [f"附件-{n}" for n in range(1, 42)]


def _years_in(text: str) -> set[int]:
    years = {int(y) for y in re.findall(r"(20\d\d)\s*年", text)}
    if "十四五" in text:
        years.add(2025)
    return years


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_every_year_a_task_names_is_a_milestone_and_no_other(key: str) -> None:
    for task in PLANS[key].tasks:
        milestone_years = {m.due_on.year for m in task.milestones if m.recurrence == "none"}
        milestone_years |= {m.until.year for m in task.milestones if m.until is not None}
        assert milestone_years == _years_in(task.text), task.ref


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_every_recurring_duty_the_text_names_is_a_recurring_milestone(key: str) -> None:
    words = {"yearly": "每年", "semester": "每学期", "monthly": "月报"}
    for task in PLANS[key].tasks:
        kinds = {m.recurrence.value for m in task.milestones if m.recurrence != "none"}
        named = {kind for kind, word in words.items() if word in task.text}
        assert kinds == named, task.ref


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_targets_are_quoted_from_the_task_text(key: str) -> None:
    for task in PLANS[key].tasks:
        flat = task.text.replace("\n", "")
        for milestone in task.milestones:
            for part in milestone.target.split("；"):
                assert part.rstrip("。") in flat, (task.ref, part)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_departments_come_from_the_document(key: str) -> None:
    source = re.sub(r"\s+", "", (SOURCE_DIR / f"{key}.txt").read_text(encoding="utf-8"))
    source = source.replace("(", "（").replace(")", "）")
    plan: SeedPlan = PLANS[key]
    for task in plan.tasks:
        for name in (*task.lead, *task.co):
            assert name in source, (task.ref, name)


def test_body_tasks_name_a_lead_department_wherever_the_plan_prints_one() -> None:
    for key in (
        "zibo-zichuan-2023",
        "anqiu-2023",
        "jinan-changqing-2023",
        "liaocheng-gaoxin-2023",
        "pengshui-2023",
    ):
        for task in PLANS[key].tasks:
            if task.section == "body":
                assert task.lead, (key, task.ref)


def test_items_without_attribution_have_no_departments() -> None:
    liaocheng = PLANS["liaocheng-gaoxin-2023"]
    safeguards = [t for t in liaocheng.tasks if t.section == "safeguard"]
    assert [(t.ref, t.lead, t.co) for t in safeguards] == [
        ("三、1", [], []),
        ("三、2", [], []),
        ("三、3", [], []),
    ]
