"""Ours (planner + outbox) against the common design (one APScheduler job per reminder), in one run.

The common design for reminder bots schedules a job per reminder in APScheduler 3's SQLAlchemyJobStore. This
script measures both designs on the same 100k-milestone data set (bench/generate.py, SQLite):

  plan    peer: add_job for every future reminder;  ours: what a tick does (plan_outbox), plus computing every
          future reminder (plan_reminders to 2035, held nowhere) and enqueue() per row for the same sample
  replan  a policy change adds a 60-day reminder. peer: add_job for each new reminder (a lower bound: a real
          change must also find and remove or reschedule jobs);  ours: the next tick with the new policy
  drain   20k reminders due at once. peer: the scheduler runs 20k jobs whose send is a no-op;  ours: the
          Dispatcher over a no-op bot with pacing switched off (so both measure the machinery, not Telegram)

add_job costs about a millisecond, so "plan" and "replan" time a sample and extrapolate linearly (the first and
last tenth of the sample are reported, to show it is linear); --full adds every job. "drain" runs each side in
its own subprocess so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import logging
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bench.common import fill_outbox
from bench.generate import LAST_DUE, generate, read_expected
from bot.telegram.channel import TelegramChannel
from duban.db import make_engine
from duban.services.outbox import enqueue
from models import Contact, ContactRole, Notification
from scheduler.dispatcher import Dispatcher
from scheduler.outbox_planner import SEND_AT, plan_outbox
from scheduler.pacing import SendPacer
from scheduler.planner import plan_reminders
from scheduler.policy import ReminderPolicy

TZ = ZoneInfo("Asia/Shanghai")
NEW_STEP = 60


# --- the peer's job: importable by reference, as SQLAlchemyJobStore pickles it ---
_sent = itertools.count(1)
_done = threading.Event()
_target = 0


def noop_send(kind: str, milestone_id: int, days_before: int, instance_due: str) -> None:
    """What a peer job would do (send one reminder), without sending."""
    if next(_sent) >= _target:
        _done.set()


def maxrss_mb() -> float:
    """Peak RSS so far: VmHWM, since Linux carries getrusage's ru_maxrss across exec from the parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peer_scheduler(jobstore_path: Path) -> Any:
    """A started, paused BackgroundScheduler, so add_job writes to the job store at once (as in production)."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    jobstore_path.unlink(missing_ok=True)
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{jobstore_path}")}, timezone=TZ
    )
    scheduler.start(paused=True)
    return scheduler


def add_jobs(scheduler: Any, reminders: list[Any], *, run_at: dt.datetime | None = None) -> list[float]:
    """One add_job per reminder, as the peer design does; returns each call's seconds."""
    timings = []
    for r in reminders:
        run_date = run_at or dt.datetime.combine(r.send_on, SEND_AT, tzinfo=TZ)
        started = time.perf_counter()
        scheduler.add_job(
            "bench.peer_comparison:noop_send",
            "date",
            run_date=run_date,
            args=[str(r.kind), r.milestone_id, r.days_before, r.instance_due.isoformat()],
            id=f"{r.kind}:m{r.milestone_id}:d{r.days_before}:{r.instance_due.isoformat()}",
            misfire_grace_time=None,
            replace_existing=True,
        )
        timings.append(time.perf_counter() - started)
    return timings


def linear_summary(timings: list[float], total: int) -> dict[str, Any]:
    tenth = max(1, len(timings) // 10)
    per_job = sum(timings) / len(timings)
    return {
        "sample": len(timings),
        "sample_seconds": round(sum(timings), 2),
        "ms_per_job": round(per_job * 1000, 3),
        "ms_per_job_first_tenth": round(sum(timings[:tenth]) / tenth * 1000, 3),
        "ms_per_job_last_tenth": round(sum(timings[-tenth:]) / tenth * 1000, 3),
        "jobs": total,
        "extrapolated_seconds": round(per_job * total, 1),
    }


def plan_and_replan(url: str, workdir: Path, *, sample: int, full: bool) -> dict[str, Any]:
    engine = make_engine(url)
    tick = dt.date.fromisoformat(read_expected(engine)["tick"])
    now = dt.datetime.combine(tick, dt.time(9, 30), tzinfo=TZ)
    old, new = ReminderPolicy(), ReminderPolicy(lead_days=(180, 90, NEW_STEP, 30, 7, 1))
    result: dict[str, Any] = {}

    with Session(engine) as session:
        started = time.perf_counter()
        future = plan_reminders(session=session, start=tick, end=LAST_DUE, policy=old)
        result["ours_compute_all_seconds"] = round(time.perf_counter() - started, 2)
    keys = {(r.kind, r.milestone_id, r.days_before, r.instance_due) for r in future}
    result["future_reminders"] = len(future)
    result["future_duplicates"] = len(future) - len(keys)

    scheduler = peer_scheduler(workdir / "peer-jobs.db")
    chosen = future if full else future[:: max(1, len(future) // sample)][:sample]
    result["peer_plan"] = linear_summary(add_jobs(scheduler, chosen), len(future))
    result["peer_plan"]["jobs_stored"] = len(scheduler.get_jobs())

    with Session(engine) as session:  # the per-row write ours does, on the same sample, for comparison
        contact = session.exec(select(Contact).where(Contact.role == ContactRole.contact)).first()
        assert contact is not None
        started = time.perf_counter()
        for r in chosen:
            enqueue(
                session=session,
                key=f"bench:{r.kind}:m{r.milestone_id}:d{r.days_before}:{r.instance_due.isoformat()}",
                kind=str(r.kind),
                contact=contact,
                payload={"days": r.days_before, "late_since": None},
                due_at=dt.datetime.combine(r.send_on, SEND_AT, tzinfo=TZ),
                milestone_id=r.milestone_id,
                instance_due_on=r.instance_due,
                tz=TZ,
            )
        session.commit()
        per_row = (time.perf_counter() - started) / len(chosen)
        result["ours_enqueue_ms_per_row"] = round(per_row * 1000, 3)
        session.execute(Notification.__table__.delete())  # type: ignore[attr-defined]
        session.commit()

    with Session(engine) as session:
        started = time.perf_counter()
        tick_result = plan_outbox(session=session, now=now, policy=old, tz=TZ)
        result["ours_tick_seconds"] = round(time.perf_counter() - started, 2)
        result["ours_tick_rows"] = tick_result.queued + tick_result.skipped_stale

    # replan: a 60-day reminder is added to the policy
    with Session(engine) as session:
        started = time.perf_counter()
        after = plan_reminders(session=session, start=tick, end=LAST_DUE, policy=new)
        result["ours_compute_all_new_policy_seconds"] = round(time.perf_counter() - started, 2)
    added = [r for r in after if r.days_before == NEW_STEP and r.kind == "reminder"]
    result["new_step_reminders"] = len(added)
    result["new_policy_reminders"] = len(after)
    chosen_new = added if full else added[:: max(1, len(added) // sample)][:sample]
    result["peer_replan"] = linear_summary(add_jobs(scheduler, chosen_new), len(added))
    scheduler.remove_all_jobs()  # the tick is in the past: a stopping scheduler would otherwise run them
    scheduler.shutdown(wait=False)
    with Session(engine) as session:
        started = time.perf_counter()
        replanned = plan_outbox(session=session, now=now + dt.timedelta(minutes=5), policy=new, tz=TZ)
        result["ours_replan_tick_seconds"] = round(time.perf_counter() - started, 2)
        result["ours_replan_tick_rows"] = replanned.queued + replanned.skipped_stale
        expected_new = plan_reminders(
            session=session, start=tick - dt.timedelta(days=37), end=tick, policy=new
        )
    result["ours_replan_expected_new"] = sum(1 for r in expected_new if r.days_before == NEW_STEP)
    engine.dispose()
    return result


# --- drain: each side in its own process ---


def drain_peer(workdir: Path, due: int) -> dict[str, Any]:
    # the job store calls noop_send through its import path, which under `python -m` is not __main__
    import bench.peer_comparison as jobs

    jobs._target = due
    scheduler = peer_scheduler(workdir / "peer-drain.db")
    now = dt.datetime.now(TZ)
    reminders = [
        SimpleNamespace(
            kind="reminder", milestone_id=i, days_before=1, instance_due=now.date(), send_on=now.date()
        )
        for i in range(due)
    ]
    add_started = time.perf_counter()
    add_jobs(scheduler, reminders, run_at=now)
    add_seconds = time.perf_counter() - add_started
    rss_before = maxrss_mb()
    started = time.perf_counter()
    scheduler.resume()
    finished = jobs._done.wait(timeout=1800)
    seconds = time.perf_counter() - started
    left = len(scheduler.get_jobs())
    scheduler.shutdown(wait=True)
    return {
        "side": "peer",
        "due": due,
        "executed": next(jobs._sent) - 1,
        "jobs_left": left,
        "finished": finished,
        "setup_seconds": round(add_seconds, 1),
        "seconds": round(seconds, 2),
        "rss_before_mb": round(rss_before, 1),
        "peak_rss_mb": round(maxrss_mb(), 1),
    }


class NoPacer(SendPacer):
    """Pacing off: the drain measures the dispatcher, not Telegram's limits."""

    async def wait_turn(self, chat_id: int) -> None:
        return None


class NoopBot:
    """Answers send_message like Telegram, sending nothing."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.sent = 0

    async def send_message(self, **kwargs: Any) -> Any:
        self.sent += 1
        return SimpleNamespace(message_id=next(self.ids))


def drain_ours(workdir: Path, due: int, batch: int) -> dict[str, Any]:
    path = workdir / "ours-drain.db"
    url = f"sqlite:///{path}"
    path.unlink(missing_ok=True)
    now = dt.datetime.now(dt.UTC)
    # reminder rows as the planner writes them (a milestone each, {"days": 30}), each to a contact of its own, so
    # ours sends one message per reminder as the peer's jobs do; the channel renders each one at send time, which
    # the peer's no-op job does not
    engine = fill_outbox(url, rows=due, chats=due, due_at=now - dt.timedelta(minutes=1))
    bot = NoopBot()
    channel = TelegramChannel(bot, pacer=NoPacer(), tz=TZ)  # type: ignore[arg-type]
    dispatcher = Dispatcher(engine=engine, deliver=channel, clock=lambda: now, tz=TZ)
    rss_before = maxrss_mb()

    async def drain() -> int:
        rounds = 0
        while (await dispatcher.run_once(limit=batch)).sent:
            rounds += 1
        return rounds

    started = time.perf_counter()
    rounds = asyncio.run(drain())
    seconds = time.perf_counter() - started
    with Session(engine) as session:
        unsent = len(session.exec(select(Notification.id).where(col(Notification.sent_at).is_(None))).all())
        message_ids = session.exec(select(Notification.platform_message_id)).all()
    engine.dispose()
    return {
        "side": "ours",
        "due": due,
        "executed": bot.sent,
        "unsent": unsent,
        "duplicate_message_ids": len(message_ids) - len(set(message_ids)),
        "rounds": rounds,
        "batch": batch,
        "seconds": round(seconds, 2),
        "rss_before_mb": round(rss_before, 1),
        "peak_rss_mb": round(maxrss_mb(), 1),
    }


def check(result: dict[str, Any]) -> list[str]:
    problems = []
    if result["plan"]["future_duplicates"]:
        problems.append(f"{result['plan']['future_duplicates']} duplicate future reminders")
    if result["plan"]["peer_plan"]["jobs_stored"] != result["plan"]["peer_plan"]["sample"]:
        problems.append("peer job store does not hold one job per reminder added")
    if result["plan"]["new_policy_reminders"] <= result["plan"]["future_reminders"]:
        problems.append("the new 60-day step added no reminders")
    if result["plan"]["ours_replan_tick_rows"] < result["plan"]["ours_replan_expected_new"]:
        problems.append("the tick after the policy change missed 60-day reminders")
    for side in ("peer", "ours"):
        d = result[f"drain_{side}"]
        if d["executed"] != d["due"]:
            problems.append(f"{side} drain sent {d['executed']} of {d['due']}")
    if result["drain_ours"]["unsent"] or result["drain_ours"]["duplicate_message_ids"]:
        problems.append("ours left rows unsent or sent one twice")
    if result["drain_peer"]["jobs_left"]:
        problems.append(f"peer left {result['drain_peer']['jobs_left']} jobs")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drain", choices=("peer", "ours"), help="run one drain side (used by the driver)")
    parser.add_argument("--milestones", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=20_000, help="add_job calls timed for plan and replan")
    parser.add_argument("--full", action="store_true", help="add every job instead of a sample")
    parser.add_argument("--due", type=int, default=20_000, help="reminders due at once in the drain")
    parser.add_argument(
        "--batch", type=int, default=100, help="Dispatcher.run_once limit (the product's default)"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/duban-bench"))
    parser.add_argument("--short", action="store_true", help="5k milestones, 300-job samples, 1k due: for CI")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    logging.getLogger("scheduler").setLevel(logging.ERROR)  # stale-skip warnings are expected here
    if args.short:
        args.milestones, args.sample, args.due = 5_000, 300, 1_000
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.drain:
        run = drain_peer if args.drain == "peer" else drain_ours
        extra = {} if args.drain == "peer" else {"batch": args.batch}
        print(json.dumps(run(args.workdir, args.due, **extra)))
        return 0

    url = f"sqlite:///{args.workdir / f'peer-{args.milestones}.db'}"
    generate(url, milestones=args.milestones)
    result: dict[str, Any] = {"milestones": args.milestones}
    result["plan"] = plan_and_replan(url, args.workdir, sample=args.sample, full=args.full)
    print(json.dumps(result["plan"]), flush=True)
    for side in ("peer", "ours"):
        command = [
            sys.executable,
            "-m",
            "bench.peer_comparison",
            "--drain",
            side,
            "--due",
            str(args.due),
            "--batch",
            str(args.batch),
            "--workdir",
            str(args.workdir),
        ]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        result[f"drain_{side}"] = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(result[f"drain_{side}"]), flush=True)
    p = result["plan"]
    print(f"\n{args.milestones} milestones, {p['future_reminders']} future reminders")
    print("| what | peer (job per reminder) | ours (planner + outbox) |")
    print("|---|---|---|")
    print(
        f"| plan every future reminder | {p['peer_plan']['extrapolated_seconds']} s "
        f"({p['peer_plan']['ms_per_job']} ms/job x {p['peer_plan']['jobs']}) "
        f"| nothing stored ahead: one tick {p['ours_tick_seconds']} s; computing all "
        f"{p['ours_compute_all_seconds']} s; enqueue {p['ours_enqueue_ms_per_row']} ms/row |"
    )
    print(
        f"| replan after a new {NEW_STEP}-day step | {p['peer_replan']['extrapolated_seconds']} s "
        f"({p['peer_replan']['jobs']} new jobs, adds only) | next tick {p['ours_replan_tick_seconds']} s |"
    )
    dp, do = result["drain_peer"], result["drain_ours"]
    print(
        f"| drain {args.due} due at once | {dp['seconds']} s, peak {dp['peak_rss_mb']} MB "
        f"| {do['seconds']} s, peak {do['peak_rss_mb']} MB |"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    failures = check(result)
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
