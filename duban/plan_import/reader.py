"""Read a plan document (.txt or .docx) into lines of text and tables, in reading order.

A table stays a table as long as the file still knows it is one: a Word table, or the tab layouts
a Word-to-text export writes. A table that a PDF export flattened into running text is just lines here; `tables`
recognises it later by its header row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from duban.plan_import.textnorm import clean_line

if TYPE_CHECKING:
    from docx.table import Table as DocxTable


class UnreadableDocument(Exception):
    """The file is not a plan document we can read (wrong type, broken file, unknown encoding)."""


@dataclass
class Table:
    """Rows of cells; a cell keeps its own line breaks ("区教体局\\n区妇联" names two departments)."""

    rows: list[list[str]]


@dataclass
class Document:
    name: str
    blocks: list[str | Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [b for b in self.blocks if isinstance(b, str)]


def read_document(path: Path) -> Document:
    suffix = path.suffix.lower()
    if suffix == ".docx":
        return _read_docx(path)
    if suffix in {".txt", ".text", ""}:
        return Document(name=path.name, blocks=_blocks_from_text(_decode(path.read_bytes(), path.name)))
    raise UnreadableDocument(f"{path.name}：只能导入 .txt 或 .docx 格式的方案原文")


def _decode(data: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableDocument(
        f"{name}：文本文件既不是 UTF-8 也不是 GB18030（GBK）编码，请另存为 UTF-8 后再导入"
    )


_FIRST_CELL = re.compile(r"^\s*(序号|编号)\s*$")


def _blocks_from_text(text: str) -> list[str | Table]:
    """Plain lines, except a table, which becomes a Table.

    Two table layouts come out of Word-to-text exports: one cell per line, each starting with a tab,
    rows separated by a blank line; or one row per line, cells separated by tabs. Either is
    recognised by its first cell, 序号; any other line starting with a tab is an indented paragraph.
    """
    raw = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[str | Table] = []
    i = 0
    while i < len(raw):
        cells = raw[i].split("\t")
        if raw[i].startswith("\t") and _FIRST_CELL.match(raw[i]):
            table, i = _cell_per_line_table(raw, i)
            blocks.append(table)
        elif len(cells) >= 3 and _FIRST_CELL.match(cells[0]):
            table, i = _row_per_line_table(raw, i)
            blocks.append(table)
        else:
            blocks.append(clean_line(raw[i]))
            i += 1
    return blocks


def _row_per_line_table(raw: list[str], start: int) -> tuple[Table, int]:
    i = start
    rows = []
    while i < len(raw) and "\t" in raw[i]:
        rows.append([clean_line(cell).strip() for cell in raw[i].split("\t")])
        i += 1
    return Table(rows=rows), i


def _cell_per_line_table(raw: list[str], start: int) -> tuple[Table, int]:
    """Rows end at a blank line; a cell starts with a tab, a line without one continues the cell."""
    rows: list[list[str]] = []
    row: list[list[str]] = []
    i = start
    while i < len(raw):
        line = raw[i]
        if not line.strip() and not line.startswith("\t"):
            if row:
                rows.append(["\n".join(cell).strip() for cell in row])
                row = []
            # the table ends where the next non-blank line is not a cell
            j = i + 1
            while j < len(raw) and not raw[j].strip() and not raw[j].startswith("\t"):
                j += 1
            if j >= len(raw) or not raw[j].startswith("\t"):
                return Table(rows=rows), j
            i = j
            continue
        if line.startswith("\t"):
            row.append([clean_line(line[1:]).strip()])
        elif row:
            row[-1].append(clean_line(line).strip())
        i += 1
    if row:
        rows.append(["\n".join(cell).strip() for cell in row])
    return Table(rows=rows), i


def _read_docx(path: Path) -> Document:
    try:
        import docx
        from docx.table import Table as DocxTable
        from docx.text.paragraph import Paragraph
    except ImportError as exc:  # pragma: no cover - python-docx is a dependency
        raise UnreadableDocument("读取 .docx 需要 python-docx（pip install python-docx）") from exc
    try:
        document = docx.Document(str(path))
    except Exception as exc:  # python-docx raises several kinds for a broken package
        # python-docx's reasons are English and about zip parts; what the user can act on is the file itself
        raise UnreadableDocument(
            f"{path.name}：不是可以读取的 .docx 文件（文件已损坏，或不是 Word 文档；.doc 请先另存为 .docx）"
        ) from exc
    result = Document(name=path.name)
    auto_numbered = 0
    for element in document.element.body.iterchildren():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = Paragraph(element, document)
            if element.pPr is not None and element.pPr.numPr is not None:
                auto_numbered += 1
            result.blocks.extend(clean_line(line) for line in paragraph.text.split("\n"))
        elif tag == "tbl":
            result.blocks.append(_docx_table(DocxTable(element, document)))
    if auto_numbered:
        result.notes.append(
            f"{auto_numbered} 个段落使用 Word 自动编号，编号不在文字中，这些段落的序号可能缺失，请核对。"
        )
    return result


def _docx_table(table: DocxTable) -> Table:
    rows: list[list[str]] = []
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            # a merged cell is returned once per grid column it spans: keep it once
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            lines = [clean_line(p.text).strip() for p in cell.paragraphs]
            cells.append("\n".join(line for line in lines if line))
        rows.append(cells)
    return Table(rows=rows)
