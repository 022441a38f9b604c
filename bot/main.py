"""Start the bot, by polling or behind a webhook: engine, scheduler jobs and the Application, stopped together."""

import asyncio
import datetime as dt
import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine, text
from starlette.types import ASGIApp
from telegram import Bot, Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application
from telegram.warnings import PTBUserWarning

from bot.app import build_application, conversation_persistence
from bot.runtime import Runtime
from bot.telegram.channel import TelegramChannel
from bot.webhook import WEBHOOK_PATH, derive_secret, webhook_app
from duban.config import Settings
from duban.db import open_database, single_instance_on_sqlite
from duban.errors import ConfigurationError, Refused
from scheduler.jobs import Jobs, dispatch
from scheduler.lease import LeaseKeeper

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger(__name__)

# /report mixes button and text steps, so it is tracked per user, not per message, on purpose (as in pyproject's
# pytest settings); PTB's advice would otherwise print on every start, in front of the log
warnings.filterwarnings("ignore", message="If 'per_message=False'", category=PTBUserWarning)

# network trouble at start-up (no route yet, DNS not up, the Bot API briefly away) is retried: 1+2+4+8+16 s
STARTUP_ATTEMPTS = 6
FIRST_RETRY_SECONDS = 1.0
startup_pause: Callable[[float], Awaitable[object]] = asyncio.sleep  # tests put a recording fake here


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
    engine = open_database(settings.database_url, create=True)
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
        dispatcher = service.jobs.dispatcher(TelegramChannel(app.bot))

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


async def connect_to_telegram(
    application: Application,
    *,
    attempts: int = STARTUP_ATTEMPTS,
    first_delay: float = FIRST_RETRY_SECONDS,
    sleep: Callable[[float], Awaitable[object]] | None = None,
) -> None:
    """Initialize the application (its first Bot API call), retrying network errors with a doubling wait.

    Each failed try is logged in one line; a token Telegram refuses is not retried. Refused when every try failed.
    """
    pause = sleep or startup_pause
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            await application.initialize()
            return
        except InvalidToken as error:
            raise ConfigurationError(
                "Telegram refused TELEGRAM_BOT_TOKEN ({reason}); put the token @BotFather gave you in it",
                reason=str(error),
            ) from None
        except NetworkError as error:
            if attempt == attempts:
                raise Refused(
                    "Cannot reach the Telegram Bot API after {attempts} tries ({reason}); "
                    "check the network or DUBAN_TELEGRAM_BASE_URL",
                    attempts=attempts,
                    reason=str(error),
                ) from None
            log.warning(
                "Telegram Bot API not reachable (%s); try %d of %d, next in %g s",
                error,
                attempt,
                attempts,
                delay,
            )
            await pause(delay)
            delay *= 2


def run_polling(
    settings: Settings,
    *,
    token: str,
    base_url: str | None,
    emulator: bool = False,
    poll_interval: float = 0.0,
    dashboard: Callable[[Engine, Bot], ASGIApp] | None = None,
    web_listen: str | None = None,
) -> None:
    """Poll Telegram; with `dashboard` and `web_listen`, serve the dashboard on that address in the same process
    (a county without a public HTTPS address still gets its /web pages)."""
    service = build_service(settings, token=token, base_url=base_url, emulator=emulator)
    lock = single_instance_on_sqlite(service.engine)
    log.info("duban bot starting (polling)")
    try:
        if dashboard is not None and web_listen is not None:
            app = dashboard(service.engine, service.application.bot)
            asyncio.run(_poll_and_serve(service.application, _server(app, web_listen), poll_interval))
            return
        # connect in the loop run_polling then takes over, so the HTTP clients stay on one loop
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(connect_to_telegram(service.application))
        except BaseException:
            loop.close()
            raise
        service.application.run_polling(poll_interval=poll_interval, drop_pending_updates=False)
    finally:
        if lock is not None:
            lock.close()


def _server(app: ASGIApp, listen: str) -> "uvicorn.Server":
    import uvicorn

    host, _, port = listen.rpartition(":")
    return uvicorn.Server(
        uvicorn.Config(app, host=host.strip("[]") or "127.0.0.1", port=int(port), log_level="warning")
    )


async def _poll_and_serve(application: Application, server: "uvicorn.Server", poll_interval: float) -> None:
    """run_polling's hooks, called by hand around our own HTTP server (as run_webhook does); the server's end
    (a signal) stops the polling too."""
    await connect_to_telegram(application)
    if application.post_init:
        await application.post_init(application)
    updater = application.updater
    assert updater is not None  # build_application keeps PTB's default updater
    try:
        await updater.start_polling(poll_interval=poll_interval, drop_pending_updates=False)
        await application.start()
        try:
            await server.serve()
        finally:
            await updater.stop()
            await application.stop()
            if application.post_stop:
                await application.post_stop(application)
    finally:
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)


def run_webhook(
    settings: Settings,
    *,
    token: str,
    base_url: str | None,
    webhook_url: str,
    listen: str,
    emulator: bool = False,
    dashboard: Callable[[Engine, Bot], ASGIApp] | None = None,
) -> None:
    """Serve /telegram and /healthz; `dashboard` (the wiring passes the web dashboard, which fetches report
    evidence through this bot) is mounted beside them."""
    service = build_service(settings, token=token, base_url=base_url, emulator=emulator)
    lock = single_instance_on_sqlite(service.engine)
    secret = settings.webhook_secret or derive_secret(token)
    application = service.application
    app = webhook_app(application, secret=secret, health=service.health)
    if dashboard is not None:
        app.mount("/", dashboard(service.engine, application.bot))
    server = _server(app, listen)

    async def main() -> None:
        # run_polling calls these hooks itself; serving a webhook through our own server, we call them
        await connect_to_telegram(application)
        if application.post_init:
            await application.post_init(application)
        try:
            try:
                await application.bot.set_webhook(
                    url=webhook_url.rstrip("/") + WEBHOOK_PATH,
                    secret_token=secret,
                    allowed_updates=Update.ALL_TYPES,
                )
            except TelegramError as error:  # "Bad webhook: An HTTPS URL must be provided for webhook"
                raise Refused(
                    "Telegram refused the webhook {url} ({reason}); give the public HTTPS address of this service",
                    url=webhook_url,
                    reason=str(error),
                ) from None
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
