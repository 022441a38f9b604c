"""How much one planner tick costs at 10k, 100k and 1M milestones, on SQLite and PostgreSQL.

A tick is what the bot does every DUBAN_PLAN_INTERVAL_SECONDS: `plan_reminders` for the day, and `plan_outbox`,
which writes what is due into the outbox. The data sets (bench/generate.py) have the same number of reminders due
on the tick day at every size, so a planner whose cost follows what is due should take near-constant time; the
output puts the rows each query examines next to the reminders found, which shows where it does not.

Every size runs in its own subprocess (generation too), so the peak RSS reported is that size's alone. Besides the
product functions, the script times the candidate query the planner runs and the narrower one proposed in
FIGURES-scale.md (an index on (recurrence, due_on) and one due_on range per reminder step), on the same data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, func, or_, text
from sqlmodel import Session, col, select

from bench.common import finish
from bench.generate import CO_NOTICE_DAYS, LEAD_STEPS, read_expected
from duban.db import make_engine
from models import Contact, ContactRole, Milestone, MilestoneStatus, Notification, Recurrence
from scheduler.outbox_planner import STALE_LOOKBACK_DAYS, plan_outbox
from scheduler.planner import (
    candidate_filter,  # the query the planner runs (was this bench's proposal)
    plan_reminders,
)
from scheduler.policy import ReminderPolicy

TZ = ZoneInfo("Asia/Shanghai")
CATCH_UP_DAYS = 7
SIZES = (10_000, 100_000, 1_000_000)
SHORT_SIZES = (2_000, 8_000)
PROPOSED_INDEX = "ix_bench_milestone_recurrence_due_on"


def maxrss_mb() -> float:
    """Peak resident set size of this process so far.

    VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so a child started by a big parent
    would report the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_candidates(start: dt.date, horizon: dt.date) -> Any:
    """The WHERE clause plan_reminders uses today (copied, so it can be counted and EXPLAINed)."""
    return and_(
        Milestone.status == MilestoneStatus.open,
        or_(col(Milestone.recurrence) != Recurrence.none, col(Milestone.due_on).between(start, horizon)),
    )


def explain(engine: Engine, where: Any) -> tuple[str, int | None]:
    """The plan's first line, and on PostgreSQL how many rows the scan really read (returned + filtered out)."""
    statement = select(Milestone.id).where(where)
    compiled = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
            return " | ".join(r[3] for r in rows), None
        lines = [r[0] for r in conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT TEXT) {compiled}").all()]
    scanned = 0
    for line in lines:
        stripped = line.strip().lstrip("-> ")
        if ("Scan on milestone" in stripped or "Scan using" in stripped) and "actual" in stripped:
            scanned += int(stripped.split("rows=")[2].split()[0])
        if stripped.startswith("Rows Removed by Filter") or stripped.startswith(
            "Rows Removed by Index Recheck"
        ):
            scanned += int(stripped.split(":")[1])
    return lines[0].split("  (")[0].strip(), scanned


def rows_scanned_sqlite(engine: Engine, plan_line: str, fetched: int) -> int:
    """SQLite does not count: infer the rows read from which index the plan uses."""
    with Session(engine) as session:
        if "ix_milestone_status" in plan_line:
            return session.exec(
                select(func.count()).select_from(Milestone).where(Milestone.status == MilestoneStatus.open)
            ).one()
        if plan_line.startswith("SCAN milestone"):
            return session.exec(select(func.count()).select_from(Milestone)).one()
    return fetched  # an index range search reads what it returns


def time_candidates(engine: Engine, where: Any, repeats: int = 3) -> tuple[int, float]:
    timings, count = [], 0
    for _ in range(repeats):
        with Session(engine) as session:
            started = time.perf_counter()
            count = len(session.exec(select(Milestone).where(where)).all())
            timings.append(time.perf_counter() - started)
    return count, min(timings)


def measure(url: str, *, repeats: int = 3, proposed: bool = True) -> dict[str, Any]:
    """One data set: plan_reminders for the tick day, then plan_outbox cold and steady; counts checked."""
    engine = make_engine(url)
    expected = read_expected(engine)
    tick = dt.date.fromisoformat(expected["tick"])
    policy = ReminderPolicy()
    result: dict[str, Any] = {"backend": engine.dialect.name, "milestones": expected["milestones"]}
    with Session(engine) as session:  # warm the connection and imports before the baseline
        session.exec(select(func.count()).select_from(Milestone)).one()
    result["rss_baseline_mb"] = round(maxrss_mb(), 1)

    # 1. plan_reminders for one day
    timings: list[float] = []
    found: list[Any] = []
    for _ in range(repeats):
        with Session(engine) as session:
            started = time.perf_counter()
            found = plan_reminders(session=session, start=tick, end=tick, policy=policy)
            timings.append(time.perf_counter() - started)
    tracemalloc.start()
    with Session(engine) as session:
        plan_reminders(session=session, start=tick, end=tick, policy=policy)
    result["day_traced_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    tracemalloc.stop()
    keys = [(r.kind, r.milestone_id, r.days_before, r.instance_due) for r in found]
    result["day_due"] = len(found)
    result["day_expected"] = expected["due_on_tick_reminders"]
    result["day_duplicates"] = len(keys) - len(set(keys))
    result["day_seconds_min"] = round(min(timings), 4)
    result["day_seconds_median"] = round(statistics.median(timings), 4)

    horizon = tick + dt.timedelta(days=policy.horizon_days)
    where_now = current_candidates(tick, horizon)
    plan_line, scanned = explain(engine, where_now)
    fetched, fetch_seconds = time_candidates(engine, where_now, repeats)
    result["day_query_plan"] = plan_line
    result["day_rows_fetched"] = fetched
    result["day_rows_scanned"] = (
        scanned if scanned is not None else rows_scanned_sqlite(engine, plan_line, fetched)
    )
    result["day_fetch_seconds"] = round(fetch_seconds, 4)
    result["rss_after_day_mb"] = round(maxrss_mb(), 1)

    # 2. plan_outbox: first run at 09:30 on the tick (empty outbox), then the next tick five minutes later
    now = dt.datetime.combine(tick, dt.time(9, 30), tzinfo=TZ)
    window_start = tick - dt.timedelta(days=CATCH_UP_DAYS + STALE_LOOKBACK_DAYS)
    with Session(engine) as session:
        in_window = plan_reminders(session=session, start=window_start, end=tick, policy=policy)
        expected_rows = _recipients(session, in_window)
    with Session(engine) as session:
        started = time.perf_counter()
        cold = plan_outbox(session=session, now=now, policy=policy, tz=TZ, catch_up_days=CATCH_UP_DAYS)
        result["outbox_cold_seconds"] = round(time.perf_counter() - started, 3)
    result["rss_after_outbox_cold_mb"] = round(maxrss_mb(), 1)
    with Session(engine) as session:
        started = time.perf_counter()
        steady = plan_outbox(
            session=session,
            now=now + dt.timedelta(minutes=5),
            policy=policy,
            tz=TZ,
            catch_up_days=CATCH_UP_DAYS,
        )
        result["outbox_steady_seconds"] = round(time.perf_counter() - started, 3)
    with Session(engine) as session:
        stored = session.exec(select(func.count()).select_from(Notification)).one()
        distinct = session.exec(select(func.count(func.distinct(Notification.idempotency_key)))).one()
        sendable = session.exec(
            select(func.count()).select_from(Notification).where(col(Notification.attempts) == 0)
        ).one()
    result["outbox_window_reminders"] = len(in_window)
    result["outbox_expected_rows"] = expected_rows
    result["outbox_cold_queued"] = cold.queued
    result["outbox_cold_skipped"] = cold.skipped_stale
    result["outbox_stored"] = stored
    result["outbox_duplicates"] = stored - distinct
    result["outbox_sendable"] = sendable  # not skipped as stale
    result["outbox_steady_queued"] = steady.queued + steady.skipped_stale
    result["outbox_steady_key_checks"] = expected_rows  # every reminder of the window is looked up again
    result["rss_peak_mb"] = round(maxrss_mb(), 1)

    # 3. the proposed query, after the proposed index exists (so the product numbers above are without it)
    if proposed:
        with engine.begin() as conn:
            conn.execute(
                text(f"CREATE INDEX IF NOT EXISTS {PROPOSED_INDEX} ON milestone (status, recurrence, due_on)")
            )
            conn.exec_driver_sql("ANALYZE milestone")
        where_new = candidate_filter(tick, tick, policy)
        plan_line, scanned = explain(engine, where_new)
        fetched, fetch_seconds = time_candidates(engine, where_new, repeats)
        result["proposed_query_plan"] = plan_line
        result["proposed_rows_fetched"] = fetched
        result["proposed_rows_scanned"] = (
            scanned if scanned is not None else rows_scanned_sqlite(engine, plan_line, fetched)
        )
        result["proposed_fetch_seconds"] = round(fetch_seconds, 4)
        with Session(engine) as session:  # over the whole outbox window, which reaches recurring instances
            result["proposed_window_due"] = _reminders_from(session, window_start, tick, policy)
        result["window_due"] = len(in_window)
    engine.dispose()
    return result


def _recipients(session: Session, reminders: list[Any]) -> int:
    """Outbox rows the reminders must become: one per joined, active contact of each responsible department."""
    contacts = session.exec(
        select(Contact.department_id, func.count())
        .where(Contact.role == ContactRole.contact, Contact.active == True)  # noqa: E712
        .where(col(Contact.telegram_user_id).is_not(None))
        .group_by(Contact.department_id)
    ).all()
    per_department = dict(contacts)
    return sum(per_department.get(d, 0) for r in reminders for d in r.department_ids)


def _reminders_from(session: Session, start: dt.date, end: dt.date, policy: ReminderPolicy) -> int:
    """Reminders whose milestone the proposed query keeps: must equal plan_reminders' count (loses nothing)."""
    ids = set(session.exec(select(Milestone.id).where(candidate_filter(start, end, policy))).all())
    found = plan_reminders(session=session, start=start, end=end, policy=policy)
    return sum(1 for r in found if r.milestone_id in ids)


def run_size(url: str, milestones: int, *, contacts: int, proposed: bool) -> dict[str, Any]:
    """Generate then measure in fresh subprocesses, so each size's peak memory is its own."""
    generated = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.generate",
            "--url",
            url,
            "--milestones",
            str(milestones),
            "--contacts",
            str(contacts),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    summary = json.loads(generated.stdout.strip().splitlines()[-1])
    command = [sys.executable, "-m", "bench.planner_bench", "--one", url]
    if not proposed:
        command.append("--no-proposed")
    measured = subprocess.run(command, check=True, capture_output=True, text=True)
    result = json.loads(measured.stdout.strip().splitlines()[-1])
    result["generate_seconds"] = round(summary["build_seconds"] + summary["write_seconds"], 1)
    return result


def database_url(backend: str, milestones: int, workdir: Path, pg_url: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / f'planner-{milestones}.db'}"
    return f"{pg_url.rstrip('/')}/duban_bench_planner_{milestones}"


def check(result: dict[str, Any]) -> list[str]:
    """Correctness only: what was found is what the data set says is due, each once."""
    problems = []
    if result["day_due"] != result["day_expected"]:
        problems.append(f"plan_reminders found {result['day_due']}, expected {result['day_expected']}")
    if result["day_duplicates"]:
        problems.append(f"{result['day_duplicates']} duplicate reminders")
    if result["outbox_cold_queued"] + result["outbox_cold_skipped"] != result["outbox_expected_rows"]:
        problems.append(
            f"plan_outbox wrote {result['outbox_cold_queued'] + result['outbox_cold_skipped']}, "
            f"expected {result['outbox_expected_rows']}"
        )
    if result["outbox_stored"] != result["outbox_expected_rows"] or result["outbox_duplicates"]:
        problems.append(
            f"outbox holds {result['outbox_stored']} rows, {result['outbox_duplicates']} duplicates"
        )
    if result["outbox_steady_queued"]:
        problems.append(f"a second tick added {result['outbox_steady_queued']} rows")
    if "proposed_window_due" in result and result["proposed_window_due"] != result["window_due"]:
        problems.append(
            f"proposed query keeps {result['proposed_window_due']} of {result['window_due']} reminders"
        )
    return problems


COLUMNS = (
    ("backend", "backend"),
    ("milestones", "milestones"),
    ("day_due", "due"),
    ("day_rows_fetched", "fetched"),
    ("day_rows_scanned", "scanned"),
    ("day_seconds_median", "plan_reminders s"),
    ("day_traced_peak_mb", "traced MB"),
    ("proposed_rows_scanned", "proposed scanned"),
    ("proposed_fetch_seconds", "proposed fetch s"),
    ("day_fetch_seconds", "current fetch s"),
    ("outbox_expected_rows", "outbox rows"),
    ("outbox_cold_seconds", "outbox cold s"),
    ("outbox_steady_seconds", "outbox steady s"),
    ("rss_peak_mb", "peak RSS MB"),
    ("generate_seconds", "generate s"),
)


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in results:
        lines.append("| " + " | ".join(str(r.get(k, "")) for k, _ in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", metavar="URL", help="measure one generated database (used by the driver)")
    parser.add_argument("--no-proposed", action="store_true", help="skip the proposed-index comparison")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--contacts", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/duban-bench"))
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--short", action="store_true", help=f"small sizes {SHORT_SIZES}, for CI")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    logging.getLogger("scheduler").setLevel(logging.ERROR)  # stale-skip warnings are expected here
    if args.one:
        print(json.dumps(measure(args.one, proposed=not args.no_proposed), ensure_ascii=False))
        return 0
    sizes = SHORT_SIZES if args.short else tuple(int(s) for s in args.sizes.split(","))
    args.workdir.mkdir(parents=True, exist_ok=True)
    results, failures = [], []
    for backend in args.backends.split(","):
        for size in sizes:
            url = database_url(backend, size, args.workdir, args.pg_url)
            result = run_size(url, size, contacts=args.contacts, proposed=not args.no_proposed)
            results.append(result)
            failures += [f"{backend} {size}: {p}" for p in check(result)]
            print(json.dumps(result, ensure_ascii=False), flush=True)
    print(table(results))
    print(
        f"steps: lead {LEAD_STEPS}, co notice {CO_NOTICE_DAYS}; tick window for plan_outbox: "
        f"{CATCH_UP_DAYS + STALE_LOOKBACK_DAYS} days back"
    )
    return finish(results, failures, args.json)


if __name__ == "__main__":
    sys.exit(main())
