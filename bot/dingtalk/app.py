"""The DingTalk channel, built from the settings: what `duban run` starts beside (or instead of) Telegram.

`build_dingtalk_channel` makes the OpenAPI client, the Stream receiver and the conversation once; the wiring
(bot/main.py) runs `channel.run()` in its event loop (it returns after `stop()`), gives the dispatcher's router
`channel.deliver` for contacts whose channel is DingTalk, and calls `aclose()` at shutdown.
`python -m bot.dingtalk.app` runs the channel alone (no scheduler): for trying an app against DingTalk, and for
the process test against the stand-in.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine
from sqlmodel import Session

from bot.core.commands import Clock, CommandCore
from bot.dingtalk.api import DingTalkApi
from bot.dingtalk.channel import DingTalkSender, RobotConversation, dingtalk_notice_deliver
from bot.dingtalk.pacing import DingTalkPacer
from bot.dingtalk.stream import StreamReceiver
from duban.config import Settings, get_settings
from duban.db import make_engine
from duban.migrate import ensure_schema
from models import utcnow
from scheduler.delivery import Deliver

log = logging.getLogger(__name__)


@dataclass
class DingTalkChannel:
    api: DingTalkApi
    sender: DingTalkSender
    conversation: RobotConversation
    receiver: StreamReceiver
    tz: dt.tzinfo  # the settings' time zone, for the notices it renders

    @property
    def deliver(self) -> Deliver:
        """The dispatcher's Deliver for contacts who joined on DingTalk."""
        return dingtalk_notice_deliver(self.sender, self.tz)

    async def run(self) -> None:
        await self.receiver.run()

    async def stop(self) -> None:
        await self.receiver.stop()
        await self.conversation.drain()

    async def aclose(self) -> None:
        await self.api.aclose()


def dingtalk_api(settings: Settings, *, http: httpx.AsyncClient | None = None) -> DingTalkApi:
    """The app's OpenAPI client, as the settings describe it (the channel's, and the dashboard's alone)."""
    if not (settings.dingtalk_client_id and settings.dingtalk_client_secret):
        raise ValueError("DUBAN_DINGTALK_CLIENT_ID and DUBAN_DINGTALK_CLIENT_SECRET are needed for DingTalk")
    return DingTalkApi(
        client_id=settings.dingtalk_client_id,
        client_secret=settings.dingtalk_client_secret,
        robot_code=settings.dingtalk_robot_code,
        base_url=settings.dingtalk_api_base,
        legacy_base_url=settings.dingtalk_legacy_api_base,
        http=http,
    )


def build_dingtalk_channel(
    settings: Settings,
    engine: Engine,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
    pacer: DingTalkPacer | None = None,
) -> DingTalkChannel:
    """The channel, with one pacer for everything it sends (tests pass one on a hand-set clock)."""
    if not (settings.dingtalk_client_id and settings.dingtalk_client_secret):
        raise ValueError("DUBAN_DINGTALK_CLIENT_ID and DUBAN_DINGTALK_CLIENT_SECRET are needed for DingTalk")
    http = httpx.AsyncClient(timeout=httpx.Timeout(10.0))
    api = dingtalk_api(settings, http=http)
    sender = DingTalkSender(api, pacer or DingTalkPacer())
    core = CommandCore(session=lambda: Session(engine), clock=Clock(settings, clock))
    conversation = RobotConversation(core=core, sender=sender)
    receiver = StreamReceiver(
        client_id=settings.dingtalk_client_id,
        client_secret=settings.dingtalk_client_secret,
        on_message=conversation,
        api_base=settings.dingtalk_api_base,
        http=http,
        local_ip=lambda: "",  # DingTalk's gateway takes the address it sees; no lookup towards 8.8.8.8
    )
    return DingTalkChannel(
        api=api, sender=sender, conversation=conversation, receiver=receiver, tz=settings.tz
    )


async def serve(settings: Settings) -> None:
    """Run the DingTalk channel until SIGTERM or SIGINT."""
    engine = make_engine(settings.database_url)
    ensure_schema(engine)
    channel = build_dingtalk_channel(settings, engine)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: asyncio.ensure_future(channel.stop()))
    log.info("DingTalk channel connecting to %s", settings.dingtalk_api_base)
    try:
        await channel.run()
    finally:
        await channel.aclose()
        engine.dispose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(get_settings()))
