"""What goes wrong in a workbook: every problem is named by sheet, row and column, in Chinese."""

from __future__ import annotations

from dataclasses import dataclass

from duban.schema_text import schema_message

__all__ = ["Problem", "XlsxImportError", "schema_message"]


@dataclass(frozen=True)
class Problem:
    sheet: str | None
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.sheet is not None:
            where.append(f"工作表“{self.sheet}”")
        if self.row is not None:
            where.append(f"第{self.row}行")
        if self.column:
            where.append(f"【{self.column}】")
        return f"{' '.join(where)}：{self.message}" if where else self.message


class XlsxImportError(Exception):
    """The workbook cannot be imported; nothing was written. `problems` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems
