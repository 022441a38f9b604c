"""The scale benchmarks, in short mode: they must find exactly what is due, once each. Timings are never asserted.

Each script runs as CI would run it (a subprocess, --short); PostgreSQL is added when a server answers at the
default bench URL, otherwise only SQLite runs.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bench import handler_latency, peer_comparison, planner_bench, tick_bench
from bench.generate import build_rows, generate
from duban import derived
from duban.db import make_engine
from tests.ci import on_ci

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432"
ROOT = Path(__file__).resolve().parents[2]


def _postgres_available() -> bool:
    try:
        engine = create_engine(f"{PG_URL}/postgres", connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


# CI starts PostgreSQL (.ci/run): there its leg must run, never drop out because no server answered
BACKENDS = "sqlite,postgresql" if on_ci() or _postgres_available() else "sqlite"


def _run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", module, "--short", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_generator_puts_exactly_the_probe_on_the_tick() -> None:
    rows, expected = build_rows(
        milestones=3_000,
        contacts=1,
        tick=dt.date(2026, 3, 16),
        due_on_tick=50,
        recurring_share=0.04,
        seed=1,
    )
    assert expected.milestones == len(rows.milestone) == 3_000
    assert expected.due_on_tick_milestones == 50
    ids = [m["id"] for m in rows.milestone]
    assert len(ids) == len(set(ids))
    keys = [(m["task_id"], m["due_on"], m["recurrence"]) for m in rows.milestone]
    assert len(keys) == len(set(keys)), "the (task, due_on, recurrence) unique key holds"


@pytest.mark.parametrize("backend", BACKENDS.split(","))
def test_the_generated_reports_are_copied_onto_their_milestones_by_the_database(
    tmp_path: Path, backend: str
) -> None:
    """The generator writes no copy of a milestone's newest report: the triggers fill it as the reports load
    (executemany on SQLite, COPY on PostgreSQL), and it equals its source."""
    name = f"duban_test_generate_{uuid.uuid4().hex[:8]}"
    url = f"sqlite:///{tmp_path / 'generated.db'}" if backend == "sqlite" else f"{PG_URL}/{name}"
    summary = generate(url, milestones=2_000, due_on_tick=20, reports_share=0.3)
    engine = make_engine(url)
    try:
        assert [drift.found for drift in derived.check(engine, repair=False)] == [0, 0]
        with engine.connect() as connection:
            copied = connection.execute(
                text("SELECT count(*) FROM milestone WHERE latest_report_id IS NOT NULL")
            ).scalar_one()
        assert copied == summary["rows"]["progressreport"] > 0  # one report per milestone at most
    finally:
        engine.dispose()
        if backend != "sqlite":
            admin = create_engine(f"{PG_URL}/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def test_planner_bench_finds_what_is_due(tmp_path: Path) -> None:
    out = tmp_path / "planner.json"
    _run("bench.planner_bench", "--backends", BACKENDS, "--workdir", str(tmp_path), "--json", str(out))
    results = json.loads(out.read_text())
    assert len(results) == len(BACKENDS.split(",")) * len(planner_bench.SHORT_SIZES)
    for result in results:
        assert planner_bench.check(result) == []
        assert result["day_due"] == result["day_expected"] > 0
        assert result["day_duplicates"] == 0 and result["outbox_duplicates"] == 0
        assert result["outbox_stored"] == result["outbox_expected_rows"]
        assert result["outbox_steady_queued"] == 0
        assert result["proposed_window_due"] == result["window_due"]
    # the same reminders are due at every size: the data sets differ only in what is not due
    assert len({r["day_due"] for r in results}) == 1


def test_handler_latency_answers_every_update(tmp_path: Path) -> None:
    out = tmp_path / "handlers.json"
    _run("bench.handler_latency", "--backends", BACKENDS, "--workdir", str(tmp_path), "--json", str(out))
    for result in json.loads(out.read_text()):
        assert handler_latency.check(result) == []
        assert result["progress_reply"]["reports_added"] == result["progress_reply"]["expected_answers"]


def test_peer_comparison_sends_each_reminder_once(tmp_path: Path) -> None:
    out = tmp_path / "peer.json"
    _run("bench.peer_comparison", "--workdir", str(tmp_path), "--json", str(out))
    result = json.loads(out.read_text())
    assert peer_comparison.check(result) == []
    # ours gives each due reminder a contact of its own, so one message per reminder, as one job per reminder sends
    assert result["drain_peer"]["executed"] == result["drain_ours"]["executed"] == result["drain_ours"]["due"]
    assert result["drain_ours"]["duplicate_message_ids"] == 0


def test_tick_bench_queues_the_days_reminders_sends_them_once_and_then_adds_nothing(tmp_path: Path) -> None:
    out = tmp_path / "tick.json"
    _run("bench.tick_bench", "--backends", BACKENDS, "--workdir", str(tmp_path), "--json", str(out))
    results = json.loads(out.read_text())
    assert len(results) == len(BACKENDS.split(",")) * len(tick_bench.SHORT_SIZES)
    for result in results:
        assert tick_bench.check(result) == []
        assert result["start"]["added"]["total"] > 0
        assert result["drain"]["sent"] == result["drain"]["owed"] == result["due"]["added"]["total"]
        # sent and owed are rows; a recipient receives its due rows of one kind as one message
        assert result["drain"]["messages"] == result["drain"]["owed_messages"] < result["drain"]["sent"]
        assert result["drain"]["left"] == 0 and result["steady"]["added"] == 0
        # a contact who joins mid-day is planned on the next tick, not the next day: the day's reminders of their
        # department (the tick day's are sent; those of the catch-up window are owed to the newcomer)
        assert result["changed"]["added"]["reminder"] > 0
    # the reminders of the tick day are the same at every size: only what is not due differs
    reminder_kinds = [
        {k: v for k, v in r["due"]["added"].items() if k in ("reminder", "co_notice")} for r in results
    ]
    assert reminder_kinds[0] and all(kinds == reminder_kinds[0] for kinds in reminder_kinds)


def test_tick_bench_closed_out_owes_only_the_days_reminders(tmp_path: Path) -> None:
    out = tmp_path / "tick.json"
    _run(
        "bench.tick_bench",
        "--backends",
        "sqlite",
        "--closed-out",
        "--workdir",
        str(tmp_path),
        "--json",
        str(out),
    )
    results = json.loads(out.read_text())
    assert [r["data_set"] for r in results] == ["closed-out"] * len(tick_bench.SHORT_SIZES)
    for result in results:
        assert tick_bench.check(result) == []
        owed = {
            kind
            for kind, n in result["due"]["added"].items()
            if n and kind not in ("total", "escalation_steps")
        }
        # the past is closed out: no ladder, no 通报, only the probe's reminders and co-department notices
        assert owed == {"reminder", "co_notice"}
        assert result["due"]["added"]["escalation_steps"] == 0


@pytest.mark.parametrize(
    "module", ["bench.generate", "bench.planner_bench", "bench.handler_latency", "bench.tick_bench"]
)
def test_scripts_have_help(module: str) -> None:
    done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "usage" in done.stdout
