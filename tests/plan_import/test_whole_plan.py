"""Rules that read the plan as a whole: a row's lead from the body, a lead named in a sentence, and a
one-year plan's duties ending with its year.

mouxian-2024.txt is a small 2024 plan: body item 1 (县教育局牵头) and attachment row 1 are the same action,
whose 责任分工 cell names 县委宣传部 first; row 2 is the same action as body item 2, whose lead (县住建局)
the row does not name; row 3 matches nothing in the body. 二、1 names its lead only inside a sentence.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from duban.plan_import import import_plan
from duban.plan_import.wholeplan import leads_from_body, pairs, plan_year
from seed_data.schema import SeedTask

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "mouxian-2024.txt"


def _import(tmp_path: Path, title: str | None = None) -> tuple[dict[str, SeedTask], list[str]]:
    path = FIXTURE
    if title is not None:
        path = tmp_path / FIXTURE.name
        path.write_text(FIXTURE.read_text(encoding="utf-8").replace("2024年某某县乡村教育工作方案", title))
    result = import_plan(path)
    return {t.ref: t for t in result.plan.tasks}, [str(f) for f in result.findings]


def test_a_row_without_role_words_is_led_by_whoever_leads_the_same_action_in_the_body(tmp_path: Path) -> None:
    tasks, findings = _import(tmp_path)
    row = tasks["附件-1"]
    assert (row.lead, row.co) == (["县教育局"], ["县委宣传部", "县妇联"])
    assert "责任分工：县委宣传部、县教育局、县妇联" in row.text
    assert any(f.startswith("附件-1：责任分工未写明牵头，正文1同一事项由县教育局牵头") for f in findings)


def test_the_body_only_picks_among_the_names_the_row_prints_and_unmatched_rows_keep_the_convention(
    tmp_path: Path,
) -> None:
    tasks, findings = _import(tmp_path)
    # row 2 is body item 2's action, but 县住建局 is not in its cell: the first named still leads
    assert (tasks["附件-2"].lead, tasks["附件-2"].co) == (["县教育局"], ["县财政局"])
    # row 3 shares no wording with any body item
    assert (tasks["附件-3"].lead, tasks["附件-3"].co) == (["县市场监管局"], ["县教育局"])
    assert "2 项未写明牵头，按惯例以第一个部门为牵头：附件-2、附件-3" in findings


def test_a_lead_named_only_in_the_sentence_leads_and_is_reported(tmp_path: Path) -> None:
    tasks, findings = _import(tmp_path)
    assert (tasks["二、1"].lead, tasks["二、1"].co) == (["县教育局"], [])
    assert "二、1：正文写明“县教育局牵头”，取为牵头部门" in findings
    assert (tasks["二、2"].lead, tasks["二、2"].co) == ([], [])


def test_a_one_year_plan_bounds_its_duties_to_its_year_unless_the_text_bounds_them(tmp_path: Path) -> None:
    tasks, findings = _import(tmp_path)
    duties = {
        ref: [(m.recurrence.value, m.due_on, m.until) for m in tasks[ref].milestones] for ref in ("1", "2")
    }
    assert duties == {
        "1": [("monthly", dt.date(2024, 4, 25), dt.date(2024, 12, 31))],  # 家访月报, a 2024 plan
        "2": [("yearly", dt.date(2024, 12, 31), dt.date(2026, 12, 31))],  # 至2026年，每年…: the text's bound
    }
    assert "一年期方案：周期性任务截至 2024-12-31（正文未写明其他期限）：1" in findings


def test_a_plan_over_several_years_leaves_its_duties_unbounded(tmp_path: Path) -> None:
    tasks, findings = _import(tmp_path, title="某某县乡村教育三年行动方案")
    assert [m.until for m in tasks["1"].milestones] == [None]
    assert not any("一年期方案" in f for f in findings)


def test_which_titles_name_a_one_year_plan() -> None:
    assert plan_year("2023年巩固拓展脱贫攻坚成果全面推进乡村教育振兴工作实施方案") == 2023
    assert plan_year("2024年度教育工作要点") == 2024
    assert plan_year("2023-2025年乡村教育振兴行动计划") is None
    assert plan_year("2023至2025年乡村教育振兴行动计划") is None
    assert plan_year("淄川区推进乡村教育振兴工作方案") is None
    assert plan_year(None) is None


def test_same_action_is_measured_on_wording_that_is_not_everyday_to_the_plan() -> None:
    body = [
        {
            "ref": "1",
            "section": "body",
            "title": "办好家长学校",
            "text": "乡村学校建成家长学校。",
            "lead": ["甲局"],
        },
        {"ref": "2", "section": "body", "title": "改造厕所", "text": "乡村学校改造厕所。", "lead": ["乙局"]},
        {"ref": "3", "section": "body", "title": "配齐图书", "text": "乡村学校配齐图书。", "lead": ["乙局"]},
    ]
    row = {
        "ref": "附件-1",
        "section": "attachment",
        "title": "",
        "text": "",
        "lead": ["丙办"],
        "co": ["甲局"],
    }
    tasks = [*body, row]
    explicit = {"1", "2", "3"}
    [change] = leads_from_body({"附件-1": "乡村学校家长学校建设"}, tasks, explicit)
    assert (change.lead, change.co, change.body_ref) == (["甲局"], ["丙办"], "1")
    # "乡村学校" is in every body item: a row sharing only that is no one's action
    assert leads_from_body({"附件-1": "乡村学校食堂"}, tasks, explicit) == []
    # a body lead that was itself only a convention decides nothing
    assert leads_from_body({"附件-1": "乡村学校家长学校建设"}, tasks, {"2", "3"}) == []
    assert pairs("家长学校。") == {"家长", "长学", "学校"}
