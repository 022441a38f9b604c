"""The importer's reading rules, one phrase at a time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from duban.plan_import.attribution import split_attribution
from duban.plan_import.deadlines import find_milestones, merge
from duban.plan_import.header import read_header
from duban.plan_import.segment import split_body
from duban.plan_import.tables import split_columns
from duban.plan_import.textnorm import clean_line, cn_number, squeeze

ISSUED = dt.date(2023, 9, 15)


@pytest.mark.parametrize(("text", "value"), [("一", 1), ("十", 10), ("十一", 11), ("二十三", 23), ("12", 12)])
def test_chinese_numerals(text: str, value: int) -> None:
    assert cn_number(text) == value


def test_squeeze_joins_wrapped_lines_and_drops_spaces_around_digits() -> None:
    assert squeeze("到 2027 年，区委组织\n\n部、省定 II 类") == "到2027年，区委组织部、省定II类"
    assert squeeze("Wi Fi 3 5") == "Wi Fi 3 5"
    assert clean_line("注重 — 13 — 典型示范") == "注重   典型示范"
    assert clean_line("[bookmark: _GoBack]淄川区方案") == "淄川区方案"
    assert clean_line("２０２５年底前达到Ａ级") == "2025年底前达到A级"


@pytest.mark.parametrize(
    ("raw", "lead", "co"),
    [
        ("加强领导。〔教育和体育分局，党群工作部〕", ["教育和体育分局"], ["党群工作部"]),
        ("加强领导。（区教体局牵头，区委编办、区财政局配合）", ["区教体局"], ["区委编办", "区财政局"]),
        ("加强领导。(区教育体育\n局负责）", ["区教育体育局"], []),
        ("加强领导。(责任科室：基建科、教育科)", ["基建科"], ["教育科"]),
        ("加强领导。（区教体局）", ["区教体局"], []),
        # half-width commas, a bracketed alias, and names before the role word take that role
        (
            "加强领导。〔区教育体育局 (区委教育工委)牵头,区委组织\n部、区农业农村局，区卫生健康局、各街镇配合〕",
            ["区教育体育局（区委教育工委）"],
            ["区委组织部", "区农业农村局", "区卫生健康局", "各街镇"],
        ),
        (
            "加强领导。〔区教体局牵头，各街道（镇）、区农业农村局配合〕",
            ["区教体局"],
            ["各街道（镇）", "区农业农村局"],
        ),
        (
            "推进工作。（牵头单位：县教育局；配合单位：县财政局、县人社局）",
            ["县教育局"],
            ["县财政局", "县人社局"],
        ),
    ],
)
def test_attribution_forms(raw: str, lead: list[str], co: list[str]) -> None:
    text, attribution = split_attribution(raw)
    assert text == "加强领导。" or text == "推进工作。"
    assert attribution is not None
    assert (attribution.lead, attribution.co) == (lead, co)


@pytest.mark.parametrize(
    "raw",
    [
        "改善办学条件，乡村学校（含幼儿园）",  # a closing bracket that names no department
        "县教育服务中心牵头，深入乡镇宣讲资助政策。",  # a role word inside the sentence
        "完善制度。",
    ],
)
def test_text_without_attribution(raw: str) -> None:
    text, attribution = split_attribution(raw)
    assert attribution is None
    assert text == squeeze(raw)


def _years(text: str, issued: dt.date = ISSUED) -> list[tuple[str, str, str | None]]:
    found, _ = find_milestones(text, issued)
    return [
        (m.due_on.isoformat(), m.recurrence, m.until.isoformat() if m.until else None) for m in merge(found)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("到2025年基本实现全覆盖。", [("2025-12-31", "none", None)]),
        ("2025年底前乡村中小学全部评为绿色校园。", [("2025-12-31", "none", None)]),
        ("2024年，依托乡村学校实现全覆盖。", [("2024-12-31", "none", None)]),
        ("“十四五”期间全面开展试点工作。", [("2025-12-31", "none", None)]),
        ("2024年6月底前完成培训。", [("2024-06-30", "none", None)]),
        ("每年遴选一批研学基地。", [("2023-12-31", "yearly", None)]),
        ("包校教研员每学期至少听课8次。", [("2024-01-20", "semester", None)]),
        ("建立清零月报制度。", [("2023-10-25", "monthly", None)]),
        # a deadline that only introduces a duty bounds it
        ("积极落实支教计划，至2027年，每年安排大学生实习支教。", [("2023-12-31", "yearly", "2027-12-31")]),
        ("“十四五”期间，每年遴选推报一批骨干教师。", [("2023-12-31", "yearly", "2025-12-31")]),
        # a deadline with its own target is a milestone and also bounds the duty after it
        (
            "2027年，乡村学校形成特色课程，每年推广精品课程。",
            [("2027-12-31", "none", None), ("2023-12-31", "yearly", "2027-12-31")],
        ),
        # two targets sharing a date are one milestone
        ("2027年所有学校达标。2027年幼儿园全部达标。", [("2027-12-31", "none", None)]),
        # a year inside a document title is not a deadline
        ("落实《特殊教育发展提升计划（2022-2025）》，完善布局。", []),
        ("逐年提升在编教师比例。", []),
    ],
)
def test_deadline_phrases(text: str, expected: list[tuple[str, str, str | None]]) -> None:
    assert _years(text) == expected


def test_merged_targets_are_joined() -> None:
    found, _ = find_milestones("2027年所有学校达标。2027年幼儿园全部达标。", ISSUED)
    assert merge(found)[0].target == "2027年所有学校达标；2027年幼儿园全部达标"


@pytest.mark.parametrize("phrase", ["每季度", "年度", "2022年以来", "2021年"])
def test_unmapped_date_phrases_are_reported(phrase: str) -> None:
    found, unmapped = find_milestones(f"开展工作，{phrase}通报情况。", ISSUED)
    assert found == []
    assert any(phrase in note for note in unmapped)


def test_item_numbers_run_on_and_inline_markers() -> None:
    lines = [
        "一、主要任务",
        "（一）实施乡村全环境立德树人",
        "工程 1.推进党建品牌化建设。到 2027 年，争创示范",
        "学校。（市教体局负责） 2.",
        "做好家校共育工作。为 9 处学校配齐设施，资源达到 1.7 万条。（市教体局牵头，市妇联配合）（二）实施",
        "育人环境行动 3.优化乡村学校布局。",
        "二、工作保障",
        "4.加强组织领导。",
        "附件：重点任务清单",
        "序号 项目名称",
    ]
    body = split_body(lines)
    assert [(i.ref, i.section) for i in body.items] == [
        ("（一）1", "body"),
        ("（一）2", "body"),
        ("（二）3", "body"),
        ("二、4", "safeguard"),
    ]
    assert squeeze(body.items[1].text).startswith("做好家校共育工作。为9处学校")
    assert body.rest[0].startswith("附件")


def test_intro_chapters_are_not_tasks() -> None:
    body = split_body(["一、总体要求", "（一）指导思想。坚持党的领导。", "二、重点任务", "（一）建设校园。"])
    assert [i.ref for i in body.items] == ["（一）"]


def test_header_reads_the_covering_notice() -> None:
    lines = [
        "川政办字〔2023〕28号",
        "淄川区人民政府办公室",
        "关于印发《淄川区推进乡村教育振兴工作方案》的通知",
        "各镇人民政府：",
        "《淄川区推进乡村教育振兴工作方案》已经区政府同意，按照《某方案》（淄政办字〔2023〕36号）执行。",
        "淄川区人民政府办公室",
        "2023年9月15日   ",
        "淄川区推进乡村教育振兴工作方案",
        "一、工作目标",
    ]
    header = read_header(lines)
    assert (header.title, header.issuer, header.doc_number, header.issued_on, header.region) == (
        "淄川区推进乡村教育振兴工作方案",
        "淄川区人民政府办公室",
        "川政办字〔2023〕28号",
        dt.date(2023, 9, 15),
        "淄川区",
    )


def test_a_number_quoted_in_a_sentence_is_not_the_plans_own() -> None:
    header = read_header(
        ["某县教育委员会", "按照《通知》（渝教财发〔2023〕8号）要求。", "2023年3月20日", "一、目标"]
    )
    assert header.doc_number is None
    assert header.notes


def test_flattened_cells_are_told_apart_by_wrap_width() -> None:
    lines = [
        "开展乡村幼",
        "儿园布局优",
        "化行动",
        "市域内乡村学前教育公办",
        "率达到 70%，普惠率保持 100%。",
        "科学合理规划乡村幼儿园，优化公办幼儿园和",
        "普惠性民办幼儿园布局。按照实际情况，撤并小规",
        "模公办园，引导小规模民办园有序退出。",
    ]
    title, target, measures = split_columns(lines, 3)
    assert "".join(title) == "开展乡村幼儿园布局优化行动"
    assert squeeze("".join(target)) == "市域内乡村学前教育公办率达到70%，普惠率保持100%。"
    assert "".join(measures).startswith("科学合理规划")


def test_two_body_chapters_numbered_alike_keep_their_chapter_in_the_ref() -> None:
    body = split_body(
        [
            "一、重点任务",
            "1.建设学校。",
            "2.培训教师。",
            "二、重点工程",
            "1.改造校舍。",
            "四、组织实施",
            "（一）加强领导。",
        ]
    )
    assert [(i.ref, i.section) for i in body.items] == [
        ("一、1", "body"),
        ("一、2", "body"),
        ("二、1", "body"),
        ("四（一）", "safeguard"),
    ]
    assert any("跳到“四”" in note for note in body.notes)


def test_flattened_table_without_a_deadline_column_reads_departments_from_the_row_end() -> None:
    from duban.plan_import.tables import flat_tables

    lines = [
        "序号 项目名称 主要任务 责任单位",
        "1",
        "校园绿化",
        "工程",
        "完成 20 所学校绿化，建设示范",
        "校园。",
        "县教育局、县自",
        "然资源局",
    ]
    (row,) = flat_tables(lines)[0]
    assert (row.title, row.named) == ("校园绿化工程", ["县教育局", "县自然资源局"])
    assert row.fields[0] == ("主要任务", "完成20所学校绿化，建设示范校园。")
    assert row.notes  # the reviewer is told the split was inferred


def test_flattened_lead_and_co_columns_cannot_be_told_apart_and_say_so() -> None:
    from duban.plan_import.tables import flat_tables

    lines = [
        "序号 项目名称 主要任务 完成时限 牵头部门 参与部门",
        "1",
        "校园绿化",
        "完成绿化。",
        "2025 年",
        "县教育局",
        "县自然资源局",
    ]
    (row,) = flat_tables(lines)[0]
    assert (row.deadline, row.named) == ("2025年", ["县教育局", "县自然资源局"])
    assert any("无法分开" in note for note in row.notes)


def test_text_tables_in_both_tab_layouts(tmp_path: Path) -> None:
    from duban.plan_import.reader import Table, read_document

    path = tmp_path / "tables.txt"
    path.write_text(
        "\t这是缩进的段落。\n"
        "序号\t项目名称\t牵头部门\n1\t校园绿化\t县教育局\n"
        "正文\n"
        "\t序号\n\t项目名称\n\t牵头部门\n\n\t1\n\t校园\n绿化\n\t县教育局\n县财政局\n\n结束\n",
        encoding="utf-8",
    )
    blocks = read_document(path).blocks
    tables = [b for b in blocks if isinstance(b, Table)]
    assert blocks[0] == "\t这是缩进的段落。"
    assert tables[0].rows == [["序号", "项目名称", "牵头部门"], ["1", "校园绿化", "县教育局"]]
    assert tables[1].rows == [["序号", "项目名称", "牵头部门"], ["1", "校园\n绿化", "县教育局\n县财政局"]]
    assert "正文" in blocks and "结束" in blocks
