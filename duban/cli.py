"""The `duban` command: seed, export, status, reminders, demo."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlmodel import Session, select

from duban.config import Settings, get_settings
from duban.db import AlreadyRunning, make_engine
from duban.ledger import export_json, export_xlsx
from duban.migrate import SchemaOutOfDate, current_revision, ensure_schema, head_revision, upgrade
from duban.operations import configure_logging
from duban.plan_import.cli import add_commands as add_import_commands
from duban.render import render_reminders, render_status
from duban.seeding import SeedError, load_seed
from duban.status import UnknownDepartment, status_report
from duban.xlsx_import import add_commands as add_xlsx_import_commands
from scheduler.planner import plan_reminders
from scheduler.policy import ReminderPolicy
from web import cli as web_commands


def _today(settings: Settings) -> dt.date:
    return dt.datetime.now(settings.tz).date()


def _policy(settings: Settings) -> ReminderPolicy:
    return ReminderPolicy(lead_days=tuple(settings.reminder_days), co_notice_days=settings.co_notice_days)


def _session(settings: Settings, database_url: str | None = None) -> Session:
    """A brand-new database gets the newest schema; an older one must be upgraded first (SchemaOutOfDate)."""
    engine = make_engine(database_url or settings.database_url)
    ensure_schema(engine)
    return Session(engine)


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    before = current_revision(engine)
    if args.action == "upgrade":
        upgrade(engine)
        print(f"数据库结构已从 {before or '（空）'} 升级到 {current_revision(engine)}。")
    else:
        print(f"当前版本 {before or '（空）'}，最新版本 {head_revision()}。")
    return 0


def _has_plans(session: Session) -> bool:
    from models import Plan

    if session.exec(select(Plan.id)).first() is None:
        print("数据库中还没有方案，请先运行 duban seed。", file=sys.stderr)
        return False
    return True


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    with _session(settings) as session:
        summary = load_seed(session=session)
    print(
        f"已载入 {summary.plans} 个方案、{summary.tasks} 项任务、{summary.milestones} 个时间节点"
        f"（新增 {summary.created} 条，更新 {summary.updated} 条）。"
    )
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    with _session(settings) as session:
        if args.format == "json":
            json.dump(export_json(session=session), sys.stdout, ensure_ascii=False, indent=2)
            sys.stdout.write("\n")
            return 0
        if args.output is None:
            print("导出 xlsx 需要 --output 文件名。", file=sys.stderr)
            return 2
        rows = export_xlsx(session=session, output=Path(args.output))
    print(f"台账已写入 {args.output}（{rows} 行）。")
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    with _session(settings) as session:
        if not _has_plans(session):
            return 1
        try:
            report = status_report(session=session, today=_today(settings), department=args.department)
        except UnknownDepartment:
            print(
                f"没有找到部门“{args.department}”。请检查名称，或用 duban export 查看部门名单。",
                file=sys.stderr,
            )
            return 1
    print(render_status(report))
    return 0


def cmd_reminders(args: argparse.Namespace, settings: Settings) -> int:
    start = args.from_date or _today(settings)
    with _session(settings) as session:
        if not _has_plans(session):
            return 1
        reminders = plan_reminders(
            session=session,
            start=start,
            end=start + dt.timedelta(days=args.days - 1),
            policy=_policy(settings),
        )
    print(render_reminders(reminders))
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    database = Path(args.database)
    for leftover in (
        database,
        database.with_name(database.name + "-wal"),
        database.with_name(database.name + "-shm"),
    ):
        leftover.unlink(missing_ok=True)
    url = f"sqlite:///{database}"
    today = _today(settings)
    with _session(settings, url) as session:
        summary = load_seed(session=session)
        print(
            f"演示数据库：{database}（{summary.plans} 个方案，{summary.tasks} 项任务，"
            f"{summary.milestones} 个时间节点）\n"
        )
        print(render_status(status_report(session=session, today=today)))
        print(f"\n未来 90 天将发送的提醒（{today.isoformat()} 起）：")
        reminders = plan_reminders(
            session=session, start=today, end=today + dt.timedelta(days=89), policy=_policy(settings)
        )
        print(render_reminders(reminders))
    return 0


def cmd_invite(args: argparse.Namespace, settings: Settings) -> int:
    from duban.services.errors import NotFound
    from duban.services.invites import create_invite, resolve_department
    from models import ContactRole, Plan

    with _session(settings) as session:
        try:
            department = resolve_department(session=session, name=args.department)
        except NotFound:
            print(f"没有找到唯一的部门“{args.department}”。请写出完整名称。", file=sys.stderr)
            return 1
        plan = None
        if args.plan:
            plan = session.exec(select(Plan).where(Plan.key == args.plan)).first()
            if plan is None:
                print(f"没有找到方案“{args.plan}”。", file=sys.stderr)
                return 1
        issued = create_invite(
            session=session,
            department=department,
            role=ContactRole(args.role),
            now=dt.datetime.now(dt.UTC),
            ttl=settings.invite_ttl,
            plan=plan,
            name=args.name,
        )
        print(issued.link(settings.bot_username))
        print(f"有效期至 {issued.expires_at.astimezone(settings.tz):%Y-%m-%d %H:%M}，仅可使用一次。")
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.main import run_polling, run_webhook

    token = settings.telegram_bot_token
    if not token:
        print("请设置 TELEGRAM_BOT_TOKEN（从 @BotFather 获取）。", file=sys.stderr)
        return 2
    base_url = args.base_url or settings.telegram_base_url
    if args.webhook_url:
        run_webhook(
            settings,
            token=token,
            base_url=base_url,
            webhook_url=args.webhook_url,
            listen=args.listen,
            emulator=args.emulator,
        )
    else:
        run_polling(
            settings, token=token, base_url=base_url, emulator=args.emulator, poll_interval=args.poll_interval
        )
    return 0


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from duban.operations import backup

    try:
        print(
            backup(
                settings.database_url,
                Path(args.output) if args.output else None,
                now=dt.datetime.now(settings.tz),
            )
        )
    except ValueError as exc:
        print(f"无法备份：{exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="duban", description="督办：县域工作方案的提醒与进度跟踪")
    parser.add_argument("-v", "--verbose", action="store_true", help="show log messages")
    parser.add_argument("--log-json", action="store_true", help="log as JSON lines (one object per line)")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("seed", help="load seed_data into the database (idempotent)").set_defaults(
        func=cmd_seed
    )

    export = commands.add_parser("export", help="print the plans as JSON or write the 台账 workbook")
    export.add_argument("--format", choices=["json", "xlsx"], default="json")
    export.add_argument("--output", help="file to write (xlsx)")
    export.set_defaults(func=cmd_export)

    status = commands.add_parser("status", help="milestones by plan and by year as of today")
    status.add_argument("--department", help="only this department (name or alias)")
    status.set_defaults(func=cmd_status)

    reminders = commands.add_parser(
        "reminders", help="print the reminders that would be sent (sends nothing)"
    )
    reminders.add_argument(
        "--from", dest="from_date", type=dt.date.fromisoformat, help="first day, YYYY-MM-DD"
    )
    reminders.add_argument("--days", type=int, default=30, help="how many days to cover")
    reminders.set_defaults(func=cmd_reminders)

    backup = commands.add_parser(
        "backup", help="SQLite: online backup to a file; PostgreSQL: the pg_dump line"
    )
    backup.add_argument("--output", help="backup file (default: beside the database, with a timestamp)")
    backup.set_defaults(func=cmd_backup)

    db = commands.add_parser("db", help="database schema: upgrade to the newest version, or show the version")
    db.add_argument("action", choices=["upgrade", "current"])
    db.set_defaults(func=cmd_db)

    invite = commands.add_parser("invite", help="print a one-time join link for a department's contact")
    invite.add_argument("--department", required=True, help="department name or alias")
    invite.add_argument("--role", choices=["contact", "coordinator", "lead"], default="contact")
    invite.add_argument("--plan", help="limit a coordinator or lead to one plan (plan key)")
    invite.add_argument("--name", default="", help="the person's name, for the ledger")
    invite.set_defaults(func=cmd_invite)

    run = commands.add_parser("run", help="start the bot (polling); needs TELEGRAM_BOT_TOKEN")
    run.add_argument("--base-url", help="another Bot API server, e.g. http://127.0.0.1:9000")
    run.add_argument("--emulator", action="store_true", help="work around telegram-test-api's quirks")
    run.add_argument(
        "--poll-interval", type=float, default=0.0, help="seconds between polls (0.1 with --emulator)"
    )
    run.add_argument("--webhook-url", help="public HTTPS URL of this service; enables webhook mode")
    run.add_argument("--listen", default="127.0.0.1:8443", help="host:port the webhook server listens on")
    run.set_defaults(func=cmd_run)

    demo = commands.add_parser(
        "demo", help="fresh SQLite database, seeded; prints status and coming reminders"
    )
    demo.add_argument("--database", default="var/demo.db", help="SQLite file to (re)create")
    demo.set_defaults(func=cmd_demo)

    add_import_commands(commands)
    add_xlsx_import_commands(commands)
    web_commands.register(commands)  # `duban web` and `duban tongbao`
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(verbose=args.verbose, json_lines=args.log_json)
    settings = get_settings()
    try:
        return int(args.func(args, settings))
    except SeedError as exc:
        print(f"种子数据有误，未载入任何内容：\n{exc}", file=sys.stderr)
        return 1
    except (SchemaOutOfDate, AlreadyRunning) as exc:
        print(str(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
