"""The `duban` command: seed, export, status, reminders, demo.

Mistakes end in one line on stderr in the interface language (DUBAN_LANGUAGE, zh_CN by default) and a non-zero
exit: argparse types refuse bad input before anything runs, and `main()` is the one boundary that turns the
known refusals (duban.errors.Refused, SeedError) into that line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlmodel import Session, col, select

from bot.core import labels
from bot.i18n import gettext_for
from duban.cli_input import Checks, Gettext, parser_class
from duban.config import Settings, get_settings, interface_language
from duban.db import connect, discard_sqlite_file, new_sqlite_file, open_database
from duban.derived import check as check_derived
from duban.errors import ArgumentRefused, Refused, os_reason
from duban.launch import deferred_signals, say_stopped, stop_requested
from duban.ledger import export_json, export_xlsx, write_json
from duban.migrate import current_revision, head_revision, upgrade_any
from duban.operations import configure_logging, run_by
from duban.plan_import.cli import add_commands as add_import_commands
from duban.plans_cli import no_such_plan
from duban.plans_cli import register as add_plan_commands
from duban.redaction import keep_out_of_logs
from duban.render import render_changes, render_status
from duban.robots_cli import register as add_robot_commands
from duban.seeding import SeedError, load_seed
from duban.services.errors import InvalidInput, NotAllowed, NotFound
from duban.services.invites import (
    IssuedInvite,
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
from models.people import channel_of
from scheduler.policy import ReminderPolicy
from scheduler.preview import preview_messages, send_rule
from scheduler.preview import render_text as render_preview
from web import cli as web_commands

WEBHOOK_LISTEN = "127.0.0.1:8443"


def _today(settings: Settings) -> dt.date:
    return dt.datetime.now(settings.tz).date()


def _policy(settings: Settings) -> ReminderPolicy:
    return ReminderPolicy(lead_days=tuple(settings.reminder_days), co_notice_days=settings.co_notice_days)


@contextmanager
def _session(
    settings: Settings, database_url: str | None = None, *, create: bool = False
) -> Iterator[Session]:
    """Commands that write pass create=True (a new database is made and stamped); the others read an existing one.

    The engine is disposed at the end, so a SQLite file is whole (its WAL checkpointed) when the command returns.
    """
    engine = open_database(database_url or settings.database_url, create=create)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "check":
        return _check_derived(settings, repair=args.repair)
    if args.repair:
        print("--repair 只能用于 duban db check。", file=sys.stderr)
        return 2
    engine = connect(settings.database_url, create=args.action == "upgrade")
    try:
        before = current_revision(engine)
        if args.action == "upgrade":
            upgrade_any(engine)
            print(f"数据库结构已从 {before or '（空）'} 升级到 {current_revision(engine)}。")
            return _seal_robots(engine, settings)
        else:
            print(f"当前版本 {before or '（空）'}，最新版本 {head_revision()}。")
    finally:
        engine.dispose()
    return 0


def _seal_robots(engine: Engine, settings: Settings) -> int:
    """After an upgrade: the group robots stored plain (before 0021) sealed when DUBAN_SECRET_KEY is set, or said
    to be waiting for it (duban.robots.seal_robots, the one write path; a robot command or `duban run` with the key
    seals them later)."""
    from duban.robots import seal_robots
    from models import GroupRobot

    keyring = settings.keyring()
    with Session(engine) as session:
        if keyring is None:
            plain = len(
                session.exec(select(GroupRobot.id).where(col(GroupRobot.webhook_sealed).is_(None))).all()
            )
            if plain:
                print(
                    f"{plain} 个群机器人的 Webhook 仍以明文保存：设置 DUBAN_SECRET_KEY 后再运行 duban db upgrade"
                    "（或 duban robot list、duban run）即加密；在此之前群机器人暂停发送。"
                )
            return 0
        sealing = seal_robots(session=session, keyring=keyring)
    if sealing.locked:
        numbers = "、".join(str(i) for i in sealing.locked)
        print(
            f"DUBAN_SECRET_KEY 打不开机器人 {numbers} 的 Webhook（用另一个密钥加密的），未加密任何机器人。",
            file=sys.stderr,
        )
        return 1
    if sealing.sealed or sealing.sealed_again:
        print(
            f"已用 DUBAN_SECRET_KEY 加密 {sealing.sealed + sealing.sealed_again} 个群机器人的 Webhook 和密钥。"
        )
    return 0


def _check_derived(settings: Settings, *, repair: bool) -> int:
    """`duban db check [--repair]`: one line per derived value with how many rows differ from their source."""
    engine = open_database(settings.database_url, create=False)
    try:
        drifts = check_derived(engine, repair=repair)
    finally:
        engine.dispose()
    for drift in drifts:
        done = f"，已修复 {drift.repaired} 个" if drift.repaired else ""
        print(f"{drift.kind.label}：{drift.kind.counted.format(n=drift.found)}{done}")
    if not any(drift.found for drift in drifts):
        print("没有发现不一致。")
    elif repair:
        print("已在一个事务中修复。")
    else:
        print("发现不一致；运行 duban db check --repair 在一个事务中修复。")
        return 1
    return 0


def _has_plans(session: Session) -> bool:
    from models import Plan

    if session.exec(select(Plan.id)).first() is None:
        print("数据库中还没有方案，请先运行 duban seed。", file=sys.stderr)
        return False
    return True


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    files = [Path(f) for f in args.files]
    command = " ".join(["duban seed", *(f.name for f in files), *(f"--replace {k}" for k in args.replace)])
    with _session(settings, create=True) as session:
        summary = load_seed(session=session, paths=files or None, replace=args.replace, by=run_by(command))
    print(
        f"已载入 {summary.plans} 个方案、{summary.tasks} 项任务、{summary.milestones} 个时间节点"
        f"（新增 {summary.created} 条，更新 {summary.updated} 条）。"
    )
    for line in render_changes(summary):  # moved dates and withdrawn milestones are never silent
        print(line)
    return 0


WRITE_ERRORS = {  # why a file could not be written, in the interface language
    errno.EEXIST: "路径中有一段是文件而不是文件夹",
    errno.ENOTDIR: "路径中有一段是文件而不是文件夹",
    errno.EACCES: "没有写入权限",
    errno.EPERM: "没有写入权限",
    errno.EROFS: "文件系统只读",
    errno.ENOSPC: "磁盘空间不足",
}


EXPORT_SUFFIXES = {".json": "json", ".xlsx": "xlsx"}


def _export_format(given: str | None, output: Path | None) -> str:
    """--format, or the one the file name says; a name that says another format (t.csv for xlsx) is refused, so a
    file never holds what its name does not."""
    if output is None:
        return given or "json"
    named = EXPORT_SUFFIXES.get(output.suffix.lower())
    if named is None:
        raise ArgumentRefused(
            "duban export writes .json or .xlsx files, not “{name}”; name it like {example}",
            name=output.name,
            example=output.with_suffix(f".{given or 'xlsx'}").name,
        )
    if given is not None and given != named:
        raise ArgumentRefused(
            "--format {given} does not match the file name “{name}”; name it like {example}, or leave out --format",
            given=given,
            name=output.name,
            example=output.with_suffix(f".{given}").name,
        )
    return named


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    output = Path(args.output) if args.output else None
    args.format = _export_format(args.format, output)
    if args.format == "xlsx" and output is None:
        print("导出 xlsx 需要 --output 文件名，如 --output 台账.xlsx。", file=sys.stderr)
        return 2
    if output is not None and output.is_dir():
        print(f"--output 指向文件夹 {output}，请给出文件名，如 {output / '台账.xlsx'}。", file=sys.stderr)
        return 2
    today = args.as_of or _today(settings)
    with _session(settings) as session:
        if not _has_plans(session):
            return 1
        try:
            if args.format == "xlsx":
                assert output is not None
                rows = export_xlsx(session=session, output=output, today=today, tz=settings.tz)
            elif output is not None:
                plans = write_json(session=session, output=output, today=today, tz=settings.tz)
            else:
                data = export_json(session=session, today=today, tz=settings.tz)
                sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
                return 0
        except OSError as exc:
            reason = WRITE_ERRORS.get(exc.errno or 0) or os_reason(exc).render(gettext_for("zh_CN"))
            print(f"无法写入 {output}：{reason}。未写入任何内容。", file=sys.stderr)
            return 1
    if args.format == "xlsx":
        print(f"台账已写入 {output}（截至 {today.isoformat()}，{rows} 行）。")
    else:
        print(f"已将 {plans} 个方案写入 {output}（截至 {today.isoformat()}）。")
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    with _session(settings) as session:
        if not _has_plans(session):
            return 1
        try:
            report = status_report(
                session=session, today=args.as_of or _today(settings), department=args.department
            )
        except UnknownDepartment:
            print(
                f"没有找到部门“{args.department}”。请检查名称，或用 duban export 查看部门名单。",
                file=sys.stderr,
            )
            return 1
    print(render_status(report))
    return 0


DEMO_REMINDER_DAYS = 90


def cmd_reminders(args: argparse.Namespace, settings: Settings) -> int:
    start = args.from_date or _today(settings)  # --days and --from are bounded at parse time (cli_input)
    end = start + dt.timedelta(days=args.days - 1)
    with _session(settings) as session:
        if not _has_plans(session):
            return 1
        messages = preview_messages(
            session=session, start=start, end=end, policy=_policy(settings), tz=settings.tz
        )
    if args.format == "json":
        data = {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "timezone": settings.timezone,
            "messages": [message.as_dict() for message in messages],
        }
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return 0
    print(f"{start.isoformat()} 至 {end.isoformat()} 实际发出的提醒（{send_rule(settings.timezone)}）：")
    print(render_preview(messages))
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from duban.demo_history import SAMPLE_MARK, load_sample_history

    database = Path(args.database)
    # the address first: one in use is one line, and the demo database is left as it was
    listening = web_commands.listening_on(args.listen) if args.web else None
    for leftover in (
        database,
        database.with_name(database.name + "-wal"),
        database.with_name(database.name + "-shm"),
    ):
        leftover.unlink(missing_ok=True)
    url = f"sqlite:///{database}"
    today = _today(settings)
    with _session(settings, url, create=True) as session:
        summary = load_seed(session=session)
        print(
            f"演示数据库：{database}（{summary.plans} 个方案，{summary.tasks} 项任务，"
            f"{summary.milestones} 个时间节点）"
        )
        if args.no_history:
            print(
                "数据库中还没有任何进度汇报：已过时限的节点都显示为“已逾期”，其余为“未汇报”。"
                "去掉 --no-history 可载入一段示例汇报。\n"
            )
        else:
            history = load_sample_history(session=session, today=today, tz=settings.tz)
            print(
                f"{SAMPLE_MARK}进度汇报为按固定种子生成的示例，不是真实汇报：{history.reports} 条汇报，"
                f"{history.closed} 个节点已销号，{history.pending} 个销号待审批；"
                f"{history.contacts} 个示例联络员未绑定 Telegram，不会收到任何消息。\n"
            )
        print(render_status(status_report(session=session, today=today)))
        end = today + dt.timedelta(days=DEMO_REMINDER_DAYS - 1)
        print(f"\n未来 {DEMO_REMINDER_DAYS} 天实际发出的提醒（{send_rule(settings.timezone)}）：")
        messages = preview_messages(
            session=session, start=today, end=end, policy=_policy(settings), tz=settings.tz
        )
        print(render_preview(messages))
    if listening is None:
        # `duban web` reads DUBAN_DATABASE_URL (var/duban.db by default), not this file
        print(f"\n在浏览器中查看这些数据：duban demo --web（网页端使用演示数据库 {database}）。")
        return 0
    web_commands.serve_demo(settings, database=database, listening=listening)
    return 0


def _members_table(members: list[Member], settings: Settings) -> str:
    """One line per person: the number `contacts deactivate` and `invite --cancel` take, county, department, role
    (分管领导, not a task's 牵头), name, and where they joined (Telegram or DingTalk) or their unused invitation."""
    if not members:
        return "（无）"
    _ = gettext_for(interface_language())
    lines = []
    for member in members:
        contact = member.contact
        # not joined with an unused invitation: its number is what --cancel takes
        if member.open_invite is not None and channel_of(contact) is None:
            until = member.open_invite.expires_at.astimezone(settings.tz)
            state = f"邀请 {member.open_invite.id} 未使用，有效至 {until:%Y-%m-%d %H:%M}"
        else:
            state = labels.join_state(_, member, settings.tz)
        role = labels.contact_role_label(_, contact.role)
        lines.append(
            "\t".join(
                (
                    str(contact.id),
                    member.region,
                    member.department,
                    role,
                    labels.person_name(_, contact),
                    state,
                )
            )
        )
    return "\n".join(lines)


def _invite_department(args: argparse.Namespace, session: Session) -> Department | str:
    """The department to invite for, or the line that says why there is none (ambiguous, unknown, wrong county)."""
    plan = None
    if args.plan:
        plan = session.exec(select(Plan).where(Plan.key == args.plan)).first()
        if plan is None:
            raise no_such_plan(args.plan)
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
    if not (args.department or args.list or args.cancel is not None):
        print("请用 --department 指明部门（或用 --list、--cancel N）。", file=sys.stderr)
        return 2
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
        except NotAllowed as refusal:
            assert plan is not None  # the only refusals without an inviter: the plan's county or its tasks
            if str(refusal) == "department_outside_plan":
                print(
                    f"{department.name}在方案“{plan.key}”中没有任务（牵头或配合），限定于该方案的联络员将看不到任何任务。",
                    file=sys.stderr,
                )
            else:
                print(
                    f"方案“{plan.key}”属于{plan.region}，{department.name}属于{department.region}。",
                    file=sys.stderr,
                )
            return 1
        except InvalidInput:
            print(f"姓名太长（最多 {limits.CONTACT_NAME} 字）。", file=sys.stderr)
            return 1
        for line in _invitation_lines(issued, department, settings):
            print(line)
    return 0


def _invitation_lines(issued: IssuedInvite, department: Department, settings: Settings) -> list[str]:
    """What to hand the invitee, for the channels this deployment runs: Telegram's join link, DingTalk's code
    (DingTalk has no links that start a chat with a code), or both. With neither configured here (the bot may run
    with another environment) both are printed."""
    telegram = settings.telegram_bot_token is not None
    dingtalk = settings.dingtalk_enabled
    valid = (
        f"{department.region} {department.name}：有效期至 "
        f"{issued.expires_at.astimezone(settings.tz):%Y-%m-%d %H:%M}，仅可使用一次。"
    )
    send_code = "请对方在钉钉中把这个邀请码发给督办机器人（只发邀请码，或发“加入 邀请码”）。"
    if dingtalk and not telegram:
        return [issued.token, valid, send_code]
    lines = [issued.link(settings.bot_username), valid]
    if telegram and not dingtalk:
        return lines
    return [*lines, "钉钉：" + send_code, issued.token]


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
    """Start every configured channel; a signal at any moment (while importing and connecting too) stops it with
    one line and exit 0."""
    with deferred_signals():
        if not stop_requested():
            _run_bot(args, settings)
        say_stopped()
    return 0


def _run_bot(args: argparse.Namespace, settings: Settings) -> None:
    from bot.main import Launch, run

    if stop_requested():  # while importing
        return
    if args.webhook_url and args.web_listen:  # one dashboard per process, and webhook mode has one already
        raise Refused(
            "With --webhook-url the dashboard is served on --listen already; leave out --web-listen"
        )
    if args.listen and args.web_listen:
        raise Refused(
            "--web-listen serves /healthz beside the dashboard; leave out --listen (it is for the webhook, or "
            "/healthz alone)"
        )
    token = None
    if (settings.telegram_bot_token or "").strip() or not settings.dingtalk_enabled:
        token = settings.bot_token()  # neither channel configured: the line naming TELEGRAM_BOT_TOKEN
    listen = args.web_listen or args.listen or (WEBHOOK_LISTEN if args.webhook_url else None)
    with_dashboard = bool(args.webhook_url or args.web_listen)
    run(
        settings,
        Launch(
            token=token,
            base_url=args.base_url or settings.telegram_base_url,
            emulator=args.emulator,
            poll_interval=_poll_interval(args),
            webhook_url=args.webhook_url,
            listen=listen,
            dashboard=web_commands.dashboard(settings) if with_dashboard else None,
        ),
        stop_requested=stop_requested,
    )


def _poll_interval(args: argparse.Namespace) -> float:
    """telegram-test-api answers getUpdates at once, so polling it at 0 s spins a core; Telegram holds the call."""
    if args.poll_interval is not None:
        return float(args.poll_interval)
    return 0.1 if args.emulator else 0.0


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from duban.operations import backup

    # refuses a missing database and creates nothing; the backup itself reads the file directly
    open_database(settings.database_url, create=False).dispose()
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


def build_parser(gettext: Gettext | None = None) -> argparse.ArgumentParser:
    _ = gettext or gettext_for(interface_language())
    check = Checks(_)
    parser = parser_class(_)(
        prog="duban", description=_("duban: reminders and progress for county work plans")
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show log messages")
    parser.add_argument("--log-json", action="store_true", help="log as JSON lines (one object per line)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    seed = commands.add_parser("seed", help="load seed_data into the database (idempotent)")
    seed.add_argument("files", nargs="*", help="seed files to load (default: seed_data/*.yaml)")
    seed.add_argument(
        "--replace",
        action="append",
        default=[],
        metavar="KEY",
        help="load the file with this plan key in the place of the plan there now (another title, issuer or "
        "document number)",
    )
    seed.set_defaults(func=cmd_seed)

    export = commands.add_parser("export", help="print the plans as JSON or write the 台账 workbook")
    export.add_argument(
        "--format",
        choices=["json", "xlsx"],
        help="json (the default) or xlsx, the 台账 workbook; without it the --output file's ending (.json, .xlsx) "
        "decides",
    )
    export.add_argument(
        "--output",
        type=check.output_file("台账.xlsx"),
        help="file to write (required for xlsx; JSON goes to stdout without it)",
    )
    export.add_argument(
        "--as-of",
        type=check.date,
        help="the day states are computed for, YYYY-MM-DD (default today)",
    )
    export.set_defaults(func=cmd_export)

    status = commands.add_parser("status", help="milestones by plan and by year as of today")
    status.add_argument("--department", help="only this department (name or alias)")
    status.add_argument(
        "--as-of",
        type=check.date,
        help="the day states are computed for, YYYY-MM-DD (default today)",
    )
    status.set_defaults(func=cmd_status)

    reminders = commands.add_parser(
        "reminders",
        help="print when each reminder message will go out, after holidays and quiet hours (sends nothing)",
    )
    reminders.add_argument("--from", dest="from_date", type=check.date, help="first day, YYYY-MM-DD")
    reminders.add_argument("--days", type=check.days, default=30, help="how many days to cover")
    reminders.add_argument(
        "--format", choices=["text", "json"], default="text", help="json: the same messages as data"
    )
    reminders.set_defaults(func=cmd_reminders)

    backup = commands.add_parser(
        "backup", help="SQLite: online backup to a file; PostgreSQL: the pg_dump line"
    )
    backup.add_argument(
        "--output",
        type=check.output_file("duban-backup.db"),
        help="backup file (default: beside the database, with a timestamp)",
    )
    backup.set_defaults(func=cmd_backup)

    db = commands.add_parser(
        "db",
        help="database schema: upgrade to the newest version, show the version, or check derived values",
    )
    db.add_argument(
        "action",
        choices=["upgrade", "current", "check"],
        help="upgrade: migrate the database to the newest schema; current: show its version and the newest; "
        "check: compare derived values with their sources",
    )
    db.add_argument(
        "--repair", action="store_true", help="with check: repair what differs, in one transaction"
    )
    db.set_defaults(func=cmd_db)

    invite = commands.add_parser("invite", help="print a one-time join link for a department's contact")
    invite.add_argument("--department", help="department name or alias")
    invite.add_argument("--region", help="the county, when the name exists in several (e.g. 淄博市淄川区)")
    invite.add_argument(
        "--role",
        choices=["contact", "coordinator", "lead"],
        default="contact",
        help="contact: a department's 联络员 (the default); coordinator: 督办人员; lead: 分管领导",
    )
    invite.add_argument(
        "--plan",
        help="limit the person to one plan (plan key): a contact sees only its tasks, a reader only it",
    )
    invite.add_argument("--name", default="", help="the person's name, for the ledger")
    invite.add_argument(
        "--list", action="store_true", help="list unused invitations (with --region: one county)"
    )
    invite.add_argument("--cancel", type=int, metavar="N", help="cancel unused invitation N (from --list)")
    invite.set_defaults(func=cmd_invite)

    contacts = commands.add_parser(
        "contacts", help="who has access: list, or deactivate one (takes effect at once)"
    )
    contacts.add_argument(
        "action",
        choices=["list", "deactivate"],
        help="list: everyone with access; deactivate: end one person's access (give their number)",
    )
    contacts.add_argument("id", nargs="?", type=int, help="the number from `duban contacts list`")
    contacts.add_argument("--region", help="only this county")
    contacts.set_defaults(func=cmd_contacts)

    run = commands.add_parser(
        "run",
        help="start the bot: Telegram (needs TELEGRAM_BOT_TOKEN), DingTalk (needs DUBAN_DINGTALK_CLIENT_ID and _SECRET), or both",
    )
    run.add_argument(
        "--base-url", type=check.web_address, help="another Bot API server, e.g. http://127.0.0.1:9000"
    )
    run.add_argument("--emulator", action="store_true", help="work around telegram-test-api's quirks")
    run.add_argument(
        "--poll-interval",
        type=check.seconds,
        default=None,
        help="seconds between polls (0.1 with --emulator)",
    )
    run.add_argument(
        "--webhook-url", type=check.web_address, help="public HTTPS URL of this service; enables webhook mode"
    )
    run.add_argument(
        "--listen",
        type=check.listen,
        help="host:port of the webhook server (default 127.0.0.1:8443); without --webhook-url, where /healthz "
        "alone is served",
    )
    run.add_argument(
        "--web-listen",
        type=check.listen,
        help="polling or DingTalk: also serve the web dashboard, and /healthz, on host:port (webhook mode serves "
        "them on --listen)",
    )
    run.set_defaults(func=cmd_run)

    demo = commands.add_parser(
        "demo",
        help="fresh SQLite database, seeded, with a labelled sample history of reports; prints status and "
        "coming reminders",
    )
    demo.add_argument(
        "--database",
        type=check.output_file("demo.db", makes_folder=True),
        default="var/demo.db",
        help="SQLite file to (re)create",
    )
    demo.add_argument(
        "--no-history", action="store_true", help="leave out the sample reports: nobody has reported yet"
    )
    demo.add_argument(
        "--web",
        action="store_true",
        help="then serve the web dashboard on the demo database and print a sign-in link for a demo coordinator",
    )
    demo.add_argument(
        "--listen",
        type=check.listen,
        default=web_commands.DEFAULT_LISTEN,
        help="with --web: host:port the dashboard listens on",
    )
    demo.set_defaults(func=cmd_demo)

    add_import_commands(commands, check)
    add_plan_commands(commands, check)
    add_xlsx_import_commands(commands)
    add_robot_commands(commands)
    web_commands.register(commands, check, _)  # `duban web` and `duban tongbao`
    return parser


# ---------------------------------------------------------------- the one error boundary


def main(argv: Sequence[str] | None = None) -> int:
    _ = gettext_for(interface_language())
    args = build_parser(_).parse_args(argv)
    configure_logging(verbose=args.verbose, json_lines=args.log_json, gettext=_)
    try:
        settings = get_settings()
        keep_out_of_logs(
            settings.telegram_bot_token,
            settings.dingtalk_client_secret,
            settings.webhook_secret,
            *(settings.secret_key or "").split(","),
        )
        return _run_command(args, settings)
    except ArgumentRefused as refusal:  # a bad argument found after parsing: exit 2, as argparse's own
        print(refusal.render(_), file=sys.stderr)
        return 2
    except Refused as refusal:
        return _fail(refusal.render(_))
    except SeedError as exc:
        return _fail(
            _("The seed data is wrong; nothing was loaded: {problems}").format(problems=_one_line(exc))
        )
    except sa_exc.OperationalError as exc:  # the database stopped answering in the middle of a command
        return _fail(_("The database stopped answering: {reason}").format(reason=_one_line(exc.orig)))
    except BrokenPipeError:
        # `duban export | head` closed our stdout: stop quietly, and keep Python from complaining at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # a file to read or write: permissions, a full disk, a vanished folder
        return _fail(
            _("Cannot use the file {file}: {reason}").format(
                file=exc.filename or "", reason=os_reason(exc).render(_)
            )
        )
    except KeyboardInterrupt:
        return 130


def _run_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; a SQLite file the command made and then failed in is removed, so a mistake writes nothing."""
    made = new_sqlite_file(settings.database_url) if args.command not in {"run", "demo"} else None
    try:
        code = int(args.func(args, settings))
    except BaseException:
        if made is not None:
            discard_sqlite_file(made)
        raise
    if code != 0 and made is not None:
        discard_sqlite_file(made)
    return code


def _one_line(error: object) -> str:
    return "; ".join(line.strip() for line in str(error).splitlines() if line.strip())


def _fail(line: str) -> int:
    print(line, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
