"""Reading a workbook: every cell as text, merged cells filled in, the header row found.

Two shapes are recognised by their header: the 台账 that `duban export --format xlsx` writes
(序号 / 部分 / 任务 / … / 周期 / … / 任务内容) and a 重点项目清单 (序号 plus 项目名称 or 主要任务 plus a
department column). A header may sit below a title row, and may span two rows under merged
cells ("责任单位" over "牵头部门" and "参与部门").
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from duban.xlsx_import.errors import Problem

HEADER_SEARCH_ROWS = 10
LEDGER_REQUIRED = {"序号", "部分", "任务", "周期", "任务内容"}
NUMBER_COLUMNS = ("序号", "编号")
_SPACE = re.compile(r"\s+")


class NotAWorkbook(Exception):
    """The file is missing or is not an .xlsx workbook; the message says what to do."""


def open_workbook(path: Path) -> Workbook:
    if not path.exists():
        raise NotAWorkbook(f"找不到文件 {path}。")
    if path.is_dir():
        raise NotAWorkbook(f"{path} 是文件夹，不是 xlsx 工作簿。")
    hint = "请在 Excel 或 WPS 中“另存为” Excel 工作簿（.xlsx）后再导入。"
    suffix = path.suffix.lower()
    if suffix in (".xls", ".et"):
        raise NotAWorkbook(f"{path.name} 是旧版表格格式（{suffix}），不是 xlsx 工作簿。{hint}")
    if suffix not in (".xlsx", ".xlsm") or not zipfile.is_zipfile(path):
        raise NotAWorkbook(f"{path.name} 不是 xlsx 工作簿。{hint}")
    try:
        return load_workbook(path, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds of errors for a damaged file
        raise NotAWorkbook(
            f"{path.name} 无法作为 xlsx 工作簿打开（{exc.__class__.__name__}）。{hint}"
        ) from exc


def cell_text(value: Any) -> str:
    """A cell as the text a person sees: numbers without a trailing .0, dates as YYYY-MM-DD."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def squeeze(text: str) -> str:
    """Header names without any whitespace ("牵头\\n部门" is 牵头部门)."""
    return _SPACE.sub("", text.replace("\u3000", ""))


@dataclass
class Row:
    number: int  # the row number Excel shows
    cells: dict[str, str]  # column name -> text, stripped

    def get(self, column: str) -> str:
        return self.cells.get(column, "")


@dataclass
class Sheet:
    name: str
    kind: str  # "ledger" (the 台账 duban exports), "list" (重点项目清单), "" (not recognised)
    columns: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    empty: bool = False


def read_sheets(workbook: Workbook, problems: list[Problem]) -> list[Sheet]:
    return [_read_sheet(ws, problems) for ws in workbook.worksheets]


def _grid(ws: Worksheet) -> list[list[str]]:
    values = [list(row) for row in ws.iter_rows(values_only=True)]
    for merged in ws.merged_cells.ranges:
        top = values[merged.min_row - 1][merged.min_col - 1] if merged.min_row <= len(values) else None
        for r in range(merged.min_row, min(merged.max_row, len(values)) + 1):
            row = values[r - 1]
            for c in range(merged.min_col, min(merged.max_col, len(row)) + 1):
                row[c - 1] = top
    return [[cell_text(v) for v in row] for row in values]


def _read_sheet(ws: Worksheet, problems: list[Problem]) -> Sheet:
    grid = _grid(ws)
    sheet = Sheet(name=ws.title, kind="")
    if not any(cell.strip() for row in grid for cell in row):
        sheet.empty = True
        return sheet
    found = _find_header(grid)
    if found is None:
        return sheet
    last_header_row, columns = found
    sheet.columns = columns
    sheet.kind = _kind(columns)
    if not sheet.kind:
        return sheet
    named = [c for c in columns if c]
    for duplicate in sorted({c for c in named if named.count(c) > 1}):
        problems.append(Problem(sheet.name, last_header_row + 1, duplicate, "表头中这一列出现了两次"))
    number_column = next(c for c in columns if c in NUMBER_COLUMNS)
    for index in range(last_header_row + 1, len(grid)):
        cells = {
            name: grid[index][col].strip()
            for col, name in enumerate(columns)
            if name and col < len(grid[index])
        }
        filled = [v for v in cells.values() if v]
        if not any(v for name, v in cells.items() if name != number_column):
            continue  # an empty row, or a numbered row of a template left blank
        if [squeeze(cells.get(c, "")) for c in columns if c] == named:
            continue  # the header repeated (a printed table's next page)
        if len(filled) >= 2 and len(set(filled)) == 1:
            continue  # a banner merged across the row ("一、基础设施类")
        sheet.rows.append(Row(number=index + 1, cells=cells))
    return sheet


def _find_header(grid: list[list[str]]) -> tuple[int, list[str]] | None:
    """(index of the header's last row, column names) for the first row naming 序号."""
    for index, row in enumerate(grid[:HEADER_SEARCH_ROWS]):
        names = [squeeze(c) for c in row]
        at = next((i for i, n in enumerate(names) if n in NUMBER_COLUMNS), None)
        if at is None:
            continue
        below = [squeeze(c) for c in grid[index + 1]] if index + 1 < len(grid) else []
        if below and below[at] == names[at]:
            # a two-row header: 序号 is merged down, the lower row names the columns under a merged parent
            below += [""] * (len(names) - len(below))
            return index + 1, [b or n for n, b in zip(names, below, strict=False)]
        return index, names
    return None


def _kind(columns: list[str]) -> str:
    present = set(columns)
    if present >= LEDGER_REQUIRED:
        return "ledger"
    has_item = any("名称" in c for c in present) or "主要任务" in present
    has_department = any(re.search("牵头|参与|配合|责任", c) for c in present)
    return "list" if has_item and has_department else ""
