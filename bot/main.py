"""Start the bot, by polling or behind a webhook: engine, scheduler jobs and the Application, stopped together."""

import asyncio
import datetime as dt
import logging
import signal
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine, text
from sqlmodel import Session
from starlette.types import ASGIApp
from telegram import Bot, Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application
from telegram.warnings import PTBUserWarning

from bot.app import build_application, conversation_persistence
from bot.channels import ChannelRouter
from bot.dingtalk.api import DingTalkApi
from bot.dingtalk.app import DingTalkChannel, build_dingtalk_channel
from bot.robots.senders import GroupRobotSender, RobotKeys
from bot.robots.weekly import post_weekly, robots_at_start
from bot.runtime import Runtime
from bot.telegram.channel import TelegramChannel
from bot.webhook import WEBHOOK_PATH, derive_secret, webhook_app
from duban.config import Settings
from duban.db import open_database, single_instance_on_sqlite
from duban.errors import ConfigurationError, Refused
from scheduler.delivery import Deliver
from scheduler.dispatcher import dispatch_due
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
    """Everything one running bot process owns: the channels configured (Telegram, DingTalk, or both), one
    scheduler, one dispatcher whose router sends each row on its recipient's channel."""

    settings: Settings
    engine: Engine
    application: Application | None
    jobs: Jobs
    keeper: LeaseKeeper
    scheduler: AsyncIOScheduler
    runtime: Runtime | None = None
    dingtalk: DingTalkChannel | None = None
    is_leader: bool = False
    sending: asyncio.Lock = field(default_factory=asyncio.Lock)
    planning: asyncio.Lock = field(default_factory=asyncio.Lock)
    robots: GroupRobotSender = field(default_factory=GroupRobotSender)
    robot_keys: RobotKeys = field(default_factory=lambda: RobotKeys(None))
    _dingtalk_task: asyncio.Task[None] | None = None

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

    def router(self) -> ChannelRouter:
        """Each outbox row on its recipient's channel, among the channels this process runs."""
        channels: dict[str, Deliver] = {}
        if self.application is not None:
            channels["telegram"] = TelegramChannel(self.application.bot, self.settings.tz)
        if self.dingtalk is not None:
            channels["dingtalk"] = self.dingtalk.deliver
        return ChannelRouter(channels)


def build_service(
    settings: Settings,
    *,
    token: str | None,
    base_url: str | None = None,
    emulator: bool = False,
    dingtalk: bool | None = None,
) -> Service:
    """Telegram when a token is given; DingTalk when `dingtalk` (by default: when its settings are there)."""
    engine = open_database(settings.database_url, create=True)
    runtime = Runtime(engine=engine, settings=settings)
    Path(settings.state_dir).mkdir(parents=True, exist_ok=True)
    application = None
    if token is not None:
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
    channel = None
    if settings.dingtalk_enabled if dingtalk is None else dingtalk:
        channel = build_dingtalk_channel(settings, engine, clock=runtime.now)
    jobs = Jobs(engine=engine, settings=settings, clock=runtime.now)
    keeper = LeaseKeeper(engine=engine, clock=runtime.now, ttl=dt.timedelta(seconds=settings.lease_seconds))
    service = Service(
        settings=settings,
        engine=engine,
        application=application,
        jobs=jobs,
        keeper=keeper,
        scheduler=AsyncIOScheduler(timezone=settings.timezone),
        runtime=runtime,
        dingtalk=channel,
        robot_keys=RobotKeys(settings.keyring()),
    )
    if application is not None:
        _wire_application(service, application)
    return service


def _wire_application(service: Service, application: Application) -> None:
    """Telegram's Application owns the loop: the jobs and the DingTalk channel start and stop with it."""
    register_commands = application.post_init

    async def post_init(app: Application) -> None:
        if register_commands is not None:
            await register_commands(app)
        await start_background(service)

    async def post_stop(app: Application) -> None:
        await stop_background(service)

    async def post_shutdown(app: Application) -> None:
        await close(service)

    application.post_init = post_init
    application.post_stop = post_stop
    application.post_shutdown = post_shutdown


def notice_sender(runtime: Runtime, deliver: Deliver) -> Callable[[Sequence[int]], Awaitable[int]]:
    """Send the outbox rows a DingTalk user's command queued (a 销号 request, a decision) at once, through the
    router: the coordinator may be on Telegram, the contact on DingTalk."""

    async def send(ids: Sequence[int]) -> int:
        with runtime.session() as session:
            return await dispatch_due(
                session=session, deliver=deliver, now=runtime.now(), tz=runtime.settings.tz, ids=ids
            )

    return send


async def start_background(service: Service) -> None:
    """Interval jobs for planning and sending, one cron job for the digest (never one job per reminder), and the
    DingTalk receiver if configured.

    Every job first renews the scheduler lease, so only one instance plans, sends and digests at a time.
    """
    settings, scheduler, sending = service.settings, service.scheduler, service.sending
    router = service.router()
    dispatcher = service.jobs.dispatcher(router)
    if service.dingtalk is not None:
        assert service.runtime is not None
        service.dingtalk.conversation.send_notices = notice_sender(service.runtime, router)
        service._dingtalk_task = asyncio.create_task(service.dingtalk.run())
    with Session(service.engine) as session:  # paused without the key (said once, here); plain rows sealed
        robots_at_start(session=session, keys=service.robot_keys)

    def leading() -> bool:
        service.is_leader = service.keeper.acquire()
        return service.is_leader

    async def dispatch_job() -> None:
        if leading():
            async with sending:  # shutdown waits for a batch in flight instead of cutting it off
                try:
                    await dispatch(dispatcher)
                except asyncio.CancelledError:
                    # the event loop is closing under us; rows we claimed are retried once claims expire
                    log.info("dispatch batch cancelled at shutdown")

    async def post_to_groups(*, digest: bool) -> None:
        """The week's 通报 (and on Monday the digest) into the group robots, each once (bot/robots/weekly.py)."""
        try:
            with Session(service.engine) as session:
                await post_weekly(
                    session=session,
                    sender=service.robots,
                    keys=service.robot_keys,
                    now=service.jobs.clock(),
                    tz=settings.tz,
                    language=settings.language,
                    digest=digest,
                )
        except Exception:  # a group post never stops the job; what was not posted is tried on the next tick
            log.exception("posting to group robots failed")

    async def in_thread(job: Callable[[], None], *, digest: bool) -> None:
        if not leading():
            return
        try:
            # shutdown waits for a plan in progress (its thread cannot be cancelled)
            async with service.planning:
                await asyncio.to_thread(job)
                await post_to_groups(digest=digest)
        except asyncio.CancelledError:
            log.info("planning cancelled at shutdown; the next start plans again")

    async def plan_job() -> None:
        await in_thread(service.jobs.plan, digest=False)

    async def digest_job() -> None:
        await in_thread(service.jobs.digest, digest=True)

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


async def stop_background(service: Service) -> None:
    """No new job starts; the batch being sent and the plan being made finish; then the scheduler stops (its
    shutdown cancels whatever job is still pending)."""
    if service.scheduler.running:
        service.scheduler.pause()
    async with service.sending, service.planning:
        pass
    if service.scheduler.running:
        service.scheduler.shutdown(wait=False)
    if service.dingtalk is not None:
        await service.dingtalk.stop()
    if service._dingtalk_task is not None:
        try:
            await asyncio.wait_for(service._dingtalk_task, timeout=10)
        except (TimeoutError, asyncio.CancelledError):
            service._dingtalk_task.cancel()
        except Exception:
            log.exception("the DingTalk channel ended with an error")
        service._dingtalk_task = None
    if service.is_leader:
        service.keeper.release()


async def close(service: Service) -> None:
    await service.robots.aclose()
    if service.dingtalk is not None:
        await service.dingtalk.aclose()
    service.engine.dispose()


def run_dingtalk(settings: Settings) -> None:
    """`duban run` with DingTalk alone (no TELEGRAM_BOT_TOKEN): the receiver, the scheduler and the dispatcher in
    one event loop, until SIGTERM or SIGINT."""
    service = build_service(settings, token=None, dingtalk=True)
    lock = single_instance_on_sqlite(service.engine)

    async def main() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        await start_background(service)
        try:
            await stopping.wait()
        finally:
            await stop_background(service)
            await close(service)

    log.info("duban bot starting (DingTalk, %s)", settings.dingtalk_api_base)
    try:
        asyncio.run(main())
    finally:
        if lock is not None:
            lock.close()


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


def _dingtalk_api(service: Service) -> DingTalkApi | None:
    """The DingTalk channel's API client, for the dashboard to fetch the evidence people sent there."""
    return service.dingtalk.api if service.dingtalk is not None else None


def run_polling(
    settings: Settings,
    *,
    token: str,
    base_url: str | None,
    emulator: bool = False,
    poll_interval: float = 0.0,
    dashboard: Callable[[Engine, Bot, DingTalkApi | None], ASGIApp] | None = None,
    web_listen: str | None = None,
) -> None:
    """Poll Telegram; with `dashboard` and `web_listen`, serve the dashboard on that address in the same process
    (a county without a public HTTPS address still gets its /web pages)."""
    service = build_service(settings, token=token, base_url=base_url, emulator=emulator)
    assert service.application is not None
    lock = single_instance_on_sqlite(service.engine)
    log.info("duban bot starting (polling%s)", " and DingTalk" if service.dingtalk else "")
    try:
        if dashboard is not None and web_listen is not None:
            app = dashboard(service.engine, service.application.bot, _dingtalk_api(service))
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
    dashboard: Callable[[Engine, Bot, DingTalkApi | None], ASGIApp] | None = None,
) -> None:
    """Serve /telegram and /healthz; `dashboard` (the wiring passes the web dashboard, which fetches report
    evidence through this bot) is mounted beside them."""
    service = build_service(settings, token=token, base_url=base_url, emulator=emulator)
    lock = single_instance_on_sqlite(service.engine)
    secret = settings.webhook_secret or derive_secret(token)
    application = service.application
    assert application is not None
    app = webhook_app(application, secret=secret, health=service.health)
    if dashboard is not None:
        app.mount("/", dashboard(service.engine, application.bot, _dingtalk_api(service)))
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
