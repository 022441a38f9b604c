"""Notices a user's action owes other people are queued by the service, in the action's own transaction; this
sends them at once instead of at the dispatcher's next run. A failure here loses nothing: the rows stay queued.

Only Telegram is at hand here, so the rows go through a router of that one channel: a row for someone on DingTalk
(a coordinator deciding there) is a transient failure that waits for the dispatcher, whose router sends it on
DingTalk, instead of a Telegram send that would find no account and mark them as having blocked the bot.
"""

from collections.abc import Sequence

from telegram.ext import ContextTypes

from bot.channels import ChannelRouter
from bot.telegram.channel import TelegramChannel
from bot.telegram.runtime import runtime
from scheduler.dispatcher import dispatch_due


async def send_now(context: ContextTypes.DEFAULT_TYPE, ids: Sequence[int]) -> None:
    if not ids:
        return
    rt = runtime(context)
    telegram_only = ChannelRouter({"telegram": TelegramChannel(context.bot, rt.settings.tz)})
    with rt.session() as session:
        await dispatch_due(session=session, deliver=telegram_only, now=rt.now(), tz=rt.settings.tz, ids=ids)
