"""p50/p95/p99 of the chat commands people wait on, through the real Application, at 100k tasks.

Every update goes through `Application.process_update` with the Bot API faked at the request layer
(tests/telegram_fakes.RecordingRequest), so the figures are handler + database + rendering, without network.
Measured: a coordinator's /status, /overdue and /digest (cover the plans of their own county), a contact's /tasks
(their department's open milestones) and a text reply to a reminder (a progress report: lookup of the reminder,
insert, audit, commit).

Three shapes of the same 100k tasks, because /status and /tasks follow the size of one county, not of the table:
  * counties: 2,500 counties x 40 tasks x ~3 milestones (the seeds' shape; the realistic case);
  * big: 50 counties x 2,000 tasks (an unusually large county, the worst case for one coordinator);
  * mixed: one 2,000-task county among 40-task ones, measured from that county's coordinator.
Both get progress reports on 30% of milestones and 100k sent reminders in the outbox, as a system that has run a
while would have.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, text
from sqlmodel import Session, col, select
from telegram import Update

from bench.common import finish
from bench.generate import read_expected
from bot.telegram.app import build_application, conversation_persistence
from bot.telegram.runtime import Runtime
from duban.config import Settings
from duban.db import make_engine
from models import (
    Contact,
    ContactRole,
    Department,
    DepartmentRole,
    Milestone,
    MilestoneStatus,
    Notification,
    ProgressReport,
    TaskDepartment,
)
from tests.telegram_fakes import BOT_ID, TOKEN, RecordingRequest

TZ = ZoneInfo("Asia/Shanghai")
SHAPES = {"counties": 40, "big": 2000, "mixed": 40}  # tasks per county
FIRST_COUNTY_TASKS = {"mixed": 2000}  # the county whose coordinator is measured, where it differs
REMINDER_MESSAGE_BASE = 7_000_000
COMMANDS = ("status", "overdue", "digest", "tasks", "progress_reply")


@dataclass(frozen=True)
class People:
    coordinator: int  # telegram user ids
    contact: int
    contact_department: int
    reminder_message_ids: list[int]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def prepare(
    engine: Engine, *, sent_reminders: int, replies: int, first_county: bool = False, seed: int = 7
) -> People:
    """Pick a county in the middle (or the first); fill the outbox with sent reminders, some to our contact."""
    rng = random.Random(seed)
    with Session(engine) as session:
        coordinators = session.exec(
            select(Contact).where(Contact.role == ContactRole.coordinator).order_by(col(Contact.id))
        ).all()
        coordinator = coordinators[0 if first_county else len(coordinators) // 2]
        region = session.get(Department, coordinator.department_id).region  # type: ignore[union-attr]
        # the busiest lead department of that county: the contact with the longest /tasks
        busiest = session.exec(
            select(TaskDepartment.department_id, func.count())
            .join(Department, col(Department.id) == TaskDepartment.department_id)
            .where(Department.region == region, TaskDepartment.role == DepartmentRole.lead)
            .group_by(TaskDepartment.department_id)
            .order_by(func.count().desc())
        ).first()
        assert busiest is not None
        contact = session.exec(
            select(Contact).where(Contact.department_id == busiest[0], Contact.role == ContactRole.contact)
        ).first()
        assert contact is not None
        milestone_ids = session.exec(
            select(Milestone.id)
            .join(TaskDepartment, col(TaskDepartment.task_id) == Milestone.task_id)
            .where(TaskDepartment.department_id == busiest[0], TaskDepartment.role == DepartmentRole.lead)
            .where(Milestone.status == MilestoneStatus.open)
        ).all()
        all_contacts = session.exec(select(Contact.id, Contact.department_id)).all()
        due_on: dict[int | None, dt.date] = dict(
            session.exec(select(col(Milestone.id), col(Milestone.due_on))).all()
        )
        top = session.exec(select(func.max(Milestone.id))).one()
        now = dt.datetime(2026, 3, 1, 1, tzinfo=dt.UTC)
        rows = []
        for n in range(sent_reminders):
            # the first `replies` reminders went to our contact, about milestones their department leads
            contact_id, department_id = (
                (contact.id, contact.department_id) if n < replies else rng.choice(all_contacts)
            )
            milestone_id = milestone_ids[n % len(milestone_ids)] if n < replies else rng.randrange(1, top + 1)
            # a sent reminder as the planner wrote it and the dispatcher recorded it: one item per message (sent
            # on days of their own), so a reply to it names its milestone
            rows.append(
                {
                    "idempotency_key": f"bench:{n}",
                    "kind": "reminder",
                    "milestone_id": milestone_id,
                    "contact_id": contact_id,
                    "department_id": department_id,
                    "payload": {"days": 30, "late_since": None},
                    "instance_due_on": due_on.get(milestone_id),
                    "due_at": now,
                    "created_at": now,
                    "sent_at": now,
                    "attempts": 1,
                    "platform_message_id": str(REMINDER_MESSAGE_BASE + n),
                }
            )
        people = People(
            coordinator=coordinator.telegram_user_id or 0,
            contact=contact.telegram_user_id or 0,
            contact_department=busiest[0],
            reminder_message_ids=[REMINDER_MESSAGE_BASE + n for n in range(replies)],
        )
    with engine.begin() as conn:
        for start in range(0, len(rows), 20_000):
            conn.execute(Notification.__table__.insert(), rows[start : start + 20_000])  # type: ignore[attr-defined]
        conn.exec_driver_sql("ANALYZE")
    return people


class Driver:
    """Builds updates the way Telegram would send them and times process_update."""

    def __init__(self, engine: Engine, now: dt.datetime, state_dir: Path, first_id: int = 1) -> None:
        self.request = RecordingRequest()
        self.now = now
        runtime = Runtime(engine=engine, settings=Settings(), clock=lambda: self.now)
        self.app = build_application(
            runtime,
            token=TOKEN,
            request=self.request,
            get_updates_request=RecordingRequest(),
            persistence=conversation_persistence(state_dir / "conversations.pickle"),
            rate_limit=False,
        )
        self.errors: list[BaseException] = []
        self._ids = iter(range(first_id, first_id + 10**9))  # update and message ids

        async def record_error(update: object, context: Any) -> None:
            self.errors.append(context.error)

        self.app.add_error_handler(record_error)

    def message(self, user_id: int, text: str, reply_to: int | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(self.now.timestamp()),
            "chat": {"id": user_id, "type": "private"},
            "from": {"id": user_id, "is_bot": False, "first_name": "测试", "language_code": "zh-hans"},
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        if reply_to is not None:
            message["reply_to_message"] = {
                "message_id": reply_to,
                "date": int(self.now.timestamp()),
                "chat": {"id": user_id, "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "督办"},
                "text": "提醒",
            }
        return {"update_id": next(self._ids), "message": message}

    async def timed(self, payload: dict[str, Any]) -> tuple[float, float, list[dict[str, Any]]]:
        """Wall and CPU seconds of one update; CPU time is what the load of a shared machine inflates least
        (with SQLite it includes the database's work, which runs in this process; with PostgreSQL it does not)."""
        before = len(self.request.calls)
        update = Update.de_json(payload, self.app.bot)
        started, cpu_started = time.perf_counter(), time.process_time()
        await self.app.process_update(update)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        return elapsed, cpu, [p for endpoint, p in self.request.calls[before:] if endpoint == "sendMessage"]


async def measure(url: str, *, iterations: int, sent_reminders: int, first_county: bool) -> dict[str, Any]:
    engine = make_engine(url)
    expected = read_expected(engine)
    people = prepare(engine, sent_reminders=sent_reminders, replies=iterations + 5, first_county=first_county)
    tick = dt.date.fromisoformat(expected["tick"])
    now = dt.datetime.combine(tick, dt.time(10), tzinfo=TZ).astimezone(dt.UTC)
    with tempfile.TemporaryDirectory() as state_dir:
        driver = Driver(engine, now, Path(state_dir))
        await driver.app.initialize()
        try:
            result = await _run(driver, engine, people, iterations)
        finally:
            await driver.app.shutdown()
    result.update(
        backend=engine.dialect.name,
        total_tasks=expected["tasks"],
        milestones=expected["milestones"],
        counties=expected["counties"],
        errors=[repr(e) for e in driver.errors],
    )
    with Session(engine) as session:
        result["county_milestones"] = session.exec(
            select(func.count())
            .select_from(Milestone)
            .join(TaskDepartment, col(TaskDepartment.task_id) == Milestone.task_id)
            .join(Department, col(Department.id) == TaskDepartment.department_id)
            .where(TaskDepartment.role == DepartmentRole.lead)
            .where(Department.region == _region_of(session, people.coordinator))
        ).one()
    engine.dispose()
    return result


def _region_of(session: Session, telegram_user_id: int) -> str:
    contact = session.exec(select(Contact).where(Contact.telegram_user_id == telegram_user_id)).one()
    department = session.get(Department, contact.department_id)
    assert department is not None
    return department.region


async def _run(driver: Driver, engine: Engine, people: People, iterations: int) -> dict[str, Any]:
    """Each command: a few warm-up calls, then `iterations` timed ones; each must answer once."""
    result: dict[str, Any] = {}
    commands = {
        "status": lambda i: driver.message(people.coordinator, "/status"),
        "overdue": lambda i: driver.message(people.coordinator, "/overdue"),
        "digest": lambda i: driver.message(people.coordinator, "/digest"),
        "tasks": lambda i: driver.message(people.contact, "/tasks"),
        "progress_reply": lambda i: driver.message(
            people.contact, "已完成60%，已开工", reply_to=people.reminder_message_ids[i]
        ),
    }
    with Session(engine) as session:
        reports_before = session.exec(select(func.count()).select_from(ProgressReport)).one()
    warmup = 3
    for name, make in commands.items():
        timings, cpu_timings, answered, last = [], [], 0, ""
        for i in range(warmup + iterations):
            elapsed, cpu, sent = await driver.timed(make(i))
            answered += len(sent) == 1 and bool(sent[0].get("text"))
            last = str(sent[-1].get("text", "")) if sent else ""
            if i >= warmup:
                timings.append(elapsed * 1000)
                cpu_timings.append(cpu * 1000)
        result[name] = {
            "n": iterations,
            "answered": answered,
            "expected_answers": warmup + iterations,
            "p50_ms": round(percentile(timings, 0.50), 1),
            "p95_ms": round(percentile(timings, 0.95), 1),
            "p99_ms": round(percentile(timings, 0.99), 1),
            "mean_ms": round(statistics.fmean(timings), 1),
            "cpu_p50_ms": round(percentile(cpu_timings, 0.50), 1),
            "cpu_p95_ms": round(percentile(cpu_timings, 0.95), 1),
            "answer_start": last[:120],
        }
    with Session(engine) as session:
        reports_after = session.exec(select(func.count()).select_from(ProgressReport)).one()
    result["progress_reply"]["reports_added"] = reports_after - reports_before
    return result


def check(result: dict[str, Any]) -> list[str]:
    """Every update answered once, with the real answer (not a refusal); /status counts the whole county."""
    problems = [f"handler errors: {result['errors']}"] if result["errors"] else []
    markers = {
        "status": f"</b>: {result['county_milestones']} —",  # 全部: <every milestone of the county> — ...
        "overdue": "逾期",
        "digest": "每周简报",
        "tasks": "重点任务",
        "progress_reply": "60%",
    }
    for name, marker in markers.items():
        if marker not in result[name]["answer_start"]:
            problems.append(f"{name} answered {result[name]['answer_start']!r}")
    for name in COMMANDS:
        entry = result[name]
        if entry["answered"] != entry["expected_answers"]:
            problems.append(f"{name}: {entry['answered']} answers for {entry['expected_answers']} updates")
    if result["progress_reply"]["reports_added"] != result["progress_reply"]["expected_answers"]:
        problems.append(f"progress replies stored {result['progress_reply']['reports_added']} reports")
    return problems


def run_shape(
    url: str,
    *,
    tasks: int,
    tasks_per_county: int,
    first_county_tasks: int | None,
    iterations: int,
    sent_reminders: int,
    random_page_cost: float | None = None,
) -> dict[str, Any]:
    milestones = tasks * 3
    first_county = ["--first-county-tasks", str(first_county_tasks)] if first_county_tasks else []
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.generate",
            "--url",
            url,
            "--milestones",
            str(milestones),
            "--tasks-per-county",
            str(tasks_per_county),
            "--reports-share",
            "0.3",
            *first_county,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    if random_page_cost is not None and url.startswith("postgresql"):
        # a setting of the database, as an operator would make it (README, "Several instances")
        engine = make_engine(url)
        with engine.connect() as connection:
            name = connection.execute(text("SELECT current_database()")).scalar_one()
            connection.execute(
                text(f'ALTER DATABASE "{name}" SET random_page_cost = {float(random_page_cost)}')
            )
            connection.commit()
        engine.dispose()
    measured = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.handler_latency",
            "--one",
            url,
            "--iterations",
            str(iterations),
            "--sent-reminders",
            str(sent_reminders),
            *(["--first-county"] if first_county_tasks else []),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(measured.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", metavar="URL", help="measure one generated database (used by the driver)")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--shapes", default="counties,big,mixed")
    parser.add_argument("--first-county", action="store_true", help="with --one: measure the first county")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--sent-reminders", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/duban-bench"))
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument(
        "--name",
        default="duban_bench_handlers",
        help="database name prefix, so runs side by side do not collide",
    )
    parser.add_argument(
        "--random-page-cost",
        type=float,
        help="PostgreSQL: set the database's random_page_cost before measuring (1.1 is the usual SSD setting)",
    )
    parser.add_argument("--short", action="store_true", help="2,000 tasks, 20 iterations, for CI")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.one:
        result = asyncio.run(
            measure(
                args.one,
                iterations=args.iterations,
                sent_reminders=args.sent_reminders,
                first_county=args.first_county,
            )
        )
        print(json.dumps(result, ensure_ascii=False))
        return 0
    if args.short:
        args.tasks, args.iterations, args.sent_reminders = 2_000, 20, 2_000
        SHAPES["big"] = FIRST_COUNTY_TASKS["mixed"] = 400
    args.workdir.mkdir(parents=True, exist_ok=True)
    results, failures = [], []
    for backend in args.backends.split(","):
        for shape in args.shapes.split(","):
            if backend == "sqlite":
                url = f"sqlite:///{args.workdir / f'handlers-{shape}-{args.tasks}.db'}"
            else:
                url = f"{args.pg_url.rstrip('/')}/{args.name}_{shape}_{args.tasks}"
            result = run_shape(
                url,
                tasks=args.tasks,
                tasks_per_county=SHAPES[shape],
                first_county_tasks=FIRST_COUNTY_TASKS.get(shape),
                iterations=args.iterations,
                sent_reminders=args.sent_reminders,
                random_page_cost=args.random_page_cost,
            )
            result["shape"] = shape
            result["random_page_cost"] = args.random_page_cost
            results.append(result)
            failures += [f"{backend} {shape}: {p}" for p in check(result)]
            print(json.dumps(result, ensure_ascii=False), flush=True)
    print(
        "| backend | shape | tasks | county milestones | command | p50 ms | p95 ms | p99 ms | CPU p50/p95 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for name in COMMANDS:
            e = r[name]
            print(
                f"| {r['backend']} | {r['shape']} | {r['total_tasks']} | {r['county_milestones']} | {name} "
                f"| {e['p50_ms']} | {e['p95_ms']} | {e['p99_ms']} | {e['cpu_p50_ms']}/{e['cpu_p95_ms']} |"
            )
    return finish(results, failures, args.json)


if __name__ == "__main__":
    sys.exit(main())
