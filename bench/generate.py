"""Synthetic plans at scale, shaped like the seeds, so the planner and the bot can be measured at 10k-1M milestones.

Shape (per county, as in `seed_data/`): one plan, ~14 departments, 40 tasks with one lead and 0-3 cooperating
departments, ~3 milestones per task with due dates spread over 2023-2035, a few recurring duties (每年 / 每学期 /
每月), `--contacts` joined contacts per department and one coordinator per county; `--leads` adds that many joined
分管领导 (role lead) per department, who receive the Monday digest and the ladder's 催办 (none by default).

The measurement needs a known answer, so the data set is built around one "tick" day (`--tick`, default
2026-03-16, a day no recurring step falls on): background due dates never produce a reminder on that day, and
exactly `--due-on-tick` milestones (the probe) do. Whatever the total size, the same number of reminders is due on
the tick, which is what lets the benchmark show whether the cost follows what is due or the size of the table.
The expected counts are written to a small `bench_meta` table next to the product tables.

Rows are written with SQLAlchemy Core executemany in large batches (SQLite) or COPY (PostgreSQL) with explicit
ids, so 1M milestones take seconds, not the minutes an ORM flush would.

Each milestone's copy of its newest report (Milestone.latest_*) is not written here: the database's triggers fill it
as the reports load, as they do for every write in the product (models/newest_report.py). That costs each report
one trigger: at the default 10k milestones with `--reports-share 0.3` (2,970 reports) the write went from 2.2–3.0 s
to 3.3–3.5 s on PostgreSQL and stayed at 0.7–0.9 s on SQLite; at 100k milestones (29,971 reports) 5.8 → 14.0 s on
PostgreSQL and 5.4 → 7.6 s on SQLite (2026-12-07, two shared cores under load 2–5). Without reports (the default)
nothing changes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, MetaData, String, Table, Text, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import models  # noqa: F401  (registers every table)
from duban.db import create_schema, make_engine

DEFAULT_TICK = dt.date(2026, 3, 16)
LEAD_STEPS = (180, 90, 30, 7, 1)  # the default ReminderPolicy
CO_NOTICE_DAYS = 30
FIRST_DUE, LAST_DUE = dt.date(2023, 1, 1), dt.date(2035, 12, 31)
TASKS_PER_COUNTY = 40
MILESTONES_PER_TASK = 3
BATCH = 50_000
TELEGRAM_ID_BASE = 5_000_000_000  # far from anything a test uses

DEPARTMENTS = (
    "教体局",
    "发改局",
    "财政局",
    "人社局",
    "自然资源局",
    "住建局",
    "卫健委",
    "民政局",
    "公安局",
    "科技局",
    "农业农村局",
    "编办",
    "团委",
    "妇联",
)
TARGETS = ("完成学校布局调整", "新建改扩建校舍", "教师交流轮岗比例达到20%", "建成智慧校园", "课后服务全覆盖")

bench_metadata = MetaData()
bench_meta = Table(
    "bench_meta", bench_metadata, Column("key", String(60), primary_key=True), Column("value", Text)
)


@dataclass
class Rows:
    """Every row to write, as plain dicts keyed by column name, ids assigned here."""

    plan: list[dict[str, Any]] = field(default_factory=list)
    department: list[dict[str, Any]] = field(default_factory=list)
    task: list[dict[str, Any]] = field(default_factory=list)
    taskdepartment: list[dict[str, Any]] = field(default_factory=list)
    milestone: list[dict[str, Any]] = field(default_factory=list)
    contact: list[dict[str, Any]] = field(default_factory=list)
    progressreport: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Expected:
    """What the planner must find on the tick day (plan_reminders for [tick, tick], default policy)."""

    tick: dt.date
    milestones: int
    recurring: int
    counties: int
    tasks: int
    contacts_per_department: int
    due_on_tick_milestones: int
    due_on_tick_reminders: int  # lead reminders + co notices
    due_on_tick_lead: int
    due_on_tick_co: int


def build_rows(
    *,
    milestones: int,
    contacts: int,
    tick: dt.date,
    due_on_tick: int,
    recurring_share: float,
    seed: int,
    tasks_per_county: int = TASKS_PER_COUNTY,
    reports_share: float = 0.0,
    first_county_tasks: int | None = None,
    closed_share: float = 0.5,
    leads: int = 0,
) -> tuple[Rows, Expected]:
    rng = random.Random(seed)
    # background dates never produce a reminder on the tick, so the probe alone is due there
    forbidden = {tick + dt.timedelta(days=d) for d in {*LEAD_STEPS, CO_NOTICE_DAYS}}
    span = (LAST_DUE - FIRST_DUE).days
    rows = Rows()
    department_id = task_id = milestone_id = contact_id = 0
    probe_left = due_on_tick
    expected_lead = expected_co = recurring = 0
    probe_steps = [*LEAD_STEPS]
    county = -1
    while len(rows.milestone) < milestones:  # a county at a time until the count is reached exactly
        county += 1
        region = f"样例{county:05d}县"
        plan_id = county + 1
        issued = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(0, 300))
        rows.plan.append(
            {
                "id": plan_id,
                "key": f"bench-{county:05d}",
                "title": f"{region}乡村教育振兴工作方案",
                "issuer": f"{region}人民政府办公室",
                "doc_number": f"样政办发〔2023〕{county % 90 + 1}号",
                "issued_on": issued,
                "region": region,
            }
        )
        county_departments = []
        first_contact: dict[int, int] = {}
        for name in DEPARTMENTS:
            department_id += 1
            county_departments.append(department_id)
            rows.department.append({"id": department_id, "name": f"{region[-4:]}{name}", "region": region})
            for _ in range(contacts):
                contact_id += 1
                first_contact.setdefault(department_id, contact_id)
                rows.contact.append(_contact(contact_id, department_id, "contact"))
            for _ in range(leads):
                contact_id += 1
                rows.contact.append(_contact(contact_id, department_id, "lead"))
        contact_id += 1  # one coordinator per county, in the education bureau, sees every plan of the county
        rows.contact.append(_contact(contact_id, county_departments[0], "coordinator"))
        # the first county may be unusually large (one 2,000-task county among ordinary ones)
        county_tasks = first_county_tasks if county == 0 and first_county_tasks else tasks_per_county
        for position in range(1, county_tasks + 1):
            if len(rows.milestone) >= milestones:
                break
            task_id += 1
            rows.task.append(
                {
                    "id": task_id,
                    "plan_id": plan_id,
                    "ref": f"（{position}）",
                    "section": "body",
                    "title": f"第{position}项重点任务",
                    "text": f"{region}第{position}项任务：{rng.choice(TARGETS)}，确保按期完成。",
                    "position": position,
                }
            )
            linked = rng.sample(county_departments, 1 + rng.choice((0, 1, 1, 2, 2, 3)))
            for link_position, linked_id in enumerate(linked):
                rows.taskdepartment.append(
                    {
                        "task_id": task_id,
                        "department_id": linked_id,
                        "role": "lead" if link_position == 0 else "co",
                        "printed_as": DEPARTMENTS[(linked_id - 1) % len(DEPARTMENTS)],
                        "position": link_position,
                    }
                )
            has_co = len(linked) > 1
            used: set[tuple[dt.date, str]] = set()
            for _ in range(MILESTONES_PER_TASK):
                if len(rows.milestone) >= milestones:
                    break
                recurrence, until = "none", None
                if probe_left > 0:
                    step = probe_steps[probe_left % len(probe_steps)]
                    due = tick + dt.timedelta(days=step)
                    probe_left -= 1
                    expected_lead += 1
                    expected_co += 1 if step == CO_NOTICE_DAYS and has_co else 0
                elif rng.random() < recurring_share:
                    recurrence, due, until = _recurring(rng, issued)
                    recurring += 1
                else:
                    due = FIRST_DUE + dt.timedelta(days=rng.randrange(span + 1))
                    while due in forbidden:
                        due += dt.timedelta(days=2)
                if (due, recurrence) in used:
                    continue
                used.add((due, recurrence))
                milestone_id += 1
                # by default about half of what fell due before the tick has been closed out (销号); the rest is
                # overdue, and the ladder re-notifies a seventh of it every day
                done = recurrence == "none" and due < tick and rng.random() < closed_share
                rows.milestone.append(
                    {
                        "id": milestone_id,
                        "task_id": task_id,
                        "due_on": due,
                        "target": rng.choice(TARGETS),
                        "recurrence": recurrence,
                        "until": until,
                        "status": "done" if done else "open",
                        "done_at": dt.datetime.combine(due, dt.time(8), tzinfo=dt.UTC) if done else None,
                        "escalation_paused_until": None,
                        "escalation_pause_reason": None,
                    }
                )
                if reports_share and linked[0] in first_contact and rng.random() < reports_share:
                    # the milestone's copy of its newest report (latest_*) is the database's to write: its
                    # triggers fill it as the reports are loaded, COPY and executemany alike
                    rows.progressreport.append(
                        _report(
                            len(rows.progressreport) + 1, milestone_id, first_contact[linked[0]], rng, tick
                        )
                    )
    expected = Expected(
        tick=tick,
        milestones=len(rows.milestone),
        recurring=recurring,
        counties=county + 1,
        tasks=len(rows.task),
        contacts_per_department=contacts,
        due_on_tick_milestones=due_on_tick - probe_left,
        due_on_tick_reminders=expected_lead + expected_co,
        due_on_tick_lead=expected_lead,
        due_on_tick_co=expected_co,
    )
    return rows, expected


def _contact(contact_id: int, department_id: int, role: str) -> dict[str, Any]:
    return {
        "id": contact_id,
        "department_id": department_id,
        "plan_id": None,
        "name": f"联络员{contact_id}",
        "role": role,
        "telegram_user_id": TELEGRAM_ID_BASE + contact_id,
        "language": "zh_CN",
        "active": True,
        "joined_at": dt.datetime(2023, 6, 1, tzinfo=dt.UTC),
    }


def _report(
    report_id: int, milestone_id: int, contact_id: int, rng: random.Random, tick: dt.date
) -> dict[str, Any]:
    """A progress report the lead department's contact sent some day in the year before the tick."""
    reported = dt.datetime.combine(tick - dt.timedelta(days=rng.randrange(1, 365)), dt.time(3), tzinfo=dt.UTC)
    return {
        "id": report_id,
        "milestone_id": milestone_id,
        "contact_id": contact_id,
        "status": rng.choice(("on_track", "on_track", "on_track", "at_risk", "blocked")),
        "percent": rng.randrange(0, 100, 10),
        "note": "按计划推进",
        "evidence_file_id": None,
        "reported_at": reported,
    }


def _recurring(rng: random.Random, issued: dt.date) -> tuple[str, dt.date, dt.date | None]:
    """A recurring duty as the seeds store it: first instance after the issue date, sometimes bounded."""
    kind = rng.choice(("yearly", "yearly", "semester", "monthly"))
    if kind == "yearly":
        due = dt.date(issued.year, 12, 31)
    elif kind == "semester":
        due = next(d for d in (dt.date(issued.year, 7, 10), dt.date(issued.year + 1, 1, 20)) if d > issued)
    else:
        month = issued.month % 12 + 1
        due = dt.date(issued.year + (issued.month == 12), month, 25)
    until = dt.date(2027, 12, 31) if rng.random() < 0.3 else None
    return kind, due, until


def ensure_database(url: str, *, fresh: bool) -> None:
    """Create the PostgreSQL database if missing (dropping it first when fresh); delete a fresh SQLite file."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if fresh and parsed.database and parsed.database != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                Path(parsed.database + suffix).unlink(missing_ok=True)
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        query = text("SELECT 1 FROM pg_database WHERE datname = :n")
        exists = conn.execute(query, {"n": parsed.database}).first() is not None
        if exists and fresh:
            conn.execute(text(f'DROP DATABASE "{parsed.database}" WITH (FORCE)'))
            exists = False
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def write_rows(engine: Engine, rows: Rows, expected: Expected) -> None:
    tables = SQLModel.metadata.tables
    order = ("plan", "department", "contact", "task", "taskdepartment", "milestone", "progressreport")
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        if not postgres:
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
        for name in order:
            table = tables[name]
            data = getattr(rows, name)
            if postgres:
                _copy(conn, table, data)
            else:
                for batch in _batches(data, BATCH):
                    conn.execute(table.insert(), batch)
        if postgres:  # explicit ids were written: move the sequences past them so the product can insert
            for name in order:
                if "id" in tables[name].c:
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {name}), false)"
                    )
        conn.execute(bench_meta.delete())
        conn.execute(bench_meta.insert(), [{"key": "expected", "value": json.dumps(_jsonable(expected))}])
    with engine.connect() as conn:  # fresh statistics, as a database that has lived a while would have
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def _copy(conn: Any, table: Table, data: list[dict[str, Any]]) -> None:
    columns = [c.name for c in table.columns]
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in data:
            copy.write_row([row.get(c) for c in columns])


def _batches(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _jsonable(expected: Expected) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in expected.__dict__.items()}


def read_expected(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        value = conn.execute(bench_meta.select().where(bench_meta.c.key == "expected")).one().value
    return json.loads(value)


def generate(
    url: str,
    *,
    milestones: int,
    contacts: int = 1,
    tick: dt.date = DEFAULT_TICK,
    due_on_tick: int = 200,
    recurring_share: float = 0.04,
    seed: int = 2023,
    tasks_per_county: int = TASKS_PER_COUNTY,
    reports_share: float = 0.0,
    first_county_tasks: int | None = None,
    closed_share: float = 0.5,
    leads: int = 0,
    fresh: bool = True,
) -> dict[str, Any]:
    """Build the data set at `url`; returns the expected counts and how long each phase took."""
    started = time.perf_counter()
    rows, expected = build_rows(
        milestones=milestones,
        contacts=contacts,
        tick=tick,
        due_on_tick=due_on_tick,
        recurring_share=recurring_share,
        seed=seed,
        tasks_per_county=tasks_per_county,
        reports_share=reports_share,
        first_county_tasks=first_county_tasks,
        closed_share=closed_share,
        leads=leads,
    )
    built = time.perf_counter()
    ensure_database(url, fresh=fresh)
    engine = make_engine(url)
    create_schema(engine)
    bench_metadata.create_all(engine)
    write_rows(engine, rows, expected)
    engine.dispose()
    written = time.perf_counter()
    return {
        **_jsonable(expected),
        "rows": {name: len(data) for name, data in rows.__dict__.items()},
        "build_seconds": round(built - started, 2),
        "write_seconds": round(written - built, 2),
    }


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url",
        required=True,
        help="DUBAN_DATABASE_URL-style URL (sqlite:///file or postgresql+psycopg://...)",
    )
    parser.add_argument("--milestones", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=1, help="joined contacts per department")
    parser.add_argument("--leads", type=int, default=0, help="joined leads (分管领导) per department")
    parser.add_argument("--tasks-per-county", type=int, default=TASKS_PER_COUNTY)
    parser.add_argument("--tick", type=dt.date.fromisoformat, default=DEFAULT_TICK)
    parser.add_argument(
        "--due-on-tick", type=int, default=200, help="milestones with a reminder on the tick day"
    )
    parser.add_argument("--recurring-share", type=float, default=0.04)
    parser.add_argument(
        "--first-county-tasks", type=int, help="tasks of the first county (default: --tasks-per-county)"
    )
    parser.add_argument("--reports-share", type=float, default=0.0, help="share of milestones with a report")
    parser.add_argument(
        "--closed-share",
        type=float,
        default=0.5,
        help="share of the one-off milestones due before the tick that are closed out (the rest are overdue)",
    )
    parser.add_argument("--seed", type=int, default=2023)
    args = parser.parse_args(list(argv) if argv is not None else None)
    summary = generate(
        args.url,
        milestones=args.milestones,
        contacts=args.contacts,
        tick=args.tick,
        due_on_tick=args.due_on_tick,
        recurring_share=args.recurring_share,
        seed=args.seed,
        tasks_per_county=args.tasks_per_county,
        reports_share=args.reports_share,
        first_county_tasks=args.first_county_tasks,
        closed_share=args.closed_share,
        leads=args.leads,
    )
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
