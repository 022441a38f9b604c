"""`duban plans list` and `duban plans remove KEY [--force]`: which plans the database holds, under which keys, and
taking one out (a plan loaded by mistake, or under the wrong key)."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from sqlmodel import Session

from duban.cli_input import Checks
from duban.config import Settings
from duban.db import open_database
from duban.errors import Refused
from duban.operations import run_by
from duban.services.errors import NotFound
from duban.services.plans import PlanFigures, PlanInUse, list_plans, remove_plan
from duban.textfmt import display_width, pad


def register(commands: Any, check: Checks) -> None:
    plans = commands.add_parser("plans", help="the plans in the database: list them, or remove one")
    actions = plans.add_subparsers(dest="plans_action", required=True, metavar="ACTION")
    actions.add_parser(
        "list", help="every plan: key, county, tasks, milestones (withdrawn ones apart) and reports"
    ).set_defaults(func=cmd_list)
    remove = actions.add_parser(
        "remove", help="remove a plan and all it holds (refused while it has reports, unless --force)"
    )
    remove.add_argument("key", type=check.plan_key, help="the plan's key, from `duban plans list`")
    remove.add_argument(
        "--force",
        action="store_true",
        help="remove it with its reports; people limited to it lose their access, its group robots go",
    )
    remove.set_defaults(func=cmd_remove)


def no_such_plan(key: str) -> Refused:
    """The one line for a plan key that names no plan, wherever a command takes one."""
    return Refused("There is no plan with the key {key}; `duban plans list` lists the plans", key=key)


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_database(settings.database_url, create=False)
    try:
        with Session(engine) as session:
            plans = list_plans(session=session)
    finally:
        engine.dispose()
    if not plans:
        print("数据库中还没有方案，请先运行 duban seed 或 duban import-plan --load。")
        return 0
    print(render_plans(plans))
    return 0


def render_plans(plans: list[PlanFigures]) -> str:
    """One line per plan: key and county, the counts lined up, then the title (the longest cell, left as it is)."""
    headers = ["编号", "县区", "任务", "节点", "已撤销", "汇报", "方案（文号）"]
    rows = [
        [
            p.key,
            p.region,
            *(str(n) for n in (p.tasks, p.milestones, p.withdrawn, p.reports)),
            f"{p.title}（{p.doc_number}）" if p.doc_number else p.title,
        ]
        for p in plans
    ]
    widths = [max(display_width(row[i]) for row in [headers, *rows]) for i in range(len(headers) - 1)]
    return "\n".join(
        "  ".join(
            [
                *(
                    pad(cell, width, right=i >= 2)
                    for i, (cell, width) in enumerate(zip(row, widths, strict=False))
                ),
                row[-1],
            ]
        )
        for row in [headers, *rows]
    )


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    command = f"duban plans remove {args.key}" + (" --force" if args.force else "")
    engine = open_database(settings.database_url, create=False)
    try:
        with Session(engine) as session:
            try:
                removed = remove_plan(
                    session=session,
                    key=args.key,
                    force=args.force,
                    now=dt.datetime.now(dt.UTC),
                    by=run_by(command),
                )
            except NotFound:
                raise no_such_plan(args.key) from None
            except PlanInUse as refusal:
                held = refusal.figures
                raise Refused(
                    "Plan {key} has {reports} progress reports, {people} people limited to it and {robots} group "
                    "robots; nothing was removed. To remove it with all of them: duban plans remove {key} --force",
                    key=held.key,
                    reports=held.reports,
                    people=held.people,
                    robots=held.robots,
                ) from None
    finally:
        engine.dispose()
    also = [
        f"另有已撤销的时间节点 {removed.withdrawn} 个" if removed.withdrawn else "",
        f"仅限本方案的 {removed.people} 人已停用" if removed.people else "",
        f"本方案的 {removed.robots} 个群机器人已删除" if removed.robots else "",
    ]
    print(
        f"已删除方案 {removed.key}（{removed.title}）：{removed.tasks} 项任务、{removed.milestones} 个时间节点、"
        f"{removed.reports} 条汇报{''.join(f'；{part}' for part in also if part)}。已记入审计日志。"
    )
    return 0
