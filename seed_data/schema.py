"""The shape of a seed file: one YAML file per plan, written for people to review.

The loader validates every file against these models before it touches the database, so a
mistake is reported with the file, the task and the field, and nothing is half-loaded.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Section(StrEnum):
    body = "body"  # 主要任务 / 重点任务
    safeguard = "safeguard"  # 工作保障 / 保障措施
    attachment = "attachment"  # 重点项目清单 / 重点任务清单


class Recurrence(StrEnum):
    none = "none"
    yearly = "yearly"  # 每年: due on 12-31 of each year
    semester = "semester"  # 每学期: due at the end of each term (see SEMESTER_ENDS)
    monthly = "monthly"  # 每月 / 清零月报: due on the 25th


# Chinese school terms: the autumn term ends in late January, the spring term early in July.
SEMESTER_ENDS: tuple[tuple[int, int], ...] = ((1, 20), (7, 10))
MONTHLY_DAY = 25


class SeedMilestone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    due_on: dt.date
    target: str = Field(min_length=1)
    recurrence: Recurrence = Recurrence.none
    until: dt.date | None = None

    @model_validator(mode="after")
    def _due_on_fits_recurrence(self) -> SeedMilestone:
        d = self.due_on
        if self.recurrence is Recurrence.yearly and (d.month, d.day) != (12, 31):
            raise ValueError("a yearly milestone falls due on 12-31")
        if self.recurrence is Recurrence.semester and (d.month, d.day) not in SEMESTER_ENDS:
            raise ValueError("a semester milestone falls due on 01-20 or 07-10")
        if self.recurrence is Recurrence.monthly and d.day != MONTHLY_DAY:
            raise ValueError(f"a monthly milestone falls due on day {MONTHLY_DAY}")
        if self.until is not None:
            if self.recurrence is Recurrence.none:
                raise ValueError("'until' only applies to a recurring milestone")
            if self.until < d:
                raise ValueError("'until' is before the first due date")
        return self


class SeedTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ref: str = Field(min_length=1, max_length=40)
    section: Section
    title: str = Field(min_length=1)
    text: str = Field(min_length=1)
    lead: list[str] = Field(default_factory=list)
    co: list[str] = Field(default_factory=list)
    milestones: list[SeedMilestone] = Field(default_factory=list)

    @field_validator("lead", "co")
    @classmethod
    def _names_are_clean(cls, names: list[str]) -> list[str]:
        for name in names:
            if not name or name != name.strip():
                raise ValueError(f"department name {name!r} is empty or has surrounding spaces")
        if len(set(names)) != len(names):
            raise ValueError("a department is listed twice")
        return names

    @model_validator(mode="after")
    def _milestones_are_distinct(self) -> SeedTask:
        keys = [(m.due_on, m.recurrence) for m in self.milestones]
        if len(set(keys)) != len(keys):
            raise ValueError("two milestones share due_on and recurrence: merge their targets")
        if set(self.lead) & set(self.co):
            raise ValueError("a department is both lead and co")
        return self


# a plan's key: lower-case letters, digits, hyphens and Chinese characters, so that a key can say which county's
# plan it is without pinyin (安丘市-2023-46, as `duban import-plan` derives them; the five curated plans keep
# their pinyin keys)
PLAN_KEY_PATTERN = r"^[a-z0-9\u3400-\u9fff-]+$"
PLAN_KEY_LENGTH = 60


class SeedPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=PLAN_KEY_PATTERN, max_length=PLAN_KEY_LENGTH)
    title: str = Field(min_length=1)
    issuer: str = Field(min_length=1)
    doc_number: str | None = None
    issued_on: dt.date
    region: str = Field(min_length=1)
    source: str = Field(min_length=1)
    # canonical department name -> other names this plan prints for the same department
    departments: dict[str, list[str]] = Field(default_factory=dict)
    tasks: list[SeedTask] = Field(min_length=1)

    @model_validator(mode="after")
    def _refs_unique_and_aliases_consistent(self) -> SeedPlan:
        refs = [t.ref for t in self.tasks]
        dupes = sorted({r for r in refs if refs.count(r) > 1})
        if dupes:
            raise ValueError(f"task refs appear twice: {dupes}")
        seen: dict[str, str] = {}
        for canonical, aliases in self.departments.items():
            for name in [canonical, *aliases]:
                if name in seen and seen[name] != canonical:
                    raise ValueError(f"{name!r} is an alias of both {seen[name]!r} and {canonical!r}")
                seen[name] = canonical
        return self

    def canonical_department(self, printed: str) -> str:
        for canonical, aliases in self.departments.items():
            if printed == canonical or printed in aliases:
                return canonical
        return printed
