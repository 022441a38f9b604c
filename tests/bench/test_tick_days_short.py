"""bench/tick_days.py on a tiny data set and a five-day walk: what each day's first tick owes, counted, never timed.

The walk runs Thursday evening's first tick ever, then Friday 18 December 2026 to Tuesday 22 December, one fresh
process a day with the chat beside the tick, as the bench runs at 10k and 100k (bench/FIGURES-scale.md).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import tick_days
from bench.generate import DEPARTMENTS, read_expected
from duban.db import make_engine

ROOT = Path(__file__).resolve().parents[2]
MILESTONES = 2_000


def _walk(tmp_path: Path, first: str, last: str, *extra: str) -> list[dict[str, Any]]:
    out = tmp_path / "days.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.tick_days",
            "--sizes",
            str(MILESTONES),
            "--walk-from",
            first,
            "--walk-to",
            last,
            "--workdir",
            str(tmp_path),
            "--json",
            str(out),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return list(json.loads(out.read_text()))


def test_each_days_first_tick_owes_its_reminders_re_chases_and_monday_digest(tmp_path: Path) -> None:
    results = _walk(tmp_path, "2026-12-18", "2026-12-22")
    assert tick_days.check(results, chat=True) == []
    assert [(r["tick"], r["day"], r["data_set"]) for r in results] == [
        ("start", "2026-12-18", "default"),
        *(("day", f"2026-12-{d}", "default") for d in range(18, 23)),
    ]
    days = {r["day"]: r for r in results if r["tick"] == "day"}
    expected = read_expected(make_engine(f"sqlite:///{tmp_path / f'duban_bench_days-{MILESTONES}.db'}"))
    # the generator's probe: its lead reminders are owed on the walk's first day and no later
    assert days["2026-12-18"]["first"]["rows"]["reminder"] >= expected["due_on_tick_lead"] > 0
    for day, result in days.items():
        first = result["first"]["rows"]
        # a reminder nobody answered is chased on the second working day after it went out, every one of them
        assert first.get("rechase", 0) == tick_days.rechases_owed(results, dt.date.fromisoformat(day)), day
        # the backlog a county has: overdue milestones, notified by the ladder on every day of the walk
        assert first["overdue"] > 0 and first["escalation_steps"] > 0, day
        assert result["steady"]["rows_total"] == 0, day
        assert result["chat_idle"]["n"] == tick_days.IDLE_ITERATIONS and result["chat_errors"] == []
        # every /status and /tasks answered: warm-up, those during the tick and the idle ones
        answered = tick_days.CHAT_WARMUP + result["first"]["chat_during"]["n"] + tick_days.IDLE_ITERATIONS
        assert result["chat_answered"] == answered, day
    # re-chases fire on Monday (the start's backlog, sent Thursday evening) and Tuesday (Friday's reminders)
    assert days["2026-12-21"]["first"]["rows"]["rechase"] > 0
    assert days["2026-12-22"]["first"]["rows"]["rechase"] > 0
    # the digest, text and chart, for each lead (one per department of each county), on Monday only
    leads = expected["counties"] * len(DEPARTMENTS) * tick_days.LEADS_PER_DEPARTMENT
    monday = days["2026-12-21"]["digest"]["rows"]
    assert (monday["digest"], monday["digest_chart"]) == (leads, leads)
    assert [day for day, r in days.items() if "digest" in r] == ["2026-12-21"]
    # the walk's worst, one line per data set and size, is what the README sets beside the targets
    assert tick_days.worst(results).splitlines()[2].startswith(f"| sqlite | default | {MILESTONES:,} |")


def test_the_closed_out_set_is_a_second_scenario_labelled_as_such(tmp_path: Path) -> None:
    results = _walk(tmp_path, "2026-12-18", "2026-12-18", "--closed-out", "--no-chat")
    assert tick_days.check(results, chat=False) == []
    assert [(r["tick"], r["data_set"]) for r in results] == [("start", "closed-out"), ("day", "closed-out")]
    day = results[1]
    # the past closed out and no recurring duty: the day owes its reminders and nothing of the ladder
    assert day["first"]["rows"]["reminder"] > 0
    assert not day["first"]["rows"].get("overdue") and day["first"]["rows"]["escalation_steps"] == 0
    assert "chat_during" not in day["first"]


def test_tick_days_has_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.tick_days", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0 and "usage" in done.stdout
