"""What the seed schema's checks (seed_data/schema.py) and pydantic's own say, as a county clerk would read it:
one Chinese phrase per error, never pydantic's English detail ("Input should be a valid date or datetime, …")."""

from __future__ import annotations

from pydantic_core import ErrorDetails

# the schema's own messages, found by their English words
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

# pydantic's error types (https://docs.pydantic.dev/latest/errors/validation_errors/), by their first words
_BY_TYPE = {
    "missing": "缺少此项",
    "extra_forbidden": "不认识的项，请检查拼写",
    "date": "不是有效日期，应写作 YYYY-MM-DD",
    "datetime": "不是有效的日期时间",
    "int": "应为整数",
    "float": "应为数字",
    "bool": "应为 true 或 false",
    "string": "应为文字",
    "list": "应为列表",
    "dict": "应为键值表",
    "model": "应为键值表",
    "enum": "不是可用的取值",
    "literal_error": "不是可用的取值",
    "too_short": "不能为空",
    "too_long": "内容过长",
    "greater_than": "数值太小",
    "less_than": "数值太大",
    "string_pattern_mismatch": "格式不对",
    "url": "不是有效网址",
}


def schema_message(raw: str, kind: str = "") -> str:
    """The Chinese for one error: the schema's own message where known, else by the error's type."""
    for english, chinese in SCHEMA_MESSAGES.items():
        if english in raw:
            return chinese
    for prefix, chinese in _BY_TYPE.items():
        if kind == prefix or kind.startswith(f"{prefix}_"):
            return chinese
    return "内容不符合要求"


def error_message(error: ErrorDetails) -> str:
    return schema_message(error["msg"], error["type"])
