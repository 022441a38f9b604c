"""Start the bot, by polling or behind a webhook: engine, scheduler jobs and the Application, stopped together."""

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine, text
from telegram import Update
from telegram.ext import Application

from bot.app import build_application, conversation_persistence
from bot.runtime import Runtime
from bot.webhook import WEBHOOK_PATH, derive_secret, webhook_app
from duban.config import Settings
from duban.db import make_engine, single_instance_on_sqlite
from duban.migrate import ensure_schema
from scheduler.jobs import Jobs, dispatch
from scheduler.lease import LeaseKeeper
from web.app import build_web_app
from web.evidence import TelegramEvidence

log = logging.getLogger(__name__)


@dataclass
class Service:
    """Everything one running bot process owns."""

    settings: Settings
    engine: Engine
    application: Application
    jobs: Jobs
    keeper: LeaseKeeper
    scheduler: AsyncIOScheduler
    is_leader: bool = False

    def health(self) -> dict[str, Any]:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            database = "ok"
        except Exception as error:  # reported, not raised: /healthz must answer
            database = f"error: {type(error).__name__}"
        return {
            "database": database,
            "scheduler": "running" if self.scheduler.running else "stopped",
            "leader": self.is_leader,
            "instance": self.keeper.holder,
        }


def build_service(settings: Settings, *, token: str, base_url: str | None, emulator: bool) -> Service:
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
    keeper = LeaseKeeper(engine=engine, clock=runtime.now, ttl=dt.timedelta(seconds=settings.lease_seconds))
    service = Service(
        settings=settings,
        engine=engine,
        application=application,
        jobs=jobs,
        keeper=keeper,
        scheduler=AsyncIOScheduler(timezone=settings.timezone),
    )
    _wire_jobs(service)
    return service


def _wire_jobs(service: Service) -> None:
    """Interval jobs for planning and sending, one cron job for the digest; never one job per reminder.

    Every job first renews the scheduler lease, so only one instance plans, sends and digests at a time.
    """
    settings, application, scheduler = service.settings, service.application, service.scheduler
    register_commands = application.post_init
    sending = asyncio.Lock()

    def leading() -> bool:
        service.is_leader = service.keeper.acquire()
        return service.is_leader

    async def post_init(app: Application) -> None:
        if register_commands is not None:
            await register_commands(app)
        dispatcher = service.jobs.dispatcher(app.bot)

        async def dispatch_job() -> None:
            if leading():
                async with sending:  # shutdown waits for a batch in flight instead of cutting it off
                    try:
                        await dispatch(dispatcher)
                    except asyncio.CancelledError:
                        # the event loop is closing under us; rows we claimed are retried once claims expire
                        log.info("dispatch batch cancelled at shutdown")

        def plan_job() -> None:
            if leading():
                service.jobs.plan()

        def digest_job() -> None:
            if leading():
                service.jobs.digest()

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
        scheduler.add_job(
            digest_job,
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

    async def post_stop(app: Application) -> None:
        scheduler.shutdown(wait=False)
        async with sending:
            pass
        if service.is_leader:
            service.keeper.release()

    async def post_shutdown(app: Application) -> None:
        service.engine.dispose()

    application.post_init = post_init
    application.post_stop = post_stop
    application.post_shutdown = post_shutdown


def run_polling(
    settings: Settings,
    *,
    token: str,
    base_url: str | None,
    emulator: bool = False,
    poll_interval: float = 0.0,
) -> None:
    service = build_service(settings, token=token, base_url=base_url, emulator=emulator)
    lock = single_instance_on_sqlite(service.engine)
    log.info("duban bot starting (polling)")
    try:
        service.application.run_polling(poll_interval=poll_interval, drop_pending_updates=False)
    finally:
        if lock is not None:
            lock.close()


def run_webhook(
    settings: Settings,
    *,
    token: str,
    base_url: str | None,
    webhook_url: str,
    listen: str,
    emulator: bool = False,
) -> None:
    import uvicorn

    service = build_service(settings, token=token, base_url=base_url, emulator=emulator)
    lock = single_instance_on_sqlite(service.engine)
    host, _, port = listen.rpartition(":")
    secret = settings.webhook_secret or derive_secret(token)
    application = service.application
    app = webhook_app(application, secret=secret, health=service.health)
    # the dashboard, beside /telegram and /healthz; it fetches report evidence through this bot
    app.mount("/", build_web_app(service.engine, settings, evidence=TelegramEvidence(application.bot)))
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host or "127.0.0.1",
            port=int(port),
            log_level="warning",
        )
    )

    async def main() -> None:
        # run_polling calls these hooks itself; serving a webhook through our own server, we call them
        await application.initialize()
        if application.post_init:
            await application.post_init(application)
        try:
            await application.bot.set_webhook(
                url=webhook_url.rstrip("/") + WEBHOOK_PATH,
                secret_token=secret,
                allowed_updates=Update.ALL_TYPES,
            )
            await application.start()
            try:
                await server.serve()
            finally:
                await application.stop()
                if application.post_stop:
                    await application.post_stop(application)
        finally:
            await application.shutdown()
            if application.post_shutdown:
                await application.post_shutdown(application)

    log.info("duban bot starting (webhook on %s)", listen)
    try:
        asyncio.run(main())
    finally:
        if lock is not None:
            lock.close()
