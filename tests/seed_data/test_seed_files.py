"""The seed files against the plan documents they transcribe."""

from __future__ import annotations

import datetime as dt
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


def _one_year(plan: SeedPlan) -> int | None:
    """The year of a one-year plan, which its title begins with (2023年巩固拓展…方案)."""
    match = re.match(r"(20\d\d)年", plan.title)
    return int(match[1]) if match else None


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_every_year_a_task_names_is_a_milestone_and_no_other(key: str) -> None:
    """A year is a milestone or a duty's end; a one-year plan's duties also end with its year."""
    plan = PLANS[key]
    for task in plan.tasks:
        milestone_years = {m.due_on.year for m in task.milestones if m.recurrence == "none"}
        milestone_years |= {m.until.year for m in task.milestones if m.until is not None}
        named = _years_in(task.text)
        if _one_year(plan) and any(m.recurrence != "none" for m in task.milestones):
            named.add(_one_year(plan))
        assert milestone_years == named, task.ref


def test_only_pengshui_is_a_one_year_plan_and_its_duties_end_with_2023() -> None:
    assert {key: _one_year(plan) for key, plan in PLANS.items() if _one_year(plan)} == {"pengshui-2023": 2023}
    duties = [m for t in PLANS["pengshui-2023"].tasks for m in t.milestones if m.recurrence != "none"]
    assert [(m.recurrence.value, m.due_on, m.until) for m in duties] == [
        ("monthly", dt.date(2023, 4, 25), dt.date(2023, 12, 31))
    ]


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


def test_a_lead_named_in_the_sentence_leads_and_items_naming_nobody_have_no_departments() -> None:
    """聊城 三、1 prints no closing bracket, but its sentence says 教育和体育分局牵头; 三、2 and 三、3 name nobody."""
    liaocheng = PLANS["liaocheng-gaoxin-2023"]
    safeguards = [t for t in liaocheng.tasks if t.section == "safeguard"]
    assert [(t.ref, t.lead, t.co) for t in safeguards] == [
        ("三、1", ["教育和体育分局"], []),
        ("三、2", [], []),
        ("三、3", [], []),
    ]


def test_anqiu_rows_are_led_by_whoever_leads_the_same_action_in_the_body() -> None:
    """The 责任分工 cell lists 市委宣传部/市委编办 first by rank; the body items say 市教体局牵头."""
    tasks = {t.ref: t for t in PLANS["anqiu-2023"].tasks}
    assert {ref: (tasks[ref].lead, tasks[ref].co) for ref in ("附件-1", "附件-2", "附件-6")} == {
        "附件-1": (["市教体局"], ["市委宣传部", "市妇联", "市民政局"]),
        "附件-2": (["市教体局"], ["市委宣传部", "市文旅局", "各镇街区"]),
        "附件-6": (["市教体局"], ["市委编办", "市财政局", "市人社局", "各镇街区"]),
    }
    # the same actions in the body, and the cell kept as printed
    assert [tasks[ref].lead for ref in ("（一）2", "（一）3", "（三）7")] == [["市教体局"]] * 3
    assert "责任分工：市委编办、市教体局、市财政局、市人社局、各镇街区" in tasks["附件-6"].text
    attachment_leads = {name for t in tasks.values() if t.section == "attachment" for name in t.lead}
    assert attachment_leads == {"市教体局"}
