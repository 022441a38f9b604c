"""The whole production tick (`Jobs.plan`, then the dispatcher's drain) at 10k, 100k and 1M milestones.

What `duban run` does every DUBAN_PLAN_INTERVAL_SECONDS is `Jobs.plan()`: reminders into the outbox, re-chases, the
overdue ladder and the weekly 通报; the dispatch job then drains the outbox. This script calls exactly that, through
the public API (`scheduler.jobs.Jobs(...).plan()`, `Jobs.dispatcher(bot)` and `scheduler.jobs.dispatch`), so it
keeps measuring whatever those become. On a data set from bench/generate.py (200 milestones, 233 reminders, due
on the tick day at every size), one measuring subprocess per size runs, with a clock it moves:

  1. start    the day before the tick, 21:00 Shanghai: the first tick after a start, which also writes what went
              stale while the service was down and every rung of the overdue ladder reached so far. Then the
              backlog is marked sent, as if yesterday's dispatcher had sent it (setup, not timed).
  2. due      the tick day, 09:30: the day's reminders (~250) and whatever the ladder and the 通报 owe that day.
  3. drain    the dispatcher sends what the due tick queued, to a Bot whose requests are answered in memory,
              pacing off (Telegram's 30 msg/s would otherwise be what is measured).
  4. steady   09:35, 09:40, 09:45: nothing new; the median is what every tick of a running bot costs.
  5. changed  10:00, after a new contact joined a department (one ORM write to a row planning reads, so
              planning_inputs moves and planning_change names the contact): the tick plans again the milestones
              the newcomer must hear about, not the day.
  6. policy   10:05, a restart whose reminder policy adds a step (14 days before): its first tick queues what the
              new step owes today and everything a first tick re-reads (stale look-back, the ladder's week).

Wall time of each phase, the peak RSS of the subprocess (VmHWM), and the peak of Python allocations during one
steady tick (tracemalloc) are reported with the rows each phase wrote. Counts are checked; times never are.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select
from telegram import Bot

from bench.common import finish
from bench.generate import read_expected
from bench.peer_comparison import NoPacer
from bench.planner_bench import maxrss_mb
from bot.telegram.channel import TelegramChannel
from duban.config import Settings
from duban.db import make_engine
from models import Contact, ContactRole, EscalationStep, Notification
from scheduler.jobs import Jobs, dispatch
from tests.telegram_fakes import TOKEN, RecordingRequest

TZ = ZoneInfo("Asia/Shanghai")
SIZES = (10_000, 100_000, 1_000_000)
SHORT_SIZES = (2_000, 8_000)
STEADY_TICKS = 3
NEW_POLICY_DAYS = [180, 90, 30, 14, 7, 1]  # the default steps and one more
# --closed-out: every milestone due before the tick closed out (销号) and no recurring duty, so the ladder and the
# 通报 owe nothing and the due tick owes the probe's ~250 reminders alone, at every size
CLOSED_OUT = ["--closed-share", "1", "--recurring-share", "0"]


def outbox_counts(engine: Engine) -> dict[str, Any]:
    """Rows in the outbox by kind, how many are still owed, and the ladder's recorded rungs."""
    with Session(engine) as session:
        by_kind = dict(
            session.exec(select(Notification.kind, func.count()).group_by(col(Notification.kind))).all()
        )
        unsent = session.exec(
            select(func.count()).select_from(Notification).where(col(Notification.sent_at).is_(None))
        ).one()
        # the rows of one bundle share its message id; an id shared by two bundles would be a mix-up
        sent = select(Notification.bundle_id, Notification.platform_message_id).where(
            col(Notification.platform_message_id).is_not(None)
        )
        message_ids = session.exec(select(func.count(func.distinct(Notification.platform_message_id)))).one()
        bundle_ids = session.exec(select(func.count()).select_from(sent.distinct().subquery())).one()
        steps = session.exec(select(func.count()).select_from(EscalationStep)).one()
    return {
        "by_kind": by_kind,
        "rows": sum(by_kind.values()),
        "unsent": unsent,
        "message_ids": message_ids,
        "bundle_message_ids": bundle_ids,
        "escalation_steps": steps,
    }


def added(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    kinds = set(before["by_kind"]) | set(after["by_kind"])
    return {k: after["by_kind"].get(k, 0) - before["by_kind"].get(k, 0) for k in sorted(kinds)} | {
        "total": after["rows"] - before["rows"],
        "escalation_steps": after["escalation_steps"] - before["escalation_steps"],
    }


def mark_backlog_sent(engine: Engine, at: dt.datetime) -> None:
    """Setup, not timed: what the start tick queued was sent yesterday evening."""
    with Session(engine) as session:
        session.execute(
            update(Notification).where(col(Notification.sent_at).is_(None)).values(sent_at=at, attempts=1)
        )
        session.commit()


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=TZ).astimezone(dt.UTC)


def measure(url: str) -> dict[str, Any]:
    """One data set: start, due, drain, steady; each timed, each phase's rows counted."""
    engine = make_engine(url)
    expected = read_expected(engine)
    tick = dt.date.fromisoformat(expected["tick"])
    moment = [local(tick - dt.timedelta(days=1), 21)]
    jobs = Jobs(engine=engine, settings=Settings(database_url=url), clock=lambda: moment[0])
    result: dict[str, Any] = {
        "backend": engine.dialect.name,
        "milestones": expected["milestones"],
        "due_on_tick_reminders": expected["due_on_tick_reminders"],
    }
    outbox_counts(engine)  # warm the connection pool and imports before the baseline
    result["rss_baseline_mb"] = round(maxrss_mb(), 1)

    def timed_plan(at: dt.datetime) -> tuple[float, dict[str, int]]:
        moment[0] = at
        before = outbox_counts(engine)
        started = time.perf_counter()
        jobs.plan()
        seconds = time.perf_counter() - started
        return seconds, added(before, outbox_counts(engine))

    seconds, rows = timed_plan(local(tick - dt.timedelta(days=1), 21))
    result["start"] = {"seconds": round(seconds, 3), "added": rows, "rss_mb": round(maxrss_mb(), 1)}
    mark_backlog_sent(engine, moment[0])

    seconds, rows = timed_plan(local(tick, 9, 30))
    result["due"] = {"seconds": round(seconds, 3), "added": rows, "rss_mb": round(maxrss_mb(), 1)}

    before = outbox_counts(engine)
    recipients = owed_messages(engine)
    started = time.perf_counter()
    messages, requests = asyncio.run(_drain(jobs))
    drained = outbox_counts(engine)
    result["drain"] = {
        "seconds": round(time.perf_counter() - started, 3),
        "owed": before["unsent"],  # rows
        "sent": before["unsent"] - drained["unsent"],  # rows
        # what the recipients received: each one's due rows of one kind go out as one message (a bundle), so
        # there are fewer messages than rows; a long bundle is split into several requests
        "owed_messages": recipients,
        "messages": messages,
        "recorded_messages": drained["message_ids"] - before["message_ids"],
        "requests": requests,
        "left": drained["unsent"],
        "duplicate_message_ids": drained["bundle_message_ids"] - drained["message_ids"],
        "rss_mb": round(maxrss_mb(), 1),
    }

    steady = [timed_plan(local(tick, 9, 35 + 5 * n)) for n in range(STEADY_TICKS)]
    result["steady"] = {
        "seconds_median": round(statistics.median(s for s, _ in steady), 4),
        "seconds_max": round(max(s for s, _ in steady), 4),
        "added": sum(rows["total"] + rows["escalation_steps"] for _, rows in steady),
        "rss_mb": round(maxrss_mb(), 1),
    }
    tracemalloc.start()
    timed_plan(local(tick, 9, 35 + 5 * STEADY_TICKS))
    result["steady"]["traced_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    tracemalloc.stop()
    result["steady"]["traced_rss_mb"] = round(maxrss_mb(), 1)
    join_one_contact(engine, moment[0])
    seconds, rows = timed_plan(local(tick, 10))
    result["changed"] = {"seconds": round(seconds, 3), "added": rows, "rss_mb": round(maxrss_mb(), 1)}
    # a reminder-policy change is a restart with new settings: its first tick plans what the new step owes
    moment[0] = local(tick, 10, 5)
    jobs = Jobs(
        engine=engine,
        settings=Settings(database_url=url, reminder_days=NEW_POLICY_DAYS),
        clock=lambda: moment[0],
    )
    seconds, rows = timed_plan(moment[0])
    result["policy"] = {"seconds": round(seconds, 3), "added": rows, "rss_mb": round(maxrss_mb(), 1)}
    result["peak_rss_mb"] = round(maxrss_mb(), 1)
    engine.dispose()
    return result


def join_one_contact(engine: Engine, now: dt.datetime) -> None:
    """A second contact joins a department that has one, written as redeeming an invitation writes it (ORM)."""
    with Session(engine) as session:
        first = session.exec(
            select(Contact)
            .where(Contact.role == ContactRole.contact, col(Contact.telegram_user_id).is_not(None))
            .order_by(col(Contact.id))
            .limit(1)  # an ORM result is built whole before .first() picks from it
        ).first()
        assert first is not None
        session.add(
            Contact(
                department_id=first.department_id,
                name="新联络员",
                telegram_user_id=9_900_000_001,
                joined_at=now,
            )
        )
        session.commit()


def owed_messages(engine: Engine) -> int:
    """Messages the unsent rows make: one per recipient and kind, as the dispatcher bundles what is due at once."""
    with Session(engine) as session:
        owed = (
            select(Notification.contact_id, Notification.kind)
            .where(col(Notification.sent_at).is_(None))
            .distinct()
            .subquery()
        )
        return session.exec(select(func.count()).select_from(owed)).one()


async def _drain(jobs: Jobs) -> tuple[int, int]:
    """The dispatch job's own drain (`scheduler.jobs.dispatch`) until nothing due is left; (messages, requests)."""
    request = RecordingRequest()
    bot = Bot(TOKEN, request=request)
    await bot.initialize()
    # the channel `duban run` wires, pacing off as bench/common.py swaps pacers: the drain measures the
    # machinery (rendering included), not Telegram's limits
    dispatcher = jobs.dispatcher(TelegramChannel(bot, pacer=NoPacer(), tz=TZ))
    sent = requests = 0
    while True:
        batch = await dispatch(dispatcher)
        sent += batch.sent
        requests += sum(1 for endpoint, _ in request.calls if endpoint in ("sendMessage", "sendPhoto"))
        request.calls.clear()  # counted: the fake's record of every text sent is not the bot's memory
        if not (batch.sent or batch.failed or batch.retried):
            break
    await bot.shutdown()
    return sent, requests


def check(result: dict[str, Any]) -> list[str]:
    """Counts only: the due tick queues the day's reminders, the drain sends each owed row once, steady adds 0."""
    problems = []
    due = result["due"]["added"]
    if due["total"] <= 0:
        problems.append("the due tick queued nothing")
    if result["drain"]["sent"] != result["drain"]["owed"] or result["drain"]["left"]:
        problems.append(
            f"drain sent {result['drain']['sent']} of {result['drain']['owed']}, {result['drain']['left']} left"
        )
    drain = result["drain"]
    if not drain["messages"] == drain["recorded_messages"] == drain["owed_messages"]:
        problems.append(
            f"{drain['messages']} messages sent, {drain['recorded_messages']} recorded,"
            f" {drain['owed_messages']} owed (one per recipient and kind)"
        )
    if drain["requests"] < drain["messages"]:
        problems.append(f"{drain['requests']} requests for {drain['messages']} messages")
    if result["drain"]["duplicate_message_ids"]:
        problems.append(f"{result['drain']['duplicate_message_ids']} message ids recorded twice")
    if not result["policy"]["added"]["reminder"]:
        problems.append("a restart with a new reminder step queued no reminder")
    if result["steady"]["added"]:
        problems.append(f"steady ticks added {result['steady']['added']} rows")
    if result.get("data_set") == "closed-out" and (due.get("overdue") or due.get("tongbao")):
        problems.append(f"a closed-out data set's due tick queued ladder or 通报 rows: {due}")
    return problems


def run_size(url: str, milestones: int, *, closed_out: bool = False) -> dict[str, Any]:
    """Generate, then measure in a fresh subprocess, so each size's peak memory is its own."""
    data_set = CLOSED_OUT if closed_out else []
    generated = subprocess.run(
        [sys.executable, "-m", "bench.generate", "--url", url, "--milestones", str(milestones), *data_set],
        check=True,
        capture_output=True,
        text=True,
    )
    summary = json.loads(generated.stdout.strip().splitlines()[-1])
    measured = subprocess.run(
        [sys.executable, "-m", "bench.tick_bench", "--one", url], check=True, capture_output=True, text=True
    )
    result = json.loads(measured.stdout.strip().splitlines()[-1])
    result["generate_seconds"] = round(summary["build_seconds"] + summary["write_seconds"], 1)
    result["data_set"] = "closed-out" if closed_out else "default"
    return result


def database_url(
    backend: str, milestones: int, workdir: Path, pg_url: str, name: str = "duban_bench_tick"
) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / f'{name}-{milestones}.db'}"
    return f"{pg_url.rstrip('/')}/{name}_{milestones}"


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | data set | milestones | start s (rows) | due s (rows: kind) | drain s (sent) | steady s median/max"
        " (rows) | steady traced MB | after a change s (rows) | new policy s (rows) | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        due_kinds = ", ".join(f"{k} {v}" for k, v in r["due"]["added"].items() if k != "total" and v)
        lines.append(
            f"| {r['backend']} | {r.get('data_set', 'default')} | {r['milestones']:,} | {r['start']['seconds']} ({r['start']['added']['total']})"
            f" | {r['due']['seconds']} ({due_kinds}) | {r['drain']['seconds']} ({r['drain']['sent']})"
            f" | {r['steady']['seconds_median']}/{r['steady']['seconds_max']} ({r['steady']['added']})"
            f" | {r['steady']['traced_peak_mb']} | {r['changed']['seconds']} ({r['changed']['added']['total']})"
            f" | {r['policy']['seconds']} ({r['policy']['added']['total']}) | {r['peak_rss_mb']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", metavar="URL", help="measure one generated database (used by the driver)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/duban-bench"))
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument(
        "--name", default="duban_bench_tick", help="database name prefix, so runs side by side do not collide"
    )
    parser.add_argument("--short", action="store_true", help=f"small sizes {SHORT_SIZES}, for CI")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--closed-out",
        action="store_true",
        help="the past closed out and no recurring duty: ~250 due on the tick day and nothing else",
    )
    args = parser.parse_args(argv)
    logging.getLogger("scheduler").setLevel(logging.ERROR)  # stale-skip warnings are expected here
    if args.one:
        print(json.dumps(measure(args.one), ensure_ascii=False))
        return 0
    sizes = SHORT_SIZES if args.short else tuple(int(s) for s in args.sizes.split(","))
    args.workdir.mkdir(parents=True, exist_ok=True)
    results, failures = [], []
    name = f"{args.name}_closed" if args.closed_out else args.name
    for backend in args.backends.split(","):
        for size in sizes:
            url = database_url(backend, size, args.workdir, args.pg_url, name)
            result = run_size(url, size, closed_out=args.closed_out)
            results.append(result)
            failures += [f"{backend} {size}: {p}" for p in check(result)]
            print(json.dumps(result, ensure_ascii=False), flush=True)
    print(table(results))
    return finish(results, failures, args.json)


if __name__ == "__main__":
    sys.exit(main())
