"""Start the bot, by polling or behind a webhook: engine, scheduler jobs and the Application, stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine, text
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp

from bot.channels import ChannelRouter
from bot.dingtalk.api import DingTalkApi
from bot.dingtalk.app import DingTalkChannel, build_dingtalk_channel
from bot.dingtalk.stream import StreamState
from bot.robots.senders import GroupRobotSender, RobotKeys
from bot.robots.weekly import post_weekly, robots_at_start
from bot.telegram.channel import TelegramChannel
from bot.telegram.polling import Connection as TelegramConnection
from bot.telegram.process import connect_to_telegram, set_webhook, telegram_application
from bot.telegram.runtime import Runtime
from bot.telegram.webhook import derive_secret, health_endpoint, webhook_app
from duban import redaction
from duban.config import Settings
from duban.db import open_database, single_instance_on_sqlite
from duban.errors import Refused
from duban.operations import PROCESS_LOGGER
from scheduler.delivery import Deliver
from scheduler.dispatcher import dispatch_due
from scheduler.jobs import Jobs, dispatch
from scheduler.lease import LeaseKeeper

if TYPE_CHECKING:  # the Telegram types, for annotations only: bot/telegram/ talks to Telegram
    from telegram import Bot
    from telegram.ext import Application

log = logging.getLogger(__name__)
say = logging.getLogger(
    PROCESS_LOGGER
)  # what the operator sees without -v: channels up, addresses, role, stop
T = TypeVar("T")


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
    telegram: TelegramConnection = field(default_factory=lambda: TelegramConnection(say))
    # once the start lines are out, each change (scheduler role, DingTalk, Telegram) is said as it happens
    announce: bool = False
    _dingtalk_task: asyncio.Task[None] | None = None

    def stream_changed(self, state: StreamState, reason: str) -> None:
        """DingTalk's connection, said once per change (the receiver retries quietly in between)."""
        if not self.announce:
            return  # the first connection is in the start lines
        if state is StreamState.LOST:
            say.warning("DingTalk: Stream connection lost (%s); reconnecting", reason)
        elif state is StreamState.BACK:
            say.info("DingTalk: Stream connected again")

    def lead(self) -> bool:
        """Renew or take the scheduler lease; a change of role is said in one line."""
        leader = self.keeper.acquire()
        if leader != self.is_leader and self.announce:
            text, args = _role_line(leader)
            say.info(text, *args)
        self.is_leader = leader
        return leader

    def health(self) -> dict[str, Any]:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            database = "ok"
        except Exception as error:  # reported, not raised: /healthz must answer
            database = f"error: {type(error).__name__}"
        state: dict[str, Any] = {
            "database": database,
            "scheduler": "running" if self.scheduler.running else "stopped",
            "leader": self.is_leader,
            "instance": self.keeper.holder,
        }
        if self.dingtalk is not None:
            stream = self.dingtalk.receiver.state
            state["dingtalk"] = (
                "connecting" if stream is None else "lost" if stream is StreamState.LOST else "connected"
            )
        return state

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
    telegram = TelegramConnection(say)
    if token is not None:
        application = telegram_application(
            runtime,
            token=token,
            base_url=base_url,
            emulator=emulator,
            connection=telegram,
            state_dir=settings.state_dir,
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
        telegram=telegram,
    )
    if channel is not None:
        channel.receiver.on_state = service.stream_changed
    return service


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

    leading = service.lead
    leading()  # the role is known before the start lines are said

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


def _dingtalk_api(service: Service) -> DingTalkApi | None:
    """The DingTalk channel's API client, for the dashboard to fetch the evidence people sent there."""
    return service.dingtalk.api if service.dingtalk is not None else None


@dataclass(frozen=True)
class Launch:
    """How `duban run` runs: its channels come from the settings; these are the command line's choices."""

    token: str | None = None  # Telegram runs when given
    base_url: str | None = None
    emulator: bool = False
    poll_interval: float = 0.0
    webhook_url: str | None = None  # Telegram by webhook (served on `listen`) instead of polling
    listen: str | None = None  # the HTTP address: /healthz, with the webhook and the dashboard when they run
    dashboard: Callable[[Engine, Bot | None, DingTalkApi | None], ASGIApp] | None = None


def run(settings: Settings, launch: Launch, *, stop_requested: Callable[[], bool] = lambda: False) -> None:
    """`duban run`: every configured channel, the scheduler, and an HTTP server when `launch.listen` is given, in
    one event loop until SIGTERM or SIGINT (which stop it cleanly at any moment). Each channel and service says in
    one line that it is up (duban.operations.PROCESS_LOGGER); the caller says that it stopped.

    The port is taken first, so a port in use is the only line printed; the lines come once everything is up.
    `stop_requested` tells of a signal that came before the event loop could take it (duban/launch.py).
    """
    listener = bind(launch.listen) if launch.listen else None
    try:
        service = build_service(
            settings,
            token=launch.token,
            base_url=launch.base_url,
            emulator=launch.emulator,
            dingtalk=None if launch.token else True,
        )
        lock = single_instance_on_sqlite(service.engine)
        try:
            if not stop_requested():
                asyncio.run(_serve(service, launch, listener, stop_requested))
        finally:
            if lock is not None:
                lock.close()
    finally:
        if listener is not None:
            listener.close()


def bind(listen: str) -> socket.socket:
    """The listening socket, taken before anything connects: a port in use is refused in one line, naming it."""
    host, _, port_text = listen.rpartition(":")
    host, port = host.strip("[]") or "127.0.0.1", int(port_text)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart is not refused
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise Refused(
                "Port {port} ({listen}) is in use by another program; stop it, or give duban run another port "
                "(--listen or --web-listen HOST:PORT)",
                port=port,
                listen=listen,
            ) from None
        raise Refused(
            "Cannot listen on {listen} ({reason}); give an address of this machine, like 127.0.0.1:8080",
            listen=listen,
            reason=error.strerror or str(error),
        ) from None
    return sock


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the process's handlers stop it, through `should_exit`, after the
    channels (uvicorn's would re-raise the signal once it stopped)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def health_app(service: Service, secret: str | None) -> Starlette:
    """/healthz where there is no webhook: ok or degraded for anyone; the details with DUBAN_WEBHOOK_SECRET (or
    the secret derived from the token) in the webhook's header."""
    return Starlette(routes=[Route("/healthz", health_endpoint(service.health, secret), methods=["GET"])])


def _http_app(service: Service, launch: Launch) -> ASGIApp:
    """What the HTTP server serves: /healthz always; the webhook; the dashboard when asked for."""
    settings, application = service.settings, service.application
    secret = settings.webhook_secret or (derive_secret(launch.token) if launch.token else None)
    if launch.webhook_url:
        assert application is not None and secret is not None
        app = webhook_app(application, secret=secret, health=service.health)
    else:
        app = health_app(service, secret)
    if launch.dashboard is not None:
        bot = application.bot if application is not None else None
        app.mount("/", launch.dashboard(service.engine, bot, _dingtalk_api(service)))
    return app


async def _until_stopped(stopping: asyncio.Event, work: Awaitable[T]) -> T:
    """The work's result, or _Stopped as soon as a signal came (the work cancelled)."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise _Stopped
    return task.result()


class _Stopped(Exception):
    """A signal came while the process was still starting."""


async def _serve(
    service: Service, launch: Launch, listener: socket.socket | None, stop_requested: Callable[[], bool]
) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    if stop_requested():  # a signal came before the loop took them over
        stopping.set()
    settings, application = service.settings, service.application
    server: _Server | None = None
    serving: asyncio.Task[None] | None = None
    lines: list[tuple[str, tuple[object, ...]]] = []  # said once everything is up
    updater_running = False
    try:
        if application is not None:
            await _until_stopped(stopping, connect_to_telegram(application))
            if application.post_init is not None:  # the commands' menu (bot/telegram/app.py)
                await application.post_init(application)
            if launch.webhook_url:
                await _until_stopped(stopping, set_webhook(application, launch.webhook_url, settings))
                lines.append(
                    ("Telegram: @%s, updates arrive at %s", (application.bot.username, launch.webhook_url))
                )
            else:
                assert application.updater is not None  # build_application keeps PTB's default updater
                await application.updater.start_polling(
                    poll_interval=launch.poll_interval,
                    drop_pending_updates=False,
                    error_callback=service.telegram.polling_error,
                )
                updater_running = True
                lines.append(("Telegram: @%s, polling for updates", (application.bot.username,)))
            await application.start()
        await start_background(service)
        if service.dingtalk is not None:
            await _until_stopped(stopping, _first_connection(service))
            lines.append(("DingTalk: Stream connected (%s)", (settings.dingtalk_api_base,)))
        if listener is not None:
            server = _Server(uvicorn.Config(_http_app(service, launch), log_level="warning", lifespan="off"))
            serving = asyncio.create_task(server.serve(sockets=[listener]))
            await _until_stopped(stopping, _started(server, serving))
            lines.append(_http_line(launch, listener, settings))
        lines.append(_role_line(service.is_leader))
        lines.append(("Database: %s", (redaction.database_url(settings.database_url),)))
        for text, args in lines:
            say.info(text, *args)
        service.announce = service.telegram.announce = True  # from now on, changes are said as they happen
        ended: list[asyncio.Future[Any]] = [asyncio.ensure_future(stopping.wait())]
        if serving is not None:
            ended.append(serving)  # the server failing ends the process too
        if service._dingtalk_task is not None:
            ended.append(service._dingtalk_task)
        await asyncio.wait(ended, return_when=asyncio.FIRST_COMPLETED)
        ended[0].cancel()
        for task in ended[1:]:
            if task.done():
                task.result()  # a server or channel that failed: its error ends the process
    except _Stopped:
        pass
    finally:
        if server is not None and serving is not None:
            server.should_exit = True
            await asyncio.gather(serving, return_exceptions=True)
        if application is not None:
            if updater_running and application.updater is not None:
                await application.updater.stop()
            if application.running:
                await application.stop()
        await stop_background(service)
        if application is not None:
            await application.shutdown()
        await close(service)


async def _first_connection(service: Service) -> None:
    """Until the Stream connects; the receiver's Refused (every try failed, credentials refused) comes out here."""
    assert service.dingtalk is not None and service._dingtalk_task is not None
    connected = asyncio.ensure_future(service.dingtalk.receiver.connected.wait())
    await asyncio.wait([connected, service._dingtalk_task], return_when=asyncio.FIRST_COMPLETED)
    connected.cancel()
    if service._dingtalk_task.done():
        task, service._dingtalk_task = service._dingtalk_task, None
        task.result()  # raises what stopped it


async def _started(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    """Until uvicorn accepts connections on the socket we bound (a few milliseconds)."""
    while not server.started:
        if serving.done():
            with contextlib.suppress(
                SystemExit
            ):  # uvicorn's way of failing to start (exit 3); its log says why
                serving.result()
            raise Refused("The web server stopped while starting")
        await asyncio.sleep(0.01)


def _http_line(launch: Launch, listener: socket.socket, settings: Settings) -> tuple[str, tuple[object, ...]]:
    host, port = listener.getsockname()[:2]
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if launch.dashboard is not None:
        return (
            "Dashboard: listening on http://%s/ (public address %s); health check at /healthz",
            (address, settings.web_base_url),
        )
    return ("Health check: listening on http://%s/healthz", (address,))


def _role_line(leader: bool) -> tuple[str, tuple[object, ...]]:
    if leader:
        return ("Scheduler: this instance leads (plans reminders, sends, posts digests)", ())
    return ("Scheduler: standby; another instance leads, this one takes over if it stops", ())
