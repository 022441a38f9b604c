"""Notices a user's action owes other people are queued by the service, in the action's own transaction; this
sends them at once instead of at the dispatcher's next run. A failure here loses nothing: the rows stay queued."""

from collections.abc import Sequence

from telegram.ext import ContextTypes

from bot.runtime import runtime
from bot.telegram.channel import TelegramChannel
from scheduler.dispatcher import dispatch_due


async def send_now(context: ContextTypes.DEFAULT_TYPE, ids: Sequence[int]) -> None:
    if not ids:
        return
    rt = runtime(context)
    with rt.session() as session:
        await dispatch_due(
            session=session,
            deliver=TelegramChannel(context.bot, rt.settings.tz),
            now=rt.now(),
            tz=rt.settings.tz,
            ids=ids,
        )
