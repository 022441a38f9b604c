"""Instances of a recurring milestone: 每年, 每学期 and 每月 become dated occurrences."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Protocol

from models import Recurrence
from seed_data.schema import MONTHLY_DAY, SEMESTER_ENDS


class Recurring(Protocol):
    """What the instances of a milestone depend on: a Milestone, or just these three columns of one."""

    @property
    def recurrence(self) -> str: ...

    @property
    def due_on(self) -> dt.date: ...

    @property
    def until(self) -> dt.date | None: ...


def _following(recurrence: str, due: dt.date) -> dt.date:
    if recurrence == Recurrence.yearly:
        return due.replace(year=due.year + 1)
    if recurrence == Recurrence.semester:
        ends = [dt.date(due.year, m, d) for m, d in SEMESTER_ENDS] + [
            dt.date(due.year + 1, m, d) for m, d in SEMESTER_ENDS
        ]
        return next(end for end in ends if end > due)
    if recurrence == Recurrence.monthly:
        year, month = (due.year + 1, 1) if due.month == 12 else (due.year, due.month + 1)
        return dt.date(year, month, MONTHLY_DAY)
    raise ValueError(f"{recurrence} does not recur")


def instance_dates(milestone: Recurring, *, through: dt.date) -> Iterator[dt.date]:
    """Every due date of the milestone up to `through` (inclusive), first one first."""
    if milestone.recurrence == Recurrence.none:
        if milestone.due_on <= through:
            yield milestone.due_on
        return
    last = min(through, milestone.until) if milestone.until else through
    due = milestone.due_on
    while due <= last:
        yield due
        due = _following(milestone.recurrence, due)


def current_instance(milestone: Recurring, *, today: dt.date) -> tuple[dt.date | None, dt.date]:
    """(previous due date or None, the due date in force today).

    The one in force is the first instance on or after today; once a bounded milestone has run out, its last.
    """
    if milestone.recurrence == Recurrence.none:
        return None, milestone.due_on
    previous: dt.date | None = None
    due = milestone.due_on
    while due < today and (
        milestone.until is None or _following(milestone.recurrence, due) <= milestone.until
    ):
        previous, due = due, _following(milestone.recurrence, due)
    return previous, due
