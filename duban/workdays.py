"""Working days and quiet hours: when a reminder may reach a county official.

Officials should not be pinged on public holidays or in the middle of the night, but they DO work on the
调休 Saturdays/Sundays that the State Council swaps in around long holidays, so a plain Monday–Friday rule
is wrong. The official calendar comes from the ``chinesecalendar`` package, which only knows the years the
State Council has published (it raises NotImplementedError for the rest). For those years we fall back to
Monday–Friday so reminders keep flowing; upgrade the package once each new year's schedule is out.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache, lru_cache

import chinese_calendar

log = logging.getLogger(__name__)

# Longest stretch we search for an allowed moment; real holidays last at most ~9 days.
_MAX_SEARCH_DAYS = 366


@lru_cache(maxsize=4096)
def is_working_day(day: date) -> bool:
    """True if government offices work on ``day``: public holidays are off, 调休 weekends are on.

    Cached because the scheduler asks about the same few dates over and over.
    """
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        _warn_uncovered_year(day.year)
        return day.weekday() < 5


@cache
def _warn_uncovered_year(year: int) -> None:
    """Warn once per year, not once per date, that holidays are being ignored."""
    log.warning(
        "chinesecalendar has no official holiday data for %d; treating Monday-Friday as working days. "
        "Upgrade the chinesecalendar package.",
        year,
    )


def _is_quiet(t: time, quiet_start: time, quiet_end: time) -> bool:
    """Quiet hours include ``quiet_start``, exclude ``quiet_end``, may wrap past midnight; equal = none."""
    if quiet_start <= quiet_end:
        return quiet_start <= t < quiet_end
    return t >= quiet_start or t < quiet_end


def next_allowed_moment(
    moment: datetime, *, tz: tzinfo, quiet_start: time = time(22), quiet_end: time = time(8)
) -> datetime:
    """The earliest moment >= ``moment`` on a local working day and outside local quiet hours, in UTC.

    Both the working-day check and the quiet hours use the wall clock in ``tz`` (the county's time zone),
    because that is what the recipient lives by. An already-allowed moment comes back unchanged.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("moment must be timezone-aware")
    candidate = moment.astimezone(tz)
    deadline = candidate + timedelta(days=_MAX_SEARCH_DAYS)
    while candidate < deadline:
        if not is_working_day(candidate.date()):
            # Jump to the start of the next day; the loop then skips any quiet hours after midnight.
            candidate = datetime.combine(candidate.date() + timedelta(days=1), time(0), tzinfo=tz)
        elif _is_quiet(candidate.time(), quiet_start, quiet_end):
            end = datetime.combine(candidate.date(), quiet_end, tzinfo=tz)
            candidate = end if end > candidate else end + timedelta(days=1)
        else:
            return candidate.astimezone(UTC)
    raise RuntimeError(f"no allowed moment within {_MAX_SEARCH_DAYS} days of {moment.isoformat()}")


def closed_since(
    moment: datetime, *, tz: tzinfo, quiet_start: time = time(22), quiet_end: time = time(8)
) -> datetime | None:
    """When the stretch of quiet hours and days off that ``moment`` falls in began (UTC), or None when ``moment``
    is allowed: at 02:00 on a Tuesday, Monday 22:00; on a Sunday, Friday 22:00 (or the last working day's).

    For quiet hours that wrap past midnight (the default 22:00-08:00)."""
    if quiet_start <= quiet_end:
        raise ValueError("closed_since knows quiet hours that wrap past midnight")
    if next_allowed_moment(moment, tz=tz, quiet_start=quiet_start, quiet_end=quiet_end) <= moment:
        return None
    local = moment.astimezone(tz)
    if is_working_day(local.date()) and local.time() >= quiet_start:
        return datetime.combine(local.date(), quiet_start, tzinfo=tz).astimezone(UTC)
    day = local.date() - timedelta(days=1)
    for _ in range(_MAX_SEARCH_DAYS):
        if is_working_day(day):
            return datetime.combine(day, quiet_start, tzinfo=tz).astimezone(UTC)
        day -= timedelta(days=1)
    raise RuntimeError(f"no working day within {_MAX_SEARCH_DAYS} days before {moment.isoformat()}")


def add_working_days(day: date, n: int) -> date:
    """The ``n``-th working day after ``day`` (before it if ``n`` < 0; ``day`` itself if ``n`` == 0).

    ``day`` itself never counts, so a task sent on a holiday gets the full ``n`` working days to respond.
    """
    step = timedelta(days=1 if n >= 0 else -1)
    remaining = abs(n)
    while remaining:
        day += step
        if is_working_day(day):
            remaining -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days stepped onto walking from ``start`` to ``end`` (``start`` excluded, ``end`` included).

    Negative when walking backwards. Defined this way so it inverts :func:`add_working_days`:
    ``working_days_between(d, add_working_days(d, n)) == n`` for every ``n``.
    """
    step = 1 if end >= start else -1
    days = range(step, (end - start).days + step, step)
    return step * sum(is_working_day(start + timedelta(days=i)) for i in days)
