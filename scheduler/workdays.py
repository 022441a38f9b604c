"""Working days and quiet hours live in duban/workdays.py, below the services that queue messages; this name stays
for the scheduler's callers."""

from duban.workdays import (
    _warn_uncovered_year,
    add_working_days,
    closed_since,
    is_working_day,
    next_allowed_moment,
    working_days_between,
)

__all__ = [
    "_warn_uncovered_year",
    "add_working_days",
    "closed_since",
    "is_working_day",
    "next_allowed_moment",
    "working_days_between",
]
