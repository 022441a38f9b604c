"""Start the bot: engine, scheduler jobs and polling, all stopped together."""

import datetime as dt
import logging
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlmodel import Session
from telegram.ext import Application

from bot.app import build_application, conversation_persistence
from bot.runtime import Runtime
from duban.config import Settings
from duban.db import create_schema, make_engine
from scheduler.dispatcher import dispatch_due
from scheduler.outbox_planner import plan_outbox
from scheduler.policy import ReminderPolicy

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
    create_schema(engine)
    runtime = Runtime(engine=engine, settings=settings)
    Path(settings.state_dir).mkdir(parents=True, exist_ok=True)
    persistence = conversation_persistence(Path(settings.state_dir) / "conversations.pickle")
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
        persistence=persistence,
        rate_limit=not emulator,
    )
    scheduler = AsyncIOScheduler(timezone=settings.timezone)

    async def dispatch_job() -> None:
        with Session(engine) as session:
            await dispatch_due(session=session, bot=application.bot, now=runtime.now())

    def plan_job() -> None:
        with Session(engine) as session:
            plan_outbox(
                session=session,
                now=runtime.now(),
                tz=settings.tz,
                policy=ReminderPolicy(
                    lead_days=tuple(settings.reminder_days), co_notice_days=settings.co_notice_days
                ),
                catch_up_days=settings.catch_up_days,
            )

    async def start_jobs(app: Application) -> None:  # type: ignore[type-arg]
        scheduler.add_job(
            dispatch_job,
            "interval",
            seconds=settings.dispatch_interval_seconds,
            id="dispatch",
            max_instances=1,
            coalesce=True,
        )
        scheduler.add_job(
            plan_job,
            "interval",
            seconds=settings.plan_interval_seconds,
            id="plan",
            max_instances=1,
            coalesce=True,
            next_run_time=dt.datetime.now(dt.UTC),
        )
        scheduler.start()

    async def stop_jobs(app: Application) -> None:  # type: ignore[type-arg]
        scheduler.shutdown(wait=False)
        engine.dispose()

    register_commands = application.post_init

    async def post_init(app: Application) -> None:  # type: ignore[type-arg]
        if register_commands is not None:
            await register_commands(app)
        await start_jobs(app)

    application.post_init = post_init
    application.post_shutdown = stop_jobs
    log.info("duban bot starting (polling)")
    application.run_polling(poll_interval=poll_interval, drop_pending_updates=False)
