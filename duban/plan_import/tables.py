"""Key-project tables (重点项目清单 / 重点任务清单): one task per row.

A table is recognised by its header row: 序号 plus a department column. Columns are read by name:
牵头部门 -> lead, 参与/配合部门 -> co, 责任分工/责任单位 -> named without roles (first named leads), 完成时限
-> the row's deadline, 项目名称 -> title, the rest (主要任务, 工作目标, 目标成果, 内容措施…) -> text.

A PDF export flattens such a table into running text: the header on one line, then each row as
its number on a line of its own and every cell wrapped at its column's width, one cell after
another. `flat_tables` rebuilds those rows: the deadline line ("2027 年", perhaps followed by the
first department) separates the text cells from the department cell, and the text cells are told
apart by their wrap width (a narrow 项目名称 column, a wider 目标成果, a wider still 内容措施).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from duban.plan_import.attribution import looks_like_department
from duban.plan_import.reader import Table
from duban.plan_import.textnorm import department_form, display_width, split_top_level, squeeze

_DATE_CELL = re.compile(
    r"^\s*(?P<date>20\d\d\s*年(?:\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?)?(?:底前|底|前)?)(?:\s+(?P<rest>\S.*))?$"
)
_ENDS_PARAGRAPH = ("。", "；", ";", "！", "？")


@dataclass
class TableRow:
    number: int
    title: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # (column, text) shown in the task text
    lead: list[str] = field(default_factory=list)
    co: list[str] = field(default_factory=list)
    named: list[str] = field(default_factory=list)
    deadline: str | None = None
    target: str | None = None
    notes: list[str] = field(default_factory=list)


def column_role(name: str) -> str:
    name = squeeze(name)
    if name in ("序号", "编号"):
        return "number"
    if "牵头" in name:
        return "lead"
    if re.search("参与|配合|协同|协助|协办", name):
        return "co"
    if re.search("责任|部门|单位|科室", name):
        return "named"
    if re.search("时限|完成时间|时间节点|时间安排|完成期限", name):
        return "deadline"
    if "名称" in name:
        return "title"
    if "目标" in name:
        return "target"
    return "text"


def is_header(cells: list[str]) -> bool:
    roles = [column_role(c) for c in cells]
    return "number" in roles and any(r in roles for r in ("lead", "co", "named"))


def table_rows(table: Table) -> list[TableRow]:
    """Rows of a real table (Word, or tab-separated text); [] if it is not a task table."""
    header_index = next((i for i, row in enumerate(table.rows) if is_header(row)), None)
    if header_index is None:
        return []
    header = [squeeze(c) for c in table.rows[header_index]]
    rows: list[TableRow] = []
    for cells in table.rows[header_index + 1 :]:
        if [squeeze(c) for c in cells] == header or not any(c.strip() for c in cells):
            continue  # a header repeated on the next page, or an empty row
        cells = cells + [""] * (len(header) - len(cells))
        rows.append(_row(header, cells, flattened=False, position=len(rows) + 1))
    return rows


def departments_in(cell: str, *, flattened: bool) -> list[str]:
    """Names in a department cell. In a real table a line break separates names ("区教体局\\n区妇联"),
    except before a bracket ("区委宣传部\\n（区文明办）"); in a flattened one it only wraps a name."""
    joined = re.sub(r"\n\s*(?=[（(])", "", cell.strip()).replace("\n", "、")
    text = _unwrap_departments(cell) if flattened else joined
    return [n for n in (department_form(p) for p in split_top_level(text, "、，,；;")) if n]


def _unwrap_departments(cell: str) -> str:
    """Flattened, a line break mostly wraps a name ("市委宣传\\n部"); but a line that already ends in a
    whole name ("县教育局\\n县自然资源局", two one-name cells run together) ends that name."""
    text = ""
    for line in (squeeze(line) for line in cell.split("\n")):
        last = re.split("[、，,；;]", text)[-1] if text else ""
        glue = "、" if len(last) >= 3 and looks_like_department(last) and line else ""
        text += glue + line
    return text


def _row(header: list[str], cells: list[str], *, flattened: bool, position: int) -> TableRow:
    row = TableRow(number=position, title="")
    for name, cell in zip(header, cells, strict=False):
        role = column_role(name)
        text = squeeze(cell)
        if role == "number":
            row.number = int(text) if text.isdigit() else position
        elif role == "title":
            row.title = text
        elif role in ("lead", "co", "named"):
            names = departments_in(cell, flattened=flattened)
            getattr(row, role).extend(n for n in names if n not in row.lead + row.co + row.named)
            if role == "named" and text:
                row.fields.append((name, "、".join(names)))
            for odd in (n for n in names if not looks_like_department(n)):
                row.notes.append(f"“{odd}”不像部门名称")
        elif text:
            row.fields.append((name, text))
            if role == "deadline":
                row.deadline = text
            elif role == "target" and row.target is None:
                row.target = text
    if not row.title:
        first_text = next((text for name, text in row.fields if column_role(name) == "text"), "")
        row.title = first_text.split("。")[0][:40]
    return row


def flat_tables(lines: list[str]) -> list[list[TableRow]]:
    """Tables flattened into running text, found by a header line such as "序号 项目名称 … 责任分工"."""
    tables: list[list[TableRow]] = []
    index = 0
    while index < len(lines):
        header = lines[index].split()
        if len(header) >= 3 and is_header(header):
            rows, index = _flat_rows(lines, index + 1, header)
            tables.append(rows)
        else:
            index += 1
    return tables


def _flat_rows(lines: list[str], start: int, header: list[str]) -> tuple[list[TableRow], int]:
    grouped: list[tuple[int, list[str]]] = []
    index = start
    while index < len(lines):
        line = lines[index].strip()
        index += 1
        if not line or line.split() == header:
            continue
        if line.isdigit():
            if int(line) == len(grouped) + 1:
                grouped.append((int(line), []))
            continue  # any other lone number is a page number
        if grouped:
            grouped[-1][1].append(line)
    rows = [_flat_row(header, number, row_lines) for number, row_lines in grouped]
    return rows, index


def _flat_row(header: list[str], number: int, lines: list[str]) -> TableRow:
    roles = [column_role(h) for h in header]
    notes: list[str] = []
    date_at = max((i for i, line in enumerate(lines) if _DATE_CELL.match(line)), default=None)
    deadline = None
    if "deadline" in roles and date_at is not None:
        match = _DATE_CELL.match(lines[date_at])
        assert match is not None
        text_lines, deadline = lines[:date_at], squeeze(match["date"])
        department_lines = ([match["rest"]] if match["rest"] else []) + lines[date_at + 1 :]
    else:
        split = _department_tail(lines)
        text_lines, department_lines = lines[:split], lines[split:]
        missing = "没有完成时限列" if "deadline" not in roles else "中没有找到完成时限"
        notes.append(f"扁平表格{missing}，部门按行尾的部门名称读取，请核对")
    department_columns = [h for h, r in zip(header, roles, strict=True) if r in ("lead", "co", "named")]
    if len(department_columns) > 1:
        # 牵头部门 and 参与部门 run together once flattened: read them as one list, first named leads
        notes.append(f"扁平表格的{'、'.join(department_columns)}无法分开，第一个部门按牵头读取，请核对")
        header = [h for h in header if h not in department_columns] + ["责任单位"]
        roles = [column_role(h) for h in header]
    cells = {h: "" for h in header}
    text_columns = [h for h, r in zip(header, roles, strict=True) if r in ("title", "text", "target")]
    for column, group in zip(text_columns, split_columns(text_lines, len(text_columns)), strict=True):
        cells[column] = "".join(group)
    for column, role in zip(header, roles, strict=True):
        if role == "number":
            cells[column] = str(number)
        elif role == "deadline":
            cells[column] = deadline or ""
        elif role in ("lead", "co", "named"):
            cells[column] = "\n".join(department_lines)
    row = _row(header, [cells[h] for h in header], flattened=True, position=number)
    row.notes.extend(notes)
    return row


def _department_tail(lines: list[str]) -> int:
    """Without a deadline column: the longest tail of lines that reads as a list of department names."""
    split = len(lines)
    for start in range(len(lines) - 1, 0, -1):
        names = split_top_level(squeeze("".join(lines[start:])), "、，")
        if "。" in "".join(lines[start:]) or not names or not all(looks_like_department(n) for n in names):
            break
        split = start
    return split


def split_columns(lines: list[str], k: int) -> list[list[str]]:
    """Cut wrapped lines into k consecutive cells so that each cell's lines fill its column width.

    Within a cell every line but a paragraph's last runs to the column's width (the first may be
    indented); a cut anywhere else leaves lines short of their group's widest one. The cut that leaves the least shortfall wins; a
    text cell (not the first, the title) should also end a sentence.
    """
    if k <= 1:
        return [lines] if k == 1 else []
    n = len(lines)
    if n <= k:
        return [[line] for line in lines] + [[] for _ in range(k - n)]
    widths = [display_width(line.strip()) for line in lines]
    ends = [line.rstrip().endswith(_ENDS_PARAGRAPH) for line in lines]

    def cost(i: int, j: int, first: bool) -> float:
        widest = max(widths[i:j])
        # a paragraph's first line may be indented by two characters
        slack = sum(
            max(0, widest - widths[t] - (4 if t == i or ends[t - 1] else 0))
            for t in range(i, j - 1)
            if not ends[t]
        )
        return slack + (0 if first or ends[j - 1] else 6)

    inf = float("inf")
    best = [[inf] * (n + 1) for _ in range(k + 1)]
    cut = [[0] * (n + 1) for _ in range(k + 1)]
    best[0][0] = 0.0
    for g in range(1, k + 1):
        for j in range(g, n - (k - g) + 1):
            for i in range(g - 1, j):
                if best[g - 1][i] == inf:
                    continue
                value = best[g - 1][i] + cost(i, j, first=g == 1)
                if value < best[g][j]:
                    best[g][j], cut[g][j] = value, i
    bounds = [n]
    for g in range(k, 0, -1):
        bounds.append(cut[g][bounds[-1]])
    bounds.reverse()
    return [lines[bounds[g] : bounds[g + 1]] for g in range(k)]
