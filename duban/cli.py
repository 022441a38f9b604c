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
from duban.services.errors import InvalidInput, NotAllowed, NotFound
from duban.services.invites import (
    Member,
    all_members,
    cancel_invite,
    create_invite,
    deactivate_contact,
    department_regions,
    open_invites,
    resolve_department,
)
from duban.status import UnknownDepartment, status_report
from duban.xlsx_import import add_commands as add_xlsx_import_commands
from models import ContactRole, Department, Plan, limits
from scheduler.planner import plan_reminders
from scheduler.policy import ReminderPolicy


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


def _members_table(members: list[Member], settings: Settings) -> str:
    """One line per person: the number `contacts deactivate` and `invite --cancel` take, county, department, role."""
    if not members:
        return "（无）"
    lines = []
    for member in members:
        contact = member.contact
        state = "已加入" if contact.telegram_user_id is not None else "未加入"
        if member.open_invite is not None:
            until = member.open_invite.expires_at.astimezone(settings.tz)
            state = f"邀请 {member.open_invite.id} 未使用，有效至 {until:%Y-%m-%d %H:%M}"
        name = f"\t{contact.name}" if contact.name else ""
        lines.append(
            f"{contact.id}\t{member.region}\t{member.department}\t{contact.role.value}\t{state}{name}"
        )
    return "\n".join(lines)


def _invite_department(args: argparse.Namespace, session: Session) -> Department | str:
    """The department to invite for, or the line that says why there is none (ambiguous, unknown, wrong county)."""
    plan = None
    if args.plan:
        plan = session.exec(select(Plan).where(Plan.key == args.plan)).first()
        if plan is None:
            return f"没有找到方案“{args.plan}”。"
        if args.region and args.region != plan.region:
            return f"方案“{args.plan}”属于{plan.region}，不是{args.region}。"
    region = args.region or (plan.region if plan else None)
    try:
        return resolve_department(session=session, name=args.department, region=region)
    except NotFound:
        regions = department_regions(session=session, name=args.department)
        if region is None and len(regions) > 1:
            return f"“{args.department}”在多个县区都有：{'、'.join(regions)}。请用 --region 指明，例如 --region {regions[0]}。"
        if region is not None and region not in regions and regions:
            where = f"方案“{args.plan}”属于{region}，" if plan is not None and not args.region else ""
            return f"{where}{region}没有“{args.department}”（{'、'.join(regions)}有）。"
        return f"没有找到部门“{args.department}”。请写出完整名称。"


def cmd_invite(args: argparse.Namespace, settings: Settings) -> int:
    now = dt.datetime.now(dt.UTC)
    with _session(settings) as session:
        if args.list:
            print(_members_table(open_invites(session=session, now=now, region=args.region), settings))
            return 0
        if args.cancel is not None:
            try:
                contact = cancel_invite(session=session, invite_id=args.cancel, now=now)
            except NotFound:
                print(f"没有未使用的邀请 {args.cancel}。请用 duban invite --list 查看。", file=sys.stderr)
                return 1
            print(f"邀请 {args.cancel} 已作废（联络人 {contact.id}）。")
            return 0
        if not args.department:
            print("请用 --department 指明部门（或用 --list、--cancel N）。", file=sys.stderr)
            return 2
        department = _invite_department(args, session)
        if isinstance(department, str):
            print(department, file=sys.stderr)
            return 1
        plan = session.exec(select(Plan).where(Plan.key == args.plan)).first() if args.plan else None
        try:
            issued = create_invite(
                session=session,
                department=department,
                role=ContactRole(args.role),
                now=now,
                ttl=settings.invite_ttl,
                plan=plan,
                name=args.name,
            )
        except NotAllowed:
            assert plan is not None  # the only refusal without an inviter: a plan of another county
            print(
                f"方案“{plan.key}”属于{plan.region}，{department.name}属于{department.region}。",
                file=sys.stderr,
            )
            return 1
        except InvalidInput:
            print(f"姓名太长（最多 {limits.CONTACT_NAME} 字）。", file=sys.stderr)
            return 1
        print(issued.link(settings.bot_username))
        print(
            f"{department.region} {department.name}：有效期至 "
            f"{issued.expires_at.astimezone(settings.tz):%Y-%m-%d %H:%M}，仅可使用一次。"
        )
    return 0


def cmd_contacts(args: argparse.Namespace, settings: Settings) -> int:
    now = dt.datetime.now(dt.UTC)
    with _session(settings) as session:
        if args.action == "list":
            print(_members_table(all_members(session=session, now=now, region=args.region), settings))
            return 0
        if args.id is None:
            print(
                "请给出编号：duban contacts deactivate 编号（编号见 duban contacts list）。", file=sys.stderr
            )
            return 2
        try:
            contact = deactivate_contact(session=session, contact_id=args.id, now=now)
        except NotFound:
            print(f"没有编号为 {args.id} 的联络人。请用 duban contacts list 查看。", file=sys.stderr)
            return 1
        except InvalidInput:
            print(f"联络人 {args.id} 已无使用权限。", file=sys.stderr)
            return 1
        print(f"已撤销联络人 {contact.id} 的权限，自其下一条消息起生效；未使用的邀请一并作废。")
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
    invite.add_argument("--department", help="department name or alias")
    invite.add_argument("--region", help="the county, when the name exists in several (e.g. 淄博市淄川区)")
    invite.add_argument("--role", choices=["contact", "coordinator", "lead"], default="contact")
    invite.add_argument("--plan", help="limit a coordinator or lead to one plan (plan key)")
    invite.add_argument("--name", default="", help="the person's name, for the ledger")
    invite.add_argument(
        "--list", action="store_true", help="list unused invitations (with --region: one county)"
    )
    invite.add_argument("--cancel", type=int, metavar="N", help="cancel unused invitation N (from --list)")
    invite.set_defaults(func=cmd_invite)

    contacts = commands.add_parser(
        "contacts", help="who has access: list, or deactivate one (takes effect at once)"
    )
    contacts.add_argument("action", choices=["list", "deactivate"])
    contacts.add_argument("id", nargs="?", type=int, help="the number from `duban contacts list`")
    contacts.add_argument("--region", help="only this county")
    contacts.set_defaults(func=cmd_contacts)

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
