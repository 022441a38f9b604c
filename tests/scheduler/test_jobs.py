"""The plan job: the first tick of a process looks back for stale reminders, later ticks only catch up."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine

from duban.config import Settings
from scheduler import jobs as jobs_module
from scheduler.jobs import Jobs
from scheduler.outbox_planner import STALE_LOOKBACK_DAYS


def test_only_the_first_tick_looks_back_for_stale_reminders(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    real = jobs_module.plan_outbox

    def recording(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(jobs_module, "plan_outbox", recording)
    clock = [dt.datetime(2026, 1, 5, 2, tzinfo=dt.UTC)]
    jobs = Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0])
    jobs.plan()
    clock[0] += dt.timedelta(days=1)
    jobs.plan()
    assert [c["stale_lookback_days"] for c in calls] == [STALE_LOOKBACK_DAYS, 0]


def test_later_ticks_read_only_recent_rungs_and_the_tongbao_once_a_week(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ladder: list[int] = []
    tongbao: list[dt.datetime] = []
    monkeypatch.setattr(jobs_module, "plan_escalations", lambda **kw: ladder.append(kw["lookback_days"]) or 0)
    monkeypatch.setattr(jobs_module, "plan_tongbao", lambda **kw: tongbao.append(kw["now"]) or 0)
    clock = [dt.datetime(2026, 1, 5, 2, tzinfo=dt.UTC)]  # a Monday
    jobs = Jobs(engine=engine, settings=Settings(), clock=lambda: clock[0])
    for hours in (0, 1, 30, 24 * 7):  # Monday twice, Tuesday, the next Monday
        clock[0] = dt.datetime(2026, 1, 5, 2, tzinfo=dt.UTC) + dt.timedelta(hours=hours)
        jobs.plan()
    # the second tick on Monday finds nothing changed since the first and does not climb the ladder again
    assert ladder == [jobs_module.FULL_LOOKBACK_DAYS] + [jobs_module.STEADY_LOOKBACK_DAYS] * 2
    assert [t.date() for t in tongbao] == [dt.date(2026, 1, 5), dt.date(2026, 1, 12)]
