"""The first tick of real days, on the data a county has after a few years, in a cold process, beside the chat.

bench/tick_bench.py measures one chosen day on a warm process; this walks the clock over every day from
`--walk-from` to `--walk-to` (default Monday 14 December 2026 to Tuesday 5 January 2027: an ordinary Tuesday,
two Mondays with their digest, the 18th, 30 and 31 December, 1 January and the working days after each, when the
re-chases of their reminders fall due) on the generator's default data set (half of the past still open, recurring
duties) with one lead (分管领导) per department so the Monday digest and the ladder's 催办 have readers.

  start   the evening before the walk (21:00 Shanghai): the first tick ever, which writes every rung and stale
          reminder owed so far; reported, labelled as such.
  first   each day, 00:01, in a fresh subprocess (imports, caches and the connection pool cold): what `duban run`
          does as a day begins. With chat on (the default) the tick runs in a thread, as bot/main.py runs it, while
          the event loop answers a coordinator's /status and a contact's /tasks one after another.
  steady  00:02, the same process: what every later tick of the day costs.
  digest  on Mondays, 09:00: the digest job (`Jobs.digest`), as the cron job runs it.
  idle    the same /status and /tasks with nothing else running: the p95 the "during" p95 is compared with.
Then, untimed, everything queued that day is marked sent at 09:30, as the dispatcher would have sent it, so the
re-chases of unanswered reminders come due two working days later.

Per tick: wall seconds, CPU seconds (the whole process, chat included, and the tick's own thread), SQL statements
the tick's engine executed (a `before_cursor_execute` listener: one per cursor execute or executemany, with the
parameter sets of executemany beside), rows written by kind (outbox kinds and ladder steps) and the peak RSS of the
process during the tick (VmHWM, reset before each tick). `--closed-out` runs the flattering data set instead (the
past closed out, no recurring duty), labelled as such. Counts are checked (`check`); times never are.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, event, func, update
from sqlmodel import Session, col, select

from bench.common import finish
from bench.generate import read_expected
from bench.handler_latency import Driver, percentile
from duban.config import Settings
from duban.db import make_engine
from models import (
    Contact,
    ContactRole,
    Department,
    DepartmentRole,
    EscalationStep,
    Notification,
    TaskDepartment,
)
from scheduler.escalation import EscalationPolicy
from scheduler.jobs import Jobs
from scheduler.workdays import add_working_days

TZ = ZoneInfo("Asia/Shanghai")
SIZES = (10_000, 100_000)
WALK_FROM, WALK_TO = dt.date(2026, 12, 14), dt.date(2027, 1, 5)
LEADS_PER_DEPARTMENT = 1
CLOSED_OUT = ["--closed-share", "1", "--recurring-share", "0"]  # as bench/tick_bench.py's --closed-out
CHAT_WARMUP = 3
CHAT_GAP_SECONDS = 0.05  # between two chat requests during a tick: people, not a load generator
IDLE_ITERATIONS = 30


class StatementCounter:
    """Statements one engine executes: every cursor execute or executemany, and the parameter sets they carried."""

    def __init__(self, engine: Engine) -> None:
        self.statements = self.parameter_sets = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(
        self, _conn: Any, _cursor: Any, _sql: str, parameters: Any, _ctx: Any, executemany: bool
    ) -> None:
        self.statements += 1
        self.parameter_sets += len(parameters) if executemany else 1

    def read(self) -> tuple[int, int]:
        return self.statements, self.parameter_sets


def reset_peak_rss() -> None:
    """Linux: writing 5 to clear_refs resets VmHWM, so each tick's peak is its own (proc(5))."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=TZ).astimezone(dt.UTC)


def high_water(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        notifications = session.exec(select(func.max(Notification.id))).one()
        steps = session.exec(select(func.max(EscalationStep.id))).one()
    return notifications or 0, steps or 0


def written_since(engine: Engine, mark: tuple[int, int]) -> dict[str, int]:
    """Rows written after `mark` (the ids are increasing): outbox rows by kind, and the ladder's steps."""
    with Session(engine) as session:
        by_kind = dict(
            session.exec(
                select(Notification.kind, func.count())
                .where(col(Notification.id) > mark[0])
                .group_by(col(Notification.kind))
            ).all()
        )
        steps = session.exec(
            select(func.count()).select_from(EscalationStep).where(col(EscalationStep.id) > mark[1])
        ).one()
    return dict(sorted(by_kind.items())) | {"escalation_steps": steps}


def pick_people(engine: Engine) -> tuple[int, int]:
    """The telegram ids of the middle county's coordinator and of the contact with the longest /tasks there."""
    with Session(engine) as session:
        coordinators = session.exec(
            select(Contact).where(Contact.role == ContactRole.coordinator).order_by(col(Contact.id))
        ).all()
        coordinator = coordinators[len(coordinators) // 2]
        department = session.get(Department, coordinator.department_id)
        assert department is not None
        busiest = session.exec(
            select(TaskDepartment.department_id, func.count())
            .join(Department, col(Department.id) == TaskDepartment.department_id)
            .where(Department.region == department.region, TaskDepartment.role == DepartmentRole.lead)
            .group_by(col(TaskDepartment.department_id))
            .order_by(func.count().desc())
        ).first()
        assert busiest is not None
        contact = session.exec(
            select(Contact).where(Contact.department_id == busiest[0], Contact.role == ContactRole.contact)
        ).first()
        assert contact is not None and coordinator.telegram_user_id and contact.telegram_user_id
        return coordinator.telegram_user_id, contact.telegram_user_id


class Chat:
    """A coordinator's /status and a contact's /tasks through the real Application (bench/handler_latency.py)."""

    def __init__(self, url: str, now: dt.datetime, state_dir: Path) -> None:
        self.engine = make_engine(url)  # its own engine: its statements are not the tick's
        self.coordinator, self.contact = pick_people(self.engine)
        # message ids go on from the earlier days' processes: the bot skips a message id it has seen from the
        # same chat within the week (duban/services/inbound.py), as a redelivery
        self.driver = Driver(self.engine, now, state_dir, first_id=int(now.timestamp()))
        self.answered = 0

    def update(self, n: int) -> dict[str, Any]:
        if n % 2:
            return self.driver.message(self.contact, "/tasks")
        return self.driver.message(self.coordinator, "/status")

    async def one(self, n: int) -> float:
        elapsed, _cpu, sent = await self.driver.timed(self.update(n))
        self.answered += len(sent)
        return elapsed * 1000

    async def idle(self, iterations: int) -> list[float]:
        return [await self.one(n) for n in range(iterations)]

    async def beside(self, work: Callable[[], Any]) -> tuple[Any, list[float]]:
        """`work` in a thread (as bot/main.py runs the plan job) while the loop answers chat; (result, ms)."""
        running = asyncio.create_task(asyncio.to_thread(work))
        timings, n = [], 0
        while not running.done():
            timings.append(await self.one(n))
            n += 1
            await asyncio.wait({running}, timeout=CHAT_GAP_SECONDS)
        return await running, timings


def summary(timings: list[float]) -> dict[str, Any]:
    if not timings:
        return {"n": 0}
    return {
        "n": len(timings),
        "p50_ms": round(percentile(timings, 0.5), 1),
        "p95_ms": round(percentile(timings, 0.95), 1),
        "max_ms": round(max(timings), 1),
    }


class Day:
    """One day's ticks in this (fresh) process: the Jobs `duban run` builds, a clock this moves, counters."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.counter = StatementCounter(self.engine)
        self.counting = make_engine(url)  # rows are counted on another engine, outside the tick's statements
        self.moment = dt.datetime.now(dt.UTC)
        self.jobs = Jobs(engine=self.engine, settings=Settings(database_url=url), clock=lambda: self.moment)

    def timed(self, at: dt.datetime, job: Callable[[], None]) -> Callable[[], dict[str, Any]]:
        """A callable that runs `job` at `at` and measures it (in whichever thread calls it)."""

        def run() -> dict[str, Any]:
            self.moment = at
            mark = high_water(self.counting)
            statements, parameter_sets = self.counter.read()
            reset_peak_rss()
            started, cpu, thread_cpu = time.perf_counter(), time.process_time(), time.thread_time()
            job()
            wall = time.perf_counter() - started
            cpu, thread_cpu = time.process_time() - cpu, time.thread_time() - thread_cpu
            peak = peak_rss_mb()
            after = self.counter.read()
            rows = written_since(self.counting, mark)
            return {
                "wall_s": round(wall, 3),
                "cpu_s": round(cpu, 3),
                "tick_thread_cpu_s": round(thread_cpu, 3),
                "statements": after[0] - statements,
                "parameter_sets": after[1] - parameter_sets,
                "rows": rows,
                "rows_total": sum(rows.values()),
                "peak_rss_mb": round(peak, 1),
            }

        return run

    def mark_sent(self, at: dt.datetime) -> dict[str, int]:
        """Setup, not timed: the dispatcher sent what was due by `at` (a row held for a working day waits)."""
        due = (col(Notification.sent_at).is_(None), col(Notification.due_at) <= at)
        with Session(self.counting) as session:
            by_kind = dict(
                session.exec(
                    select(Notification.kind, func.count()).where(*due).group_by(col(Notification.kind))
                ).all()
            )
            session.execute(update(Notification).where(*due).values(sent_at=at, attempts=1))
            session.commit()
        return dict(sorted(by_kind.items()))


async def measure_day(url: str, day: dt.date, *, start: bool, chat: bool) -> dict[str, Any]:
    """The day's ticks in this process; `start`: the evening before, the first tick ever (the whole backlog)."""
    measured = Day(url)
    result: dict[str, Any] = {
        "day": day.isoformat(),
        "weekday": day.strftime("%a"),
        "backend": measured.engine.dialect.name,
        "milestones": read_expected(measured.counting)["milestones"],
        "rss_before_mb": round(peak_rss_mb(), 1),
    }
    first_at = local(day - dt.timedelta(days=1), 21) if start else local(day, 0, 1)
    with tempfile.TemporaryDirectory(prefix="duban-tick-days-") as state_dir:
        talk = Chat(url, first_at, Path(state_dir)) if chat else None
        if talk is not None:
            await talk.driver.app.initialize()
            await talk.idle(CHAT_WARMUP)  # the chat's own first calls are not the tick's cost
        try:
            first = measured.timed(first_at, measured.jobs.plan)
            if talk is not None:
                result["first"], during = await talk.beside(first)
                result["first"]["chat_during"] = summary(during)
            else:
                result["first"] = first()
            if not start:
                result["steady"] = measured.timed(local(day, 0, 2), measured.jobs.plan)()
                if day.weekday() == 0:  # the cron job: Monday 09:00
                    result["digest"] = measured.timed(local(day, 9), measured.jobs.digest)()
            if talk is not None:
                talk.driver.now = local(day, 9, 15)
                result["chat_idle"] = summary(await talk.idle(IDLE_ITERATIONS))
                result["chat_answered"] = talk.answered
                result["chat_errors"] = [repr(e) for e in talk.driver.errors]
        finally:
            if talk is not None:
                await talk.driver.app.shutdown()
                talk.engine.dispose()
    sent_at = local(day - dt.timedelta(days=1), 21, 30) if start else local(day, 9, 30)
    result["marked_sent"] = measured.mark_sent(sent_at)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    measured.engine.dispose()
    measured.counting.dispose()
    return result


def walk(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def run_size(
    url: str,
    milestones: int,
    *,
    walk_from: dt.date,
    walk_to: dt.date,
    closed_out: bool,
    chat: bool,
    progress: Callable[[dict[str, Any]], None] = lambda _: None,
) -> list[dict[str, Any]]:
    """Generate the data set (its tick is the walk's first day), then one fresh subprocess per day."""
    data_set = CLOSED_OUT if closed_out else []
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.generate",
            "--url",
            url,
            "--milestones",
            str(milestones),
            "--tick",
            walk_from.isoformat(),
            "--leads",
            str(LEADS_PER_DEPARTMENT),
            *data_set,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    results = []
    days = [(walk_from, True), *((d, False) for d in walk(walk_from, walk_to))]
    for day, start in days:
        command = [sys.executable, "-m", "bench.tick_days", "--one", url, "--day", day.isoformat()]
        command += ["--start"] * start + ["--no-chat"] * (not chat)
        measured = subprocess.run(command, check=True, capture_output=True, text=True)
        result = json.loads(measured.stdout.strip().splitlines()[-1])
        result["tick"] = "start" if start else "day"
        result["data_set"] = "closed-out" if closed_out else "default"
        results.append(result)
        progress(result)
    return results


def check(results: list[dict[str, Any]], *, chat: bool) -> list[str]:
    """Counts only: the probe's reminders on the walk's first day, re-chases two working days after reminders
    were sent, a digest (text and chart) on each Monday, steady ticks write nothing, every chat update answered."""
    problems = []
    days = [r for r in results if r["tick"] == "day"]
    if not days:
        return ["no day measured"]
    if not days[0]["first"]["rows"].get("reminder"):
        problems.append(f"{days[0]['day']}: the probe's reminders were not queued")
    for r in days:
        if rechases_owed(results, dt.date.fromisoformat(r["day"])) and not r["first"]["rows"].get("rechase"):
            problems.append(f"{r['day']}: no re-chase, though reminders went out two working days before")
        if r["weekday"] == "Mon":
            digest = r.get("digest", {}).get("rows", {})
            if not (digest.get("digest") and digest.get("digest_chart")):
                problems.append(f"{r['day']}: the Monday digest queued {digest}")
        if r["steady"]["rows_total"]:
            problems.append(f"{r['day']}: the steady tick wrote {r['steady']['rows']}")
        if chat and r.get("chat_errors"):
            problems.append(f"{r['day']}: chat errors {r['chat_errors']}")
        if chat and r["chat_answered"] != CHAT_WARMUP + r["first"]["chat_during"]["n"] + r["chat_idle"]["n"]:
            problems.append(f"{r['day']}: {r['chat_answered']} chat answers")
    return problems


def sent_on(result: dict[str, Any]) -> dt.date:
    """The day the bench marked a result's rows sent: the evening before the walk for the start, else the day."""
    day = dt.date.fromisoformat(result["day"])
    return day - dt.timedelta(days=1) if result["tick"] == "start" else day


def rechases_owed(results: list[dict[str, Any]], day: dt.date) -> int:
    """Reminders marked sent on a day whose second working day after is `day`: each is owed a re-chase then."""
    return sum(
        r["marked_sent"].get("reminder", 0)
        for r in results
        if add_working_days(sent_on(r), EscalationPolicy().rechase_after_working_days) == day
    )


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | data set | milestones | day | tick | wall s | CPU s (tick thread) | statements (param sets)"
        " | rows: kind | peak RSS MB | chat p95 ms during (n) / idle |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ticks = (
            [("start", r["first"])]
            if r["tick"] == "start"
            else [("first", r["first"]), ("steady", r["steady"])]
        )
        if "digest" in r:
            ticks.append(("digest 09:00", r["digest"]))
        for name, t in ticks:
            kinds = ", ".join(f"{k} {v}" for k, v in t["rows"].items() if v) or "—"
            chat = ""
            if name in ("first", "start") and "chat_during" in t:
                during, idle = t["chat_during"], r.get("chat_idle", {})
                chat = f"{during.get('p95_ms', '—')} ({during['n']}) / {idle.get('p95_ms', '—')}"
            lines.append(
                f"| {r['backend']} | {r['data_set']} | {r['milestones']:,} | {r['day']} {r['weekday']} | {name}"
                f" | {t['wall_s']} | {t['cpu_s']} ({t['tick_thread_cpu_s']}) | {t['statements']:,}"
                f" ({t['parameter_sets']:,}) | {kinds} | {t['peak_rss_mb']} | {chat} |"
            )
    return "\n".join(lines)


def worst(results: list[dict[str, Any]]) -> str:
    """Per backend, data set and size: the worst of the walk beside issue 29's targets (judged in the README)."""
    lines = [
        "| backend | data set | milestones | first tick of a day, max s (day) | after a start s | steady max ms"
        " | statements per first tick, max (day) | peak RSS MB, max (day) | chat p95 during / idle ms, worst ratio (day) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["backend"], r["data_set"], r["milestones"]), []).append(r)
    for (backend, data_set, milestones), group in groups.items():
        days = [r for r in group if r["tick"] == "day"]
        start = next((r for r in group if r["tick"] == "start"), None)
        slowest = max(days, key=lambda r: r["first"]["wall_s"])
        chattiest = max(days, key=lambda r: r["first"]["statements"])
        ticks = [(r["day"], t) for r in group for t in (r["first"], r.get("steady"), r.get("digest")) if t]
        biggest = max(ticks, key=lambda dt_: dt_[1]["peak_rss_mb"])
        ratio = ""
        chatted = [
            r for r in days if r["first"].get("chat_during", {}).get("n") and r.get("chat_idle", {}).get("n")
        ]
        if chatted:
            w = max(
                chatted,
                key=lambda r: r["first"]["chat_during"]["p95_ms"] / max(r["chat_idle"]["p95_ms"], 0.1),
            )
            during, idle = w["first"]["chat_during"]["p95_ms"], w["chat_idle"]["p95_ms"]
            ratio = f"{during} / {idle}, {during / max(idle, 0.1):.1f}x ({w['day']})"
        lines.append(
            f"| {backend} | {data_set} | {milestones:,} | {slowest['first']['wall_s']} ({slowest['day']})"
            f" | {start['first']['wall_s'] if start else '—'}"
            f" | {max(r['steady']['wall_s'] for r in days) * 1000:.1f}"
            f" | {chattiest['first']['statements']:,} ({chattiest['day']})"
            f" | {biggest[1]['peak_rss_mb']} ({biggest[0]}) | {ratio} |"
        )
    return "\n".join(lines)


def database_url(backend: str, milestones: int, workdir: Path, pg_url: str, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / f'{name}-{milestones}.db'}"
    return f"{pg_url.rstrip('/')}/{name}_{milestones}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--one", metavar="URL", help="measure one day on a generated database (used by the driver)"
    )
    parser.add_argument("--day", type=dt.date.fromisoformat, help="with --one: the day")
    parser.add_argument(
        "--start", action="store_true", help="with --one: the first tick ever, the evening before"
    )
    parser.add_argument("--no-chat", action="store_true", help="the tick alone, no chat beside it")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--walk-from", type=dt.date.fromisoformat, default=WALK_FROM)
    parser.add_argument("--walk-to", type=dt.date.fromisoformat, default=WALK_TO)
    parser.add_argument(
        "--closed-out",
        action="store_true",
        help="the flattering data set: the past closed out, no recurring duty (labelled closed-out)",
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/duban-bench"))
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--name", default="duban_bench_days", help="database name prefix")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    logging.getLogger("scheduler").setLevel(logging.ERROR)  # stale-skip warnings are expected here
    logging.getLogger("duban").setLevel(logging.ERROR)
    if args.one:
        assert args.day is not None, "--one needs --day"
        result = asyncio.run(measure_day(args.one, args.day, start=args.start, chat=not args.no_chat))
        print(json.dumps(result, ensure_ascii=False))
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    name = f"{args.name}_closed" if args.closed_out else args.name
    results, failures = [], []
    for backend in args.backends.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            url = database_url(backend, size, args.workdir, args.pg_url, name)
            size_results = run_size(
                url,
                size,
                walk_from=args.walk_from,
                walk_to=args.walk_to,
                closed_out=args.closed_out,
                chat=not args.no_chat,
                progress=lambda r: print("\n".join(table([r]).splitlines()[2:]), flush=True),
            )
            results += size_results
            failures += [f"{backend} {size}: {p}" for p in check(size_results, chat=not args.no_chat)]
    print(table(results))
    print(worst(results))
    return finish(results, failures, args.json)


if __name__ == "__main__":
    sys.exit(main())
