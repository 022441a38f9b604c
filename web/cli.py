"""`duban web --listen HOST:PORT` serves the dashboard alone; `duban web link` prints a sign-in link for a
coordinator or lead without the chat; `duban demo --web` serves the demo database (serve_demo);
`duban tongbao --plan KEY --output F.docx` writes a plan's 督查通报. Bad input is refused while parsing
(duban.cli_input.Checks), with one line in the interface language and a non-zero exit, before any database or file
is opened."""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, select

from bot.telegram.evidence import TelegramEvidence, evidence_by_token
from duban.cli_input import Checks, Gettext
from duban.config import Settings
from duban.db import open_database
from duban.errors import Refused
from duban.plans_cli import no_such_plan
from duban.services.errors import NotFound
from models import Contact
from web.evidence import DingTalkEvidence, EvidenceSources

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from starlette.types import ASGIApp
    from telegram import Bot

    from bot.dingtalk.api import DingTalkApi
    from duban.tongbao import DocumentNumber

DEFAULT_LISTEN = "127.0.0.1:8080"


def register(commands: Any, check: Checks, _: Gettext) -> None:
    """Add `web` and `tongbao` to the `duban` command's subparsers."""
    web = commands.add_parser("web", help="serve the web dashboard (sign in with /web in chat)")
    web.add_argument(
        "--listen", type=check.listen, default=DEFAULT_LISTEN, help="host:port the dashboard listens on"
    )
    web.set_defaults(func=cmd_web)
    actions = web.add_subparsers(dest="web_action", metavar="link")
    link = actions.add_parser(
        "link", help="print a one-time sign-in link for a coordinator or lead, without the chat"
    )
    link.add_argument(
        "--coordinator",
        type=int,
        metavar="N",
        help="the coordinator's or lead's number from `duban contacts list`",
    )
    link.add_argument("--department", help="the one coordinator or lead of this department (name or alias)")
    link.add_argument(
        "--region", help="the county (with --department, or alone: its one coordinator or lead)"
    )
    link.set_defaults(func=cmd_web_link)

    tongbao = commands.add_parser("tongbao", help="write a plan's 督查通报 as a Word document")
    tongbao.add_argument("--plan", required=True, help="plan key, e.g. zibo-zichuan-2023")
    tongbao.add_argument("--output", required=True, type=docx_file(check, _), help="the .docx file to write")
    tongbao.add_argument("--date", type=check.date, help="as of this day, YYYY-MM-DD (default: today)")
    tongbao.add_argument(
        "--number",
        type=document_number(_),
        help="the document number: 3 (with DUBAN_DOCUMENT_CODE and the year) or 淄教督〔2026〕3号",
    )
    tongbao.add_argument(
        "--office",
        type=bounded_text(_, "--office", 60),
        help="the issuing office that signs it (default: DUBAN_ISSUING_OFFICE, else the plan's issuer)",
    )
    tongbao.add_argument(
        "--to",
        type=bounded_text(_, "--to", 200),
        help="the addressees (主送), e.g. 各镇（街道）、区直有关部门 (default: 各有关部门)",
    )
    tongbao.set_defaults(func=cmd_tongbao)


def document_number(_: Gettext) -> Callable[[str], DocumentNumber]:
    """`--number`: a serial, or a whole 发文字号; refused while parsing, before anything is written."""
    from duban.tongbao import parse_document_number

    def number(text: str) -> DocumentNumber:
        try:
            return parse_document_number(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                _("“{text}” is not a document number; write a number like 3, or 淄教督〔2026〕3号").format(
                    text=text
                )
            ) from None

    return number


def bounded_text(_: Gettext, option: str, most: int) -> Callable[[str], str]:
    """Text printed in the document: not empty, one line, at most `most` characters."""

    def bounded(text: str) -> str:
        given = text.strip()
        if not given or len(given) > most or any(ch in given for ch in "\r\n"):
            raise argparse.ArgumentTypeError(
                _("{option} needs one line of 1 to {most} characters").format(option=option, most=most)
            )
        return given

    return bounded


def docx_file(check: Checks, _: Gettext) -> Callable[[str], str]:
    """A Word file to write: named .docx, in a folder that exists."""
    in_a_folder = check.output_file("督查通报.docx")

    def docx(text: str) -> str:
        if Path(text).suffix.lower() != ".docx":
            raise argparse.ArgumentTypeError(
                _("“{text}” is not a Word file name; end it in .docx, like 督查通报.docx").format(text=text)
            )
        return in_a_folder(text)

    return docx


def host_and_port(listen: str) -> tuple[str, int]:
    """check.listen has accepted it; an empty host (":8080") listens on this machine only."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    from web.app import build_web_app

    engine = open_database(settings.database_url, create=False)  # an empty dashboard helps nobody
    try:
        listening = listening_on(args.listen)
        _ = _gettext()
        # which database: `duban demo` writes var/demo.db, this reads DUBAN_DATABASE_URL (var/duban.db by default)
        print(
            _(
                "duban web dashboard: {url} (database {database}; sign-in links: /web in chat, or duban web link)"
            ).format(url=f"{_address(listening)}/", database=database_named(settings.database_url)),
            file=sys.stderr,
            flush=True,
        )
        _serve(build_web_app(engine, settings, evidence=_evidence(settings)), listening)
    finally:
        engine.dispose()
    return 0


def serve_demo(settings: Settings, *, database: Path, listening: socket.socket) -> None:
    """`duban demo --web`: the dashboard on the demo database, with a sign-in link for 演示协调员 (a coordinator
    with no chat account), so a newcomer sees the dashboard with one command. The address is this machine's: the
    link and the cookie need no DUBAN_WEB_BASE_URL. `listening` is bound before the demo is made (listening_on), so
    an address in use is one line and changes nothing."""
    from duban.demo_history import DEMO_COORDINATOR, demo_coordinator
    from duban.operations import run_by
    from duban.services.web_login import LOGIN_TTL, issue_login_link
    from web.app import build_web_app

    _ = _gettext()
    base = _address(listening)
    url = f"sqlite:///{database}"
    demo = settings.model_copy(update={"database_url": url, "web_base_url": base, "web_secure_cookie": False})
    engine = open_database(url, create=False)
    try:
        with Session(engine) as session:
            coordinator = demo_coordinator(session=session)
            issued = issue_login_link(
                session=session,
                contact=coordinator,
                now=dt.datetime.now(dt.UTC),
                issued_by=run_by("duban demo --web"),
            )
            where = f"{coordinator.department.region} {coordinator.department.name}"
            number = coordinator.id
        minutes = int(LOGIN_TTL.total_seconds() // 60)
        for line in (
            "",
            _("Web dashboard of the demo: {url} (database {database}); Ctrl-C stops it.").format(
                url=f"{base}/", database=database
            ),
            _(
                "Open this link to sign in as {name} ({where}, a coordinator made up for the demo); "
                "it works once, within {minutes} minutes:"
            ).format(name=DEMO_COORDINATOR, where=where, minutes=minutes),
            issued.link(base),
            _("A new link, from another terminal: {command}").format(
                command=f"DUBAN_DATABASE_URL={url} DUBAN_WEB_BASE_URL={base} duban web link --coordinator {number}"
            ),
        ):
            print(line, flush=True)
        _serve(build_web_app(engine, demo), listening)
    finally:
        engine.dispose()


def database_named(url: str) -> str:
    """The database as a person names it: a SQLite file's path, or the URL without its password."""
    from duban.db import parse_database_url, sqlite_file

    parsed = parse_database_url(url)
    path = sqlite_file(parsed)
    return str(path) if path is not None else parsed.render_as_string(hide_password=True)


def _gettext() -> Gettext:
    from bot.i18n import gettext_for
    from duban.config import interface_language

    return gettext_for(interface_language())


LISTEN_ERRORS = {  # why the dashboard cannot listen, in words the catalogue translates
    errno.EADDRINUSE: "{listen} is in use by another program (another duban web or duban run?); choose another "
    "address with --listen",
    errno.EADDRNOTAVAIL: "This machine has no address {listen}; choose another with --listen",
    errno.EACCES: "Listening on {listen} is not allowed to this account (ports below 1024 need root); choose "
    "another with --listen",
}


def listening_on(listen: str) -> socket.socket:
    """The dashboard's socket, bound before anything is printed or served, so an address in use is one line."""
    host, port = host_and_port(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        reason = LISTEN_ERRORS.get(
            error.errno or 0, "Cannot listen on {listen}; choose another address with --listen"
        )
        raise Refused(reason, listen=listen) from None


def _address(listening: socket.socket) -> str:
    """The dashboard's address as a browser on this machine reaches it (all addresses: this one's loopback)."""
    host, port = listening.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _serve(app: ASGIApp, listening: socket.socket) -> None:
    """Until Ctrl-C or SIGTERM (uvicorn's own handlers: requests under way finish)."""
    import uvicorn

    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listening])
    finally:
        listening.close()


def cmd_web_link(args: argparse.Namespace, settings: Settings) -> int:
    """`duban web link`: the chat's /web for an operator at the server, for a reader who has no chat yet (or has
    lost it): the same service, the same audit row (with the command line in its detail), the same 10 minutes."""
    from bot.core import labels
    from duban.operations import run_by
    from duban.services.web_login import LOGIN_TTL, issue_login_link

    if args.coordinator is None and not (args.department or args.region):
        raise Refused(
            "Name the person: --coordinator N (the number from duban contacts list), or --department"
        )
    if "web_base_url" not in settings.model_fields_set:  # the default points at this machine only
        raise Refused(
            "DUBAN_WEB_BASE_URL is not set: a sign-in link must name the dashboard's address, the same one "
            "duban run or duban web serves, e.g. DUBAN_WEB_BASE_URL=https://duban.example.gov.cn"
        )
    _ = _gettext()
    now = dt.datetime.now(dt.UTC)
    command = " ".join(["duban web link", *_given(args)])
    engine = open_database(settings.database_url, create=False)
    try:
        with Session(engine) as session:
            reader = _reader(session, args)
            department = reader.department.name
            issued = issue_login_link(session=session, contact=reader, now=now, issued_by=run_by(command))
            who = _("{name} ({department}, {role}, number {id})").format(
                name=labels.person_name(_, reader),
                department=department,
                role=labels.contact_role_label(_, reader.role),
                id=reader.id,
            )
    finally:
        engine.dispose()
    minutes = int(LOGIN_TTL.total_seconds() // 60)
    print(
        _(
            "Sign-in link to the web dashboard for {who}, for them only, single use, valid {minutes} minutes:"
        ).format(who=who, minutes=minutes)
    )
    print(issued.link(settings.web_base_url))
    return 0


def _given(args: argparse.Namespace) -> list[str]:
    """The options as typed, for the audit row: who was asked for, by number or by department."""
    given = [
        ("--coordinator", args.coordinator),
        ("--department", args.department),
        ("--region", args.region),
    ]
    return [f"{option} {value}" for option, value in given if value is not None]


def _reader(session: Session, args: argparse.Namespace) -> Contact:
    """The one active coordinator or lead the options name, or the line that says why there is none."""
    from duban.services.invites import department_regions, resolve_department
    from duban.services.web_login import READER_ROLES, readers

    if args.coordinator is not None:
        contact = session.get(Contact, args.coordinator)
        if contact is None:
            raise Refused(
                "There is no contact number {id}; duban contacts list shows the numbers", id=args.coordinator
            )
        if not contact.active:
            raise Refused("Contact {id} no longer has access (deactivated)", id=args.coordinator)
        if contact.role not in READER_ROLES:
            raise Refused(
                "Contact {id} is a department contact; the dashboard is for coordinators and leads only",
                id=args.coordinator,
            )
        return contact
    department_id = None
    if args.department:
        try:
            department_id = resolve_department(session=session, name=args.department, region=args.region).id
        except NotFound:
            regions = department_regions(session=session, name=args.department)
            if args.region is None and len(regions) > 1:
                raise Refused(
                    "“{name}” exists in several counties: {regions}; name one with --region",
                    name=args.department,
                    regions="、".join(regions),
                ) from None
            raise Refused(
                "There is no department “{name}”; write its full name", name=args.department
            ) from None
    found = readers(session=session, department_id=department_id, region=args.region)
    where = args.department or args.region
    if not found:
        raise Refused(
            "{where} has no coordinator or lead with access; invite one with duban invite --role coordinator",
            where=where,
        )
    if len(found) > 1:
        raise Refused(
            "{where} has several coordinators and leads ({numbers}); choose one with --coordinator N",
            where=where,
            numbers="、".join(str(contact.id) for contact in found),
        )
    return found[0]


def cmd_tongbao(args: argparse.Namespace, settings: Settings) -> int:
    from duban import tongbao
    from models import Plan

    output = Path(args.output)
    today = args.date or dt.datetime.now(settings.tz).date()
    engine = open_database(settings.database_url, create=False)
    try:
        with Session(engine) as session:
            plan = session.exec(select(Plan).where(Plan.key == args.plan)).first()
            if plan is None:
                raise no_such_plan(args.plan)
            figures = tongbao.gather(session=session, plans=[plan], today=today)
    finally:
        engine.dispose()
    heading = tongbao.Heading(
        office=args.office or settings.issuing_office or figures.issuer,
        signed_on=today,
        number=args.number.text(code=settings.document_code or "", year=today.year) if args.number else None,
        recipients=args.to or tongbao.DEFAULT_RECIPIENTS,
    )
    # atomic: an OSError leaves no file, and main says why in one line
    tongbao.write(figures, output, heading)
    print(
        f"督查通报已写入 {output}（{len(figures.lagging_milestones)} 个逾期节点，"
        f"{len(figures.reported_departments)} 个部门本期汇报）。"
    )
    return 0


def dashboard(settings: Settings) -> Callable[[Engine, Bot | None, DingTalkApi | None], ASGIApp]:
    """The dashboard `duban run` serves; it fetches report evidence through the running bot and, where DingTalk
    runs, through that channel's API client (either may be all there is)."""

    def build(engine: Engine, bot: Bot | None, dingtalk: DingTalkApi | None) -> ASGIApp:
        from web.app import build_web_app

        sources = EvidenceSources(
            telegram=TelegramEvidence(bot) if bot else None,
            dingtalk=DingTalkEvidence(dingtalk) if dingtalk else None,
        )
        return build_web_app(engine, settings, evidence=sources)

    return build


def _evidence(settings: Settings) -> EvidenceSources:
    """The dashboard alone shows report evidence from the platforms it has credentials for (the bot's token,
    the DingTalk app); for the others its pages say where the files are."""
    from bot.dingtalk.app import dingtalk_api

    telegram = None
    if settings.telegram_bot_token:
        telegram = evidence_by_token(settings.telegram_bot_token, settings.telegram_base_url)
    dingtalk = DingTalkEvidence(dingtalk_api(settings)) if settings.dingtalk_enabled else None
    return EvidenceSources(telegram=telegram, dingtalk=dingtalk)
