"""When reminders go out: days before each due date, globally and per plan."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReminderPolicy:
    lead_days: tuple[int, ...] = (180, 90, 30, 7, 1)
    co_notice_days: int = 30
    per_plan: dict[str, tuple[int, ...]] = field(default_factory=dict)  # plan key -> lead days

    def lead_days_for(self, plan_key: str) -> tuple[int, ...]:
        return self.per_plan.get(plan_key, self.lead_days)

    @property
    def horizon_days(self) -> int:
        return max(
            [self.co_notice_days, *self.lead_days, *(d for days in self.per_plan.values() for d in days)]
        )
