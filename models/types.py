"""Column types and enums shared by the tables."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores naive UTC and hands back aware UTC, so SQLite and PostgreSQL agree."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass an aware datetime (UTC)")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Section(StrEnum):
    body = "body"
    safeguard = "safeguard"
    attachment = "attachment"


class DepartmentRole(StrEnum):
    lead = "lead"  # 牵头
    co = "co"  # 配合 / 参与


class Recurrence(StrEnum):
    none = "none"
    yearly = "yearly"
    semester = "semester"
    monthly = "monthly"


# every kind of recurring duty, listed so that (status, recurrence, due_on) can be read as index ranges ("!=" cannot)
RECURRING = tuple(r for r in Recurrence if r != Recurrence.none)

# the predicate of the partial index of recurring duties' task ids, as SQL: a query that means to read that index
# repeats it with the literal, not a bound parameter (SQLite matches the terms, it does not evaluate them)
RECURRING_ONLY = f"recurrence <> '{Recurrence.none.value}'"


class MilestoneStatus(StrEnum):
    open = "open"
    done = "done"  # closed out (销号) after a coordinator's approval
    # 已撤销: the plan no longer has it (a re-seed, import or replace left it out); kept, with its reports, but
    # never reminded, escalated or counted again
    withdrawn = "withdrawn"


# the milestones a plan still has: every status but withdrawn, listed so that (status, recurrence, due_on) can be
# read as index ranges
CURRENT_STATUSES = (MilestoneStatus.open, MilestoneStatus.done)


class ContactRole(StrEnum):
    contact = "contact"  # 联络员: reports for a department
    coordinator = "coordinator"  # 教育局督办: asks for status, approves 销号
    lead = "lead"  # 分管领导: reads the digest


class ReportStatus(StrEnum):
    on_track = "on_track"  # 正常推进
    at_risk = "at_risk"  # 存在风险
    blocked = "blocked"  # 受阻
    done = "done"  # 已完成
