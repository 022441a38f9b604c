"""Start the bot: engine, scheduler jobs and polling, started and stopped together."""

import asyncio
import datetime as dt
import logging
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from telegram.ext import Application

from bot.app import build_application, conversation_persistence
from bot.runtime import Runtime
from duban.config import Settings
from duban.db import make_engine
from duban.migrate import ensure_schema
from scheduler.jobs import Jobs, dispatch

log = logging.getLogger(__name__)


def run_polling(
    settings: Settings,
    *,
    token: str,
    base_url: str | None,
    emulator: bool = False,
    poll_interval: float = 0.0,
) -> None:
    engine = make_engine(settings.database_url)
    ensure_schema(engine)
    runtime = Runtime(engine=engine, settings=settings)
    Path(settings.state_dir).mkdir(parents=True, exist_ok=True)
    request = updates_request = None
    if emulator:
        from bot.emulator import EmulatorRequest

        request, updates_request = EmulatorRequest(), EmulatorRequest()
    application = build_application(
        runtime,
        token=token,
        base_url=base_url,
        request=request,
        get_updates_request=updates_request,
        persistence=conversation_persistence(Path(settings.state_dir) / "conversations.pickle"),
        rate_limit=not emulator,
    )
    jobs = Jobs(engine=engine, settings=settings, clock=runtime.now)
    scheduler = AsyncIOScheduler(timezone=settings.timezone)
    register_commands = application.post_init
    sending = asyncio.Lock()

    async def post_init(app: Application) -> None:  # type: ignore[type-arg]
        if register_commands is not None:
            await register_commands(app)
        dispatcher = jobs.dispatcher(app.bot)

        async def dispatch_job() -> None:
            async with sending:  # shutdown waits for a batch in flight instead of cutting it off
                await dispatch(dispatcher)

        # interval jobs for planning and sending, one cron job for the digest; never one job per reminder
        scheduler.add_job(
            dispatch,
            "interval",
            args=[dispatcher],
            seconds=settings.dispatch_interval_seconds,
            id="dispatch",
            max_instances=1,
            coalesce=True,
        )
        scheduler.add_job(
            jobs.plan,
            "interval",
            seconds=settings.plan_interval_seconds,
            id="plan",
            max_instances=1,
            coalesce=True,
            next_run_time=dt.datetime.now(dt.UTC),
        )
        scheduler.add_job(
            jobs.digest,
            "cron",
            day_of_week="mon",
            hour=9,
            minute=0,
            id="digest",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=6 * 3600,
        )
        scheduler.start()

    async def post_stop(app: Application) -> None:  # type: ignore[type-arg]
        scheduler.shutdown(wait=False)
        async with sending:
            pass

    async def post_shutdown(app: Application) -> None:  # type: ignore[type-arg]
        engine.dispose()

    application.post_init = post_init
    application.post_stop = post_stop
    application.post_shutdown = post_shutdown
    log.info("duban bot starting (polling)")
    application.run_polling(poll_interval=poll_interval, drop_pending_updates=False)
