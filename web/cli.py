"""`duban web --listen HOST:PORT` serves the dashboard alone; `duban tongbao --plan KEY --output F.docx` writes a
plan's 督查通报."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from duban.config import Settings
from duban.db import make_engine
from duban.migrate import ensure_schema
from web.evidence import TelegramEvidence


def register(commands: Any) -> None:
    """Add `web` and `tongbao` to the `duban` command's subparsers."""
    web = commands.add_parser("web", help="serve the web dashboard (sign in with /web in chat)")
    web.add_argument("--listen", default="127.0.0.1:8080", help="host:port to listen on")
    web.set_defaults(func=cmd_web)

    tongbao = commands.add_parser("tongbao", help="write a plan's 督查通报 as a Word document")
    tongbao.add_argument("--plan", required=True, help="plan key, e.g. zibo-zichuan-2023")
    tongbao.add_argument("--output", required=True, help="the .docx file to write")
    tongbao.add_argument(
        "--date", type=dt.date.fromisoformat, help="as of this day, YYYY-MM-DD (default: today)"
    )
    tongbao.set_defaults(func=cmd_tongbao)


def parse_listen(text: str) -> tuple[str, int] | None:
    host, _, port = text.rpartition(":")
    if not host or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host.strip("[]"), int(port)


def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from web.app import build_web_app

    listen = parse_listen(args.listen)
    if listen is None:
        print(f"--listen 应为 主机:端口，例如 127.0.0.1:8080（收到“{args.listen}”）。", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    ensure_schema(engine)
    host, port = listen
    print(f"督办网页端：http://{host}:{port}/ （在聊天中发送 /web 获取登录链接）", file=sys.stderr)
    uvicorn.run(
        build_web_app(engine, settings, evidence=_evidence(settings)),
        host=host,
        port=port,
        log_level="warning",
    )
    return 0


def cmd_tongbao(args: argparse.Namespace, settings: Settings) -> int:
    from duban import tongbao
    from models import Plan

    output = Path(args.output)
    if output.suffix.lower() != ".docx":
        print(f"输出文件应以 .docx 结尾：{output}", file=sys.stderr)
        return 2
    if not output.parent.is_dir():
        print(f"目录不存在：{output.parent}", file=sys.stderr)
        return 1
    engine = make_engine(settings.database_url)
    ensure_schema(engine)
    with Session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == args.plan)).first()
        if plan is None:
            print(f"没有找到方案“{args.plan}”。", file=sys.stderr)
            return 1
        today = args.date or dt.datetime.now(settings.tz).date()
        figures = tongbao.gather(session=session, plans=[plan], today=today)
    try:
        tongbao.write(figures, output)
    except OSError as error:
        print(f"无法写入 {output}：{error.strerror or error}", file=sys.stderr)
        return 1
    print(
        f"督查通报已写入 {output}（{len(figures.lagging_milestones)} 个逾期节点，"
        f"{len(figures.reported_departments)} 个部门本期汇报）。"
    )
    return 0


def _evidence(settings: Settings) -> TelegramEvidence | None:
    """With the bot's token the dashboard shows report evidence, fetched from Telegram; without, it says where it is."""
    from telegram import Bot

    if not settings.telegram_bot_token:
        return None
    base = (settings.telegram_base_url or "https://api.telegram.org").rstrip("/")
    return TelegramEvidence(
        Bot(settings.telegram_bot_token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot")
    )
