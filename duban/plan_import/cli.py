"""`duban import-plan FILE` and `duban import-agreement`, registered on duban's argparse subparsers.

import-plan reads a plan document (.txt or .docx) and writes a seed file for review: to stdout, or
to --output; --load also loads it into the database as `duban seed` would. What the importer could
not settle is listed after the seed file (and kept in it as comments), never filled in by guesswork.
The plan's key comes from the document (assemble.plan_key), or --key; a key that holds another plan
is refused before anything is written, unless --replace names it.

import-agreement imports the five plan documents of seed_data/sources and prints how far the result
agrees with the reviewed seed_data files; it exits 1 if any plan falls below 95% on any measure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from duban.cli_input import Checks
from duban.config import Settings
from duban.plan_import.agreement import MEASURES, measure_all, render
from duban.plan_import.assemble import ImportFailed, ImportResult, import_plan
from duban.plan_import.reader import UnreadableDocument
from duban.plan_import.seedfile import render_seed, write_seed
from seed_data import SOURCE_DIR

THRESHOLD = 0.95


def add_commands(subparsers: Any, check: Checks | None = None) -> None:
    check = check or Checks(lambda text: text)
    command = subparsers.add_parser(
        "import-plan", help="read a plan document (.txt/.docx) and write a seed file for review"
    )
    command.add_argument("file", help="the plan document, .txt or .docx")
    command.add_argument("--output", help="seed file to write (default: print it)")
    command.add_argument("--load", action="store_true", help="also load it into the database")
    which = command.add_mutually_exclusive_group()
    which.add_argument(
        "--key",
        type=check.plan_key,
        help="plan key (default: from region, year and document number, e.g. 安丘市-2023-46)",
    )
    which.add_argument(
        "--replace",
        type=check.plan_key,
        metavar="KEY",
        help="load it in the place of plan KEY, whose title, issuer or document number differ (implies --load)",
    )
    command.add_argument("--region", help="region the departments belong to (default: from the issuer)")
    command.set_defaults(func=cmd_import_plan)

    agreement = subparsers.add_parser(
        "import-agreement", help="import seed_data/sources and compare with the reviewed seed_data"
    )
    agreement.add_argument("--seeds", help="folder of plan documents (default: seed_data/sources)")
    agreement.set_defaults(func=cmd_import_agreement)


def cmd_import_plan(args: argparse.Namespace, settings: Settings) -> int:
    load = args.load or args.replace is not None
    try:
        result = import_plan(Path(args.file), key=args.replace or args.key, region=args.region)
    except (ImportFailed, UnreadableDocument) as exc:
        print(f"未能导入：{exc}", file=sys.stderr)
        return 1
    # an OSError (no such file, no permission) goes to duban.cli.main, which says why in the interface language
    if args.output is None and not load:
        sys.stdout.write(render_seed(result))
        return 0
    if load and not result.complete_header:
        print(
            "方案标题、发文机关或地区未能识别，请先核对种子文件再载入（可用 --region 指定地区）。",
            file=sys.stderr,
        )
        _print_findings(result)
        return 1
    if not load:
        write_seed(result, Path(args.output))
        _print_summary(result, Path(args.output))
        return 0
    return _load(args, result, settings)


def _load(args: argparse.Namespace, result: ImportResult, settings: Settings) -> int:
    """Load the seed file as `duban seed` would, after making sure its key holds no other plan, so a refusal
    writes nothing: no seed file, no row."""
    from sqlmodel import Session

    from duban.db import open_database
    from duban.operations import run_by
    from duban.render import render_changes
    from duban.seeding import SeedError, check_keys, load_seed

    replace = [args.replace] if args.replace else []
    command = f"duban import-plan {Path(args.file).name}" + (f" --replace {args.replace}" if replace else "")
    engine = open_database(settings.database_url, create=True)
    try:
        with Session(engine) as session, tempfile.TemporaryDirectory() as scratch:
            check_keys(session=session, plans=[result.plan], replace=replace)
            path = Path(args.output) if args.output else Path(scratch) / f"{result.plan.key}.yaml"
            write_seed(result, path)
            _print_summary(result, path if args.output else None)
            try:
                summary = load_seed(session=session, paths=[path], replace=replace, by=run_by(command))
            except SeedError as exc:
                print(f"种子文件有误，未载入任何内容：\n{exc}", file=sys.stderr)
                return 1
    finally:
        engine.dispose()
    print(
        f"已载入：{summary.tasks} 项任务、{summary.milestones} 个时间节点"
        f"（新增 {summary.created} 条，更新 {summary.updated} 条）。"
    )
    for line in render_changes(summary):
        print(line)
    return 0


def _print_summary(result: ImportResult, written: Path | None) -> None:
    plan = result.plan
    milestones = sum(len(t.milestones) for t in plan.tasks)
    where = f"，已写入 {written}" if written else ""
    print(f"{plan.title}（{plan.key}）：{len(plan.tasks)} 项任务，{milestones} 个时间节点{where}。")
    _print_findings(result)


def _print_findings(result: ImportResult) -> None:
    if not result.findings:
        print("没有需要核对的内容。")
        return
    print(f"待核对（{len(result.findings)} 条）：")
    for finding in result.findings:
        print(f"- {finding}")


def cmd_import_agreement(args: argparse.Namespace, settings: Settings) -> int:
    seeds = Path(args.seeds) if args.seeds else SOURCE_DIR
    if not seeds.is_dir():
        print(f"没有找到方案原文目录：{seeds}", file=sys.stderr)
        return 1
    results = measure_all(seeds)
    if not results:
        print(f"{seeds} 中没有与 seed_data 对应的方案原文。", file=sys.stderr)
        return 1
    print(render(results, threshold=THRESHOLD))
    return 0 if all(r.share(m) >= THRESHOLD for r in results for m in MEASURES) else 1
