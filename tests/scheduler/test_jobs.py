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
    jobs = Jobs(engine=engine, settings=Settings(), clock=lambda: dt.datetime(2026, 1, 5, 2, tzinfo=dt.UTC))
    jobs.plan()
    jobs.plan()
    assert [c["stale_lookback_days"] for c in calls] == [STALE_LOOKBACK_DAYS, 0]
