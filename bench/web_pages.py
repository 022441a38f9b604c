"""Server time of the dashboard's overview and plan (台账) pages at 100k tasks, for a signed-in coordinator.

Requests go through the whole ASGI app in-process (Starlette's TestClient: routing, cookie lookup, the page's
queries, Jinja rendering), without a network. Timed: the overview (`/`), the plan page unfiltered (`/plans/N`, the
whole 台账 of the county's plan) and filtered to overdue milestones, and the weekly chart the overview embeds
(`/chart.png`), and the county's 台账 workbook (`/ledger.xlsx`). Every answer must be 200, and the plan page must
list every milestone of the county.

Two shapes of the same 100k tasks (as bench/handler_latency.py), because a page follows the size of one county:
  * counties: 2,500 counties x 40 tasks x ~3 milestones (the seeds' shape);
  * big: 50 counties x 2,000 tasks (an unusually large county, the worst case for one coordinator).
Progress reports on 30% of milestones.

    python -m bench.web_pages [--tasks 100000] [--shapes counties,big] [--backends sqlite,postgresql]
                              [--iterations 30] [--workdir /tmp/duban-bench] [--short] [--reuse]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select
from starlette.testclient import TestClient

from bench.common import finish
from bench.generate import read_expected
from duban.config import Settings
from duban.db import make_engine
from duban.services.access import visible_plan_ids
from duban.services.web_login import issue_login_link
from models import Contact, ContactRole, Milestone, Task
from web.app import build_web_app

TZ = ZoneInfo("Asia/Shanghai")
SHAPES = {"counties": 40, "big": 2000}  # tasks per county
PAGES = ("overview", "plan", "plan_overdue", "chart", "workbook")
ROWS = re.compile(r'id="row-count">共 (\d+) 个时间节点<')


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(url: str, *, iterations: int, warmup: int = 3) -> dict[str, Any]:
    engine = make_engine(url)
    expected = read_expected(engine)
    now = dt.datetime.combine(dt.date.fromisoformat(expected["tick"]), dt.time(10), tzinfo=TZ).astimezone(
        dt.UTC
    )
    with Session(engine) as session:
        coordinators = session.exec(
            select(Contact).where(Contact.role == ContactRole.coordinator).order_by(col(Contact.id))
        ).all()
        coordinator = coordinators[len(coordinators) // 2]
        [plan_id] = visible_plan_ids(session=session, contact=coordinator)
        county_milestones = session.exec(
            select(func.count()).select_from(Milestone).join(Task).where(Task.plan_id == plan_id)
        ).one()
        token = issue_login_link(session=session, contact=coordinator, now=now).token
    app = build_web_app(engine, Settings(web_base_url="http://testserver"), lambda: now)
    result: dict[str, Any] = {
        "backend": engine.dialect.name,
        "total_tasks": expected["tasks"],
        "milestones": expected["milestones"],
        "counties": expected["counties"],
        "county_milestones": county_milestones,
    }
    with TestClient(app) as client:
        assert client.post(f"/login/{token}", follow_redirects=False).status_code == 303
        pages = {
            "overview": "/",
            "plan": f"/plans/{plan_id}",
            "plan_overdue": f"/plans/{plan_id}?state=overdue",
            "chart": "/chart.png",
            "workbook": "/ledger.xlsx",
        }
        for name, path in pages.items():
            timings, statuses, body = [], set(), b""
            for i in range(warmup + iterations):
                started = time.perf_counter()
                answer = client.get(path)
                elapsed = time.perf_counter() - started
                statuses.add(answer.status_code)
                body = answer.content
                if i >= warmup:
                    timings.append(elapsed * 1000)
            rows = ROWS.search(body.decode("utf-8", "replace")) if name.startswith("plan") else None
            result[name] = {
                "n": iterations,
                "statuses": sorted(statuses),
                "bytes": len(body),
                "rows": int(rows.group(1)) if rows else None,
                "p50_ms": round(percentile(timings, 0.50), 1),
                "p95_ms": round(percentile(timings, 0.95), 1),
                "p99_ms": round(percentile(timings, 0.99), 1),
                "mean_ms": round(statistics.fmean(timings), 1),
            }
    engine.dispose()
    return result


def check(result: dict[str, Any]) -> list[str]:
    problems = [
        f"{name}: answered {result[name]['statuses']}" for name in PAGES if result[name]["statuses"] != [200]
    ]
    if result["plan"]["rows"] != result["county_milestones"]:
        problems.append(
            f"plan page lists {result['plan']['rows']} of {result['county_milestones']} milestones"
        )
    return problems


def generate(url: str, *, tasks: int, tasks_per_county: int) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.generate",
            "--url",
            url,
            "--milestones",
            str(tasks * 3),
            "--tasks-per-county",
            str(tasks_per_county),
            "--reports-share",
            "0.3",
        ],
        check=True,
        capture_output=True,
        text=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--shapes", default="counties,big")
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/duban-bench"))
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--short", action="store_true", help="2,000 tasks, 5 iterations, for a quick check")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--reuse", action="store_true", help="measure data sets left by an earlier run as they are"
    )
    args = parser.parse_args(argv)
    if args.short:
        args.tasks, args.iterations = 2_000, 5
        SHAPES["big"] = 400
    args.workdir.mkdir(parents=True, exist_ok=True)
    results, failures = [], []
    for backend in args.backends.split(","):
        for shape in args.shapes.split(","):
            if backend == "sqlite":
                url = f"sqlite:///{args.workdir / f'web-{shape}-{args.tasks}.db'}"
            else:
                url = f"{args.pg_url.rstrip('/')}/duban_bench_web_{shape}_{args.tasks}"
            if not args.reuse:
                generate(url, tasks=args.tasks, tasks_per_county=SHAPES[shape])
            result = measure(url, iterations=args.iterations)
            result["shape"] = shape
            results.append(result)
            failures += [f"{backend} {shape}: {p}" for p in check(result)]
            print(json.dumps(result, ensure_ascii=False), flush=True)
    print("| backend | shape | tasks | county milestones | page | p50 ms | p95 ms | p99 ms | bytes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for name in PAGES:
            e = r[name]
            print(
                f"| {r['backend']} | {r['shape']} | {r['total_tasks']} | {r['county_milestones']} | {name} "
                f"| {e['p50_ms']} | {e['p95_ms']} | {e['p99_ms']} | {e['bytes']} |"
            )
    return finish(results, failures, args.json)


if __name__ == "__main__":
    sys.exit(main())
