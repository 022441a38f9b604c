"""Working days and quiet hours against the real Chinese holiday calendar (2025/2026 as published)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar  # type: ignore[import-untyped]
import pytest

from scheduler import workdays
from scheduler.workdays import (
    add_working_days,
    closed_since,
    is_working_day,
    next_allowed_moment,
    working_days_between,
)

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Tests monkeypatch the library and check once-per-year warnings, so no cached answers may leak."""
    workdays.is_working_day.cache_clear()
    workdays._warn_uncovered_year.cache_clear()
    yield
    workdays.is_working_day.cache_clear()
    workdays._warn_uncovered_year.cache_clear()


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0, us: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, us, tzinfo=SH)


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0, us: int = 0) -> datetime:
    return local(y, m, d, hh, mm, ss, us).astimezone(UTC)


def test_installed_calendar_covers_the_years_these_tests_rely_on() -> None:
    for year in (2025, 2026):
        chinese_calendar.is_workday(date(year, 6, 1))  # raises NotImplementedError if not covered
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2040, 6, 1))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2025, 9, 24), True),  # ordinary Wednesday
        (date(2025, 9, 27), False),  # ordinary Saturday
        # National Day + Mid-autumn 2025: Oct 1-8 off, Sun Sep 28 and Sat Oct 11 worked in lieu.
        (date(2025, 9, 28), True),
        (date(2025, 10, 1), False),
        (date(2025, 10, 8), False),
        (date(2025, 10, 9), True),
        (date(2025, 10, 11), True),
        (date(2025, 10, 12), False),
        # Spring Festival 2025: Jan 28 - Feb 4 off, Sun Jan 26 and Sat Feb 8 worked in lieu.
        (date(2025, 1, 26), True),
        (date(2025, 1, 28), False),
        (date(2025, 2, 4), False),
        (date(2025, 2, 5), True),
        (date(2025, 2, 8), True),
        # Spring Festival 2026: Feb 15-23 off, Sat Feb 14 and Sat Feb 28 worked in lieu.
        (date(2026, 2, 14), True),
        (date(2026, 2, 15), False),
        (date(2026, 2, 23), False),
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),
        # National Day 2026: Oct 1-7 off, Sun Sep 20 and Sat Oct 10 worked in lieu.
        (date(2026, 9, 20), True),
        (date(2026, 10, 7), False),
        (date(2026, 10, 10), True),
    ],
)
def test_is_working_day_follows_official_calendar(day: date, expected: bool) -> None:
    assert is_working_day(day) is expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2040, 10, 1), True),  # a Monday; surely a holiday in reality, but no data, so Mon-Fri rule
        (date(2040, 10, 6), False),  # Saturday
        (date(2040, 1, 1), False),  # Sunday
        (date(2003, 12, 31), True),  # before the library's first year too
    ],
)
def test_uncovered_years_fall_back_to_monday_to_friday(day: date, expected: bool) -> None:
    assert is_working_day(day) is expected


def test_fallback_warns_once_per_year(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="scheduler.workdays"):
        for offset in range(10):
            is_working_day(date(2040, 3, 1) + timedelta(days=offset))
    warnings = [r for r in caplog.records if "2040" in r.getMessage()]
    assert len(warnings) == 1


def test_fallback_used_when_library_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulates a year the installed package does not know yet, e.g. 2027 before an upgrade."""

    def unsupported(day: date) -> bool:
        raise NotImplementedError(f"no available data for year {day.year}")

    monkeypatch.setattr(chinese_calendar, "is_workday", unsupported)
    assert is_working_day(date(2025, 10, 1)) is True  # Wednesday: holiday unknown, treated as working
    assert is_working_day(date(2025, 9, 28)) is False  # Sunday: in-lieu day unknown, treated as rest
    assert next_allowed_moment(local(2025, 9, 26, 23, 10), tz=SH) == utc(2025, 9, 29, 8, 0)


# --- next_allowed_moment ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # Friday night before National Day; Sunday Sep 28 is a working day in lieu.
        (local(2025, 9, 26, 23, 10), utc(2025, 9, 28, 8, 0)),
        # Whole National Day holiday skipped to Thursday Oct 9.
        (local(2025, 9, 30, 22, 30), utc(2025, 10, 9, 8, 0)),
        (local(2025, 10, 3, 12, 0), utc(2025, 10, 9, 8, 0)),
        (local(2025, 10, 8, 23, 59), utc(2025, 10, 9, 8, 0)),
        # Friday night -> Saturday Oct 11, a working day in lieu.
        (local(2025, 10, 10, 23, 0), utc(2025, 10, 11, 8, 0)),
        # Saturday Oct 11 evening -> Sunday off -> Monday.
        (local(2025, 10, 11, 22, 0), utc(2025, 10, 13, 8, 0)),
        # Spring Festival 2025 eve (Jan 28 is already a holiday) -> Wednesday Feb 5.
        (local(2025, 1, 27, 22, 0), utc(2025, 2, 5, 8, 0)),
        # Spring Festival 2026: Saturday Feb 14 is worked, then nine days off.
        (local(2026, 2, 14, 22, 0), utc(2026, 2, 24, 8, 0)),
        (local(2026, 2, 18, 10, 0), utc(2026, 2, 24, 8, 0)),
        # Quiet hours across midnight on ordinary weekdays.
        (local(2025, 9, 24, 23, 30), utc(2025, 9, 25, 8, 0)),
        (local(2025, 9, 25, 0, 30), utc(2025, 9, 25, 8, 0)),
        (local(2025, 9, 25, 7, 59, 59), utc(2025, 9, 25, 8, 0)),
        # Boundaries: 22:00 is quiet, 08:00 is allowed.
        (local(2025, 9, 24, 22, 0), utc(2025, 9, 25, 8, 0)),
        (local(2025, 9, 24, 21, 59, 59, 999999), utc(2025, 9, 24, 21, 59, 59, 999999)),
        (local(2025, 9, 25, 8, 0), utc(2025, 9, 25, 8, 0)),
        # Uncovered year: plain weekend skipped, no crash.
        (local(2040, 10, 5, 23, 0), utc(2040, 10, 8, 8, 0)),
        (local(2040, 10, 6, 12, 0), utc(2040, 10, 8, 8, 0)),
    ],
)
def test_next_allowed_moment(moment: datetime, expected: datetime) -> None:
    result = next_allowed_moment(moment, tz=SH)
    assert result == expected
    assert result.tzinfo is UTC


def test_allowed_moment_returned_unchanged_in_utc() -> None:
    moment = local(2025, 9, 24, 15, 30, 45, 123456)
    result = next_allowed_moment(moment, tz=SH)
    assert result == moment
    assert result.tzinfo is UTC
    assert result.hour == 7  # 15:30 in Shanghai (UTC+8)


def test_uses_local_date_not_utc_date() -> None:
    # Saturday 20:00 UTC is already Sunday 04:00 in Shanghai, and Sunday Sep 28 2025 is a working day.
    moment = datetime(2025, 9, 27, 20, 0, tzinfo=UTC)
    assert next_allowed_moment(moment, tz=SH) == datetime(2025, 9, 28, 0, 0, tzinfo=UTC)
    # Wednesday 15:00 UTC is 23:00 in Shanghai: quiet, so wait for 08:00 Thursday local.
    moment = datetime(2025, 9, 24, 15, 0, tzinfo=UTC)
    assert next_allowed_moment(moment, tz=SH) == datetime(2025, 9, 25, 0, 0, tzinfo=UTC)


def test_custom_quiet_hours() -> None:
    def nam(moment: datetime, start: time, end: time) -> datetime:
        return next_allowed_moment(moment, tz=SH, quiet_start=start, quiet_end=end)

    assert nam(local(2025, 9, 24, 21, 0), time(21), time(7, 30)) == utc(2025, 9, 25, 7, 30)
    assert nam(local(2025, 9, 24, 20, 59), time(21), time(7, 30)) == utc(2025, 9, 24, 20, 59)
    # A same-day quiet window (lunch break) works too; on a rest day the next allowed moment is midnight.
    assert nam(local(2025, 9, 24, 12, 30), time(12), time(14)) == utc(2025, 9, 24, 14, 0)
    assert nam(local(2025, 9, 27, 12, 30), time(12), time(14)) == utc(2025, 9, 28, 0, 0)
    # Equal bounds mean no quiet hours at all.
    assert nam(local(2025, 9, 24, 3, 0), time(8), time(8)) == utc(2025, 9, 24, 3, 0)


def test_naive_moment_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_allowed_moment(datetime(2025, 9, 24, 12, 0), tz=SH)


def _allowed(dt: datetime) -> bool:
    return is_working_day(dt.date()) and time(8) <= dt.time() < time(22)


def test_next_allowed_moment_is_earliest_allowed_over_the_holiday_season() -> None:
    """Every 37 minutes, mid-September to mid-October 2025: the result is allowed and nothing earlier is."""
    moment = local(2025, 9, 15, 0, 0)
    while moment < local(2025, 10, 20):
        result = next_allowed_moment(moment, tz=SH).astimezone(SH)
        assert result >= moment
        assert _allowed(result)
        if result != moment:
            assert not _allowed(result - timedelta(microseconds=1))
            # Allowed windows last 14 hours, so an hourly probe would land in any window that was skipped.
            probe = moment
            while probe < result:
                assert not _allowed(probe), (moment, result, probe)
                probe += timedelta(hours=1)
        moment += timedelta(minutes=37)


# --- add_working_days / working_days_between -------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "n", "expected"),
    [
        (date(2025, 9, 26), 0, date(2025, 9, 26)),
        (date(2025, 9, 26), 1, date(2025, 9, 28)),  # Sunday worked in lieu
        (date(2025, 9, 26), 2, date(2025, 9, 29)),
        (date(2025, 9, 26), 4, date(2025, 10, 9)),  # across National Day
        (date(2025, 10, 3), 2, date(2025, 10, 10)),  # sent during the holiday: the holiday day doesn't count
        (date(2025, 10, 9), 3, date(2025, 10, 13)),  # Fri Oct 10, Sat Oct 11 (in lieu), Mon Oct 13
        (date(2025, 10, 9), -1, date(2025, 9, 30)),
        (date(2025, 1, 27), 1, date(2025, 2, 5)),  # across Spring Festival 2025
        (date(2026, 2, 13), 2, date(2026, 2, 24)),  # Sat Feb 14 in lieu, then Spring Festival 2026
        (date(2040, 10, 5), 1, date(2040, 10, 8)),  # uncovered year: weekend fallback
    ],
)
def test_add_working_days(day: date, n: int, expected: date) -> None:
    assert add_working_days(day, n) == expected


def test_working_days_between() -> None:
    assert working_days_between(date(2025, 9, 26), date(2025, 10, 9)) == 4
    assert working_days_between(date(2025, 10, 9), date(2025, 9, 26)) == -4  # Sep 26, 28, 29, 30
    assert working_days_between(date(2025, 10, 9), date(2025, 9, 30)) == -1  # start excluded, end included
    assert working_days_between(date(2025, 10, 1), date(2025, 10, 8)) == 0
    assert working_days_between(date(2025, 10, 5), date(2025, 10, 5)) == 0


def test_working_days_between_inverts_add_working_days() -> None:
    start = date(2025, 1, 1)
    for offset in range(0, 730, 11):
        day = start + timedelta(days=offset)
        for n in (-3, 0, 1, 2, 5):
            assert working_days_between(day, add_working_days(day, n)) == n


@pytest.mark.parametrize(
    ("moment", "since"),
    [
        (local(2025, 6, 3, 10), None),  # a Tuesday morning: allowed
        (local(2025, 6, 3, 22), utc(2025, 6, 3, 22)),  # the quiet hours begin
        (local(2025, 6, 4, 2), utc(2025, 6, 3, 22)),  # 02:00: since 22:00 the evening before
        (local(2025, 6, 8, 10), utc(2025, 6, 6, 22)),  # a Sunday: since Friday 22:00
        (local(2025, 10, 5, 12), utc(2025, 9, 30, 22)),  # National Day: since the last working day's evening
        (local(2025, 10, 11, 9), None),  # the 调休 Saturday after it is a working day
    ],
)
def test_closed_since_is_when_the_stretch_of_quiet_hours_and_days_off_began(
    moment: datetime, since: datetime | None
) -> None:
    assert closed_since(moment, tz=SH) == since
