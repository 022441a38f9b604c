"""The 督查通报 is a 公文 (GB/T 9704-2012): read back from the .docx `duban tongbao` writes, as Word would open it."""

from __future__ import annotations

from pathlib import Path

import pytest
from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import parse_xml
from docx.oxml.ns import qn
from docx.shared import Pt, RGBColor
from docx.text.paragraph import Paragraph

from duban.cli import main
from duban.tongbao import DocumentNumber, parse_document_number

PLAN = "zibo-zichuan-2023"
TITLE = "关于《淄川区推进乡村教育振兴工作方案》推进情况的督查通报"
OFFICE = "淄博市淄川区教育和体育局"


def _write(tmp_path: Path, *options: str) -> DocxDocument:
    assert main(["seed"]) == 0
    output = tmp_path / "通报.docx"
    assert main(["tongbao", "--plan", PLAN, "--output", str(output), "--date", "2026-03-09", *options]) == 0
    return Document(str(output))


@pytest.fixture
def written(cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DocxDocument:
    monkeypatch.setenv("DUBAN_ISSUING_OFFICE", OFFICE)
    monkeypatch.setenv("DUBAN_DOCUMENT_CODE", "淄教督")
    return _write(tmp_path, "--number", "3", "--to", "各镇（街道）、区直有关部门")


def _east_asian_face(paragraph: Paragraph) -> str:
    faces = {run._r.rPr.rFonts.get(qn("w:eastAsia")) for run in paragraph.runs}
    assert len(faces) == 1, faces
    return faces.pop()


def _the(document: DocxDocument, text: str) -> Paragraph:
    [paragraph] = [p for p in document.paragraphs if p.text == text]
    return paragraph


def test_the_page_is_a4_with_the_standards_margins(written: DocxDocument) -> None:
    section = written.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    margins = (section.top_margin, section.bottom_margin, section.left_margin, section.right_margin)
    assert [round(m.mm) for m in margins] == [37, 35, 28, 26]


def test_the_parts_come_in_the_standards_order(written: DocxDocument) -> None:
    texts = [p.text for p in written.paragraphs if p.text]
    parts = ["淄教督〔2026〕3号", TITLE, "各镇（街道）、区直有关部门：", OFFICE, "2026年3月9日"]
    positions = [texts.index(part) for part in parts]
    body = next(i for i, text in enumerate(texts) if text.startswith("截至2026年3月9日，方案共有时间节点"))
    assert positions[:3] == sorted(positions[:3]) and positions[2] < body < positions[3] < positions[4]
    assert positions == [0, 1, 2, len(texts) - 2, len(texts) - 1]  # 成文日期 last, 文号 first


def test_title_is_black_2hao_xiaobiaosong_and_the_body_3hao_fangsong(written: DocxDocument) -> None:
    title = _the(written, TITLE)
    assert title.alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert _east_asian_face(title) == "方正小标宋简体"
    assert {run.font.size for run in title.runs} == {Pt(22)}
    assert {run.font.color.rgb for run in title.runs} == {RGBColor(0, 0, 0)}
    assert title.style.name == "Normal"  # not Word's blue Heading 1
    body = next(p for p in written.paragraphs if p.text.startswith("截至"))
    assert _east_asian_face(body) == "仿宋_GB2312" and {r.font.size for r in body.runs} == {Pt(16)}
    assert body.paragraph_format.first_line_indent == Pt(32)  # two characters
    for part in ("淄教督〔2026〕3号", "各镇（街道）、区直有关部门：", OFFICE, "2026年3月9日"):
        assert _east_asian_face(_the(written, part)) == "仿宋_GB2312"
    assert _east_asian_face(_the(written, "一、进度滞后的部门")) == "黑体"


def test_each_face_names_a_noto_cjk_substitute_in_the_font_table(written: DocxDocument) -> None:
    [part] = [p for p in written.part.package.iter_parts() if p.partname == "/word/fontTable.xml"]
    fonts = parse_xml(part.blob)
    substitutes = {
        font.get(qn("w:name")): font.find(qn("w:altName")).get(qn("w:val"))
        for font in fonts.iter(qn("w:font"))
        if font.find(qn("w:altName")) is not None
    }
    assert substitutes == {
        "方正小标宋简体": "Noto Serif CJK SC",
        "仿宋_GB2312": "Noto Serif CJK SC",
        "宋体": "Noto Serif CJK SC",
        "黑体": "Noto Sans CJK SC",
    }


def test_the_signature_is_right_aligned_the_date_four_characters_in(written: DocxDocument) -> None:
    office, date = _the(written, OFFICE), _the(written, "2026年3月9日")
    assert office.alignment == date.alignment == WD_ALIGN_PARAGRAPH.RIGHT
    assert date.paragraph_format.right_indent == Pt(64)
    assert office.paragraph_format.right_indent == Pt(
        16
    )  # centred over the date: 4 + (6 - 12) / 2 characters


def test_the_footer_numbers_the_pages_with_a_page_field(written: DocxDocument) -> None:
    section = written.sections[0]
    assert written.settings.odd_and_even_pages_header_footer
    for footer, align in (
        (section.footer, WD_ALIGN_PARAGRAPH.RIGHT),
        (section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT),
    ):
        [paragraph] = footer.paragraphs
        assert paragraph.alignment == align
        assert paragraph.text == "— 1 —"  # the number Word shows until it updates the field
        instructions = [t.text for t in paragraph._p.iter(qn("w:instrText"))]
        assert [i.strip() for i in instructions] == ["PAGE"]
        kinds = [c.get(qn("w:fldCharType")) for c in paragraph._p.iter(qn("w:fldChar"))]
        assert kinds == ["begin", "separate", "end"]


def test_the_core_properties_name_the_issuing_office(written: DocxDocument) -> None:
    properties = written.core_properties
    assert properties.author == properties.last_modified_by == OFFICE
    assert properties.title == TITLE
    assert "python-docx" not in " ".join(
        (properties.author, properties.comments, properties.last_modified_by)
    )


def test_without_settings_the_plans_issuer_signs_and_no_number_is_printed(
    cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DUBAN_ISSUING_OFFICE", raising=False)
    written = _write(tmp_path, "--office", "淄川区人民政府督查室")
    texts = [p.text for p in written.paragraphs if p.text]
    assert texts[:2] == [TITLE, "各有关部门："]
    assert texts[-2:] == ["淄川区人民政府督查室", "2026年3月9日"]
    assert written.core_properties.author == "淄川区人民政府督查室"


@pytest.mark.parametrize(
    ("given", "number"),
    [
        ("3", DocumentNumber(3)),
        ("03", DocumentNumber(3)),  # printed without the leading zero (不编虚位)
        ("淄教督〔2026〕12号", DocumentNumber(12, 2026, "淄教督")),
        ("淄教督[2026]12号", DocumentNumber(12, 2026, "淄教督")),
        ("〔2025〕7号", DocumentNumber(7, 2025, "")),
    ],
)
def test_a_document_number_is_a_serial_or_a_whole_number(given: str, number: DocumentNumber) -> None:
    assert parse_document_number(given) == number


def test_a_serial_takes_the_code_and_the_year_of_the_date() -> None:
    assert DocumentNumber(3).text(code="淄教督", year=2026) == "淄教督〔2026〕3号"
    assert DocumentNumber(3).text(code="", year=2026) == "〔2026〕3号"
    assert DocumentNumber(12, 2025, "区督").text(code="淄教督", year=2026) == "区督〔2025〕12号"


@pytest.mark.parametrize(
    "given", ["x3", "0", "淄教督〔26〕3号", "淄教督〔2026〕3", "〔2026〕03号", "10000", ""]
)
def test_a_bad_number_is_one_line_exit_2_and_no_file(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    assert main(["seed"]) == 0
    capsys.readouterr()
    output = tmp_path / "通报.docx"
    with pytest.raises(SystemExit) as stop:
        main(["tongbao", "--plan", PLAN, "--output", str(output), "--number", given])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        f"duban tongbao：参数 --number：“{given}”不是发文字号；写作 3 这样的序号，或淄教督〔2026〕3号"
        "（用法见 duban tongbao --help）\n"
    )
    assert list(tmp_path.glob("*.docx")) == [] and list(tmp_path.glob("*.part")) == []


@pytest.mark.parametrize(
    ("option", "given", "says"),
    [
        ("--office", "  ", "--office 应为一行文字，1 至 60 个字"),
        ("--to", "各镇\n区直部门", "--to 应为一行文字，1 至 200 个字"),
    ],
)
def test_an_empty_or_multiline_office_or_addressee_is_refused(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, given: str, says: str
) -> None:
    output = tmp_path / "通报.docx"
    with pytest.raises(SystemExit) as stop:
        main(["tongbao", "--plan", PLAN, "--output", str(output), option, given])
    assert stop.value.code == 2
    assert capsys.readouterr().err == f"duban tongbao：参数 {option}：{says}（用法见 duban tongbao --help）\n"
    assert not output.exists()
