"""`duban web --listen HOST:PORT` serves the dashboard alone; `duban tongbao --plan KEY --output F.docx` writes a
plan's 督查通报. Bad input is refused while parsing (duban.cli_input.Checks), with one line in the interface
language and a non-zero exit, before any database or file is opened."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, select

from duban.cli_input import Checks, Gettext
from duban.config import Settings
from duban.db import open_database
from duban.plans_cli import no_such_plan
from web.evidence import DingTalkEvidence, EvidenceSources, TelegramEvidence

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from starlette.types import ASGIApp
    from telegram import Bot

    from bot.dingtalk.api import DingTalkApi

DEFAULT_LISTEN = "127.0.0.1:8080"


def register(commands: Any, check: Checks, _: Gettext) -> None:
    """Add `web` and `tongbao` to the `duban` command's subparsers."""
    web = commands.add_parser("web", help="serve the web dashboard (sign in with /web in chat)")
    web.add_argument(
        "--listen", type=check.listen, default=DEFAULT_LISTEN, help="host:port the dashboard listens on"
    )
    web.set_defaults(func=cmd_web)

    tongbao = commands.add_parser("tongbao", help="write a plan's 督查通报 as a Word document")
    tongbao.add_argument("--plan", required=True, help="plan key, e.g. zibo-zichuan-2023")
    tongbao.add_argument("--output", required=True, type=docx_file(check, _), help="the .docx file to write")
    tongbao.add_argument("--date", type=check.date, help="as of this day, YYYY-MM-DD (default: today)")
    tongbao.set_defaults(func=cmd_tongbao)


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
    import uvicorn

    from web.app import build_web_app

    host, port = host_and_port(args.listen)
    engine = open_database(settings.database_url, create=False)  # an empty dashboard helps nobody
    try:
        print(f"督办网页端：http://{args.listen}/ （在聊天中发送 /web 获取登录链接）", file=sys.stderr)
        uvicorn.run(
            build_web_app(engine, settings, evidence=_evidence(settings)),
            host=host,
            port=port,
            log_level="warning",
        )
    finally:
        engine.dispose()
    return 0


def cmd_tongbao(args: argparse.Namespace, settings: Settings) -> int:
    from duban import tongbao
    from models import Plan

    output = Path(args.output)
    engine = open_database(settings.database_url, create=False)
    try:
        with Session(engine) as session:
            plan = session.exec(select(Plan).where(Plan.key == args.plan)).first()
            if plan is None:
                raise no_such_plan(args.plan)
            today = args.date or dt.datetime.now(settings.tz).date()
            figures = tongbao.gather(session=session, plans=[plan], today=today)
    finally:
        engine.dispose()
    tongbao.write(figures, output)  # atomic: an OSError leaves no file, and main says why in one line
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
    from telegram import Bot

    from bot.dingtalk.app import dingtalk_api

    telegram = None
    if settings.telegram_bot_token:
        base = (settings.telegram_base_url or "https://api.telegram.org").rstrip("/")
        telegram = TelegramEvidence(
            Bot(settings.telegram_bot_token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot")
        )
    dingtalk = DingTalkEvidence(dingtalk_api(settings)) if settings.dingtalk_enabled else None
    return EvidenceSources(telegram=telegram, dingtalk=dingtalk)
