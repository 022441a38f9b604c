"""What goes wrong in a workbook: every problem is named by sheet, row and column, in Chinese."""

from __future__ import annotations

from dataclasses import dataclass


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


# the schema's own messages (seed_data/schema.py), as a county clerk would read them
SCHEMA_MESSAGES = {
    "a yearly milestone falls due on 12-31": "周期为“每年”的节点应在12月31日到期",
    "a semester milestone falls due on 01-20 or 07-10": "周期为“每学期”的节点应在1月20日或7月10日到期",
    "a monthly milestone falls due on day": "周期为“每月”的节点应在每月25日到期",
    "'until' only applies to a recurring milestone": "只有周期性节点才有截止年份",
    "'until' is before the first due date": "周期截止日期早于第一次到期日",
    "a department is listed twice": "同一部门写了两次",
    "two milestones share due_on and recurrence": "两个节点的完成时限和周期相同，请把目标合并到一行",
    "a department is both lead and co": "同一部门既是牵头部门又是配合部门",
    "is empty or has surrounding spaces": "部门名称为空",
    "task refs appear twice": "序号重复",
    "is an alias of both": "一个部门简称对应了两个部门",
    "String should have at least 1 character": "不能为空",
    "String should have at most": "内容过长",
    "Input should be a valid date": "不是有效日期",
}


def schema_message(raw: str) -> str:
    for english, chinese in SCHEMA_MESSAGES.items():
        if english in raw:
            return chinese
    return f"数据不符合要求（{raw}）"
