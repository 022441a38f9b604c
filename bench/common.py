"""What every benchmark shares: a fresh database, an outbox full of due rows, the production dispatcher wired to
a real `telegram.Bot` (or to the DingTalk channel's sender and its OpenAPI client), a drain loop, and the tally of
what the stand-in received against what the outbox held.

The dispatcher is built through `scheduler.jobs.Jobs.dispatcher` (reminder buttons, blocked-user notices), so the
benchmarks exercise what `duban run` runs; only the pacer's clock and sleep are swapped when time is virtual.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import json
import re
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.channels import ChannelRouter
from bot.dingtalk.api import DingTalkApi
from bot.dingtalk.channel import DingTalkSender, dingtalk_notice_deliver
from bot.dingtalk.pacing import DingTalkPacer
from bot.telegram.channel import TelegramChannel
from duban.config import DEFAULT_TIMEZONE, Settings
from duban.db import create_schema, make_engine
from models import (
    Contact,
    ContactRole,
    Department,
    DepartmentRole,
    Milestone,
    Notification,
    Plan,
    Section,
    Task,
    TaskDepartment,
)
from scheduler.dispatcher import MAX_ATTEMPTS, Dispatcher
from scheduler.jobs import Jobs
from scheduler.pacing import SendPacer

TOKEN = "424242:BENCH-not-a-real-token"
FIRST_CHAT = 700_000
COORDINATOR_CHAT = 699_999
REGION = "基准县"
# a working Monday, 10:00 in Shanghai (2 June 2025 was the 端午 holiday: every retry and notice went to the
# next morning, 22 virtual hours later, which no backoff check could see)
EPOCH = dt.datetime(2025, 6, 9, 2, 0, tzinfo=dt.UTC)


@contextlib.contextmanager
def fresh_database(database_url: str | None) -> Iterator[str]:
    """A new empty database: a temp SQLite file, or a new database on the PostgreSQL server the URL names."""
    if not database_url or make_url(database_url).get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory(prefix="duban-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    server = make_url(database_url)
    name = f"duban_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def chat_ids(chats: int) -> list[int]:
    return [FIRST_CHAT + j for j in range(chats)]


REMINDER_DAYS = 30  # each row is the planner's 30-days-before reminder of its own milestone
_REF = re.compile(r"B\d{6}")


def ref_of(i: int) -> str:
    """Row i's task number: fixed width, so no number is a prefix of another, and it is in the rendered text."""
    return f"B{i:06d}"


def dingtalk_id(chat: int) -> str:
    """A bench contact's DingTalk userId, when the run is on DingTalk: the chat number as a staff id."""
    return f"staff-{chat}"


def fill_outbox(
    url: str,
    *,
    rows: int,
    chats: int,
    due_at: dt.datetime,
    grouped: bool = False,
    channel: str = "telegram",
) -> Engine:
    """`chats` departments with one contact each, a coordinator, and `rows` due reminders as the planner writes them.

    Row i is about milestone i (task `ref_of(i)`, due REMINDER_DAYS after `due_at`'s local day): kind `reminder`,
    the milestone, the contact and its department, `{"days": 30}` and the planner's key, nothing rendered. The
    dispatcher bundles a contact's due rows into one message, so the chats receive about one message each (more
    when a long bundle is split), and the tally finds each row in what was delivered by its task number.
    Interleaved (row i to chat i mod M) or grouped (each chat's rows queued one after another, as a planner run
    queues them) decides only the order of the ids; either way a contact's rows go out together.
    `channel` "dingtalk": every contact joined on DingTalk (userId `dingtalk_id(chat)`), none on Telegram.
    """

    def joined(chat: int) -> dict[str, Any]:
        if channel == "dingtalk":
            return {"dingtalk_user_id": dingtalk_id(chat)}
        return {"telegram_user_id": chat}

    engine = make_engine(url)
    create_schema(engine)
    day = due_at.astimezone(ZoneInfo(DEFAULT_TIMEZONE)).date()
    due_on = day + dt.timedelta(days=REMINDER_DAYS)
    with Session(engine) as session:
        plan = Plan(key="bench", title="基准督办计划", issuer="基准县人民政府", issued_on=day, region=REGION)
        office = Department(name="县督查室", region=REGION)
        session.add_all([plan, office])
        session.flush()
        assert plan.id is not None and office.id is not None
        session.add(
            Contact(
                department_id=office.id,
                name="督办员",
                role=ContactRole.coordinator,
                **joined(COORDINATOR_CHAT),
            )
        )
        departments = [Department(name=f"基准局{j:04d}", region=REGION) for j in range(chats)]
        session.add_all(departments)
        session.flush()
        contacts = [
            Contact(department_id=d.id or 0, name=f"联络员{j:04d}", **joined(chat))
            for j, (d, chat) in enumerate(zip(departments, chat_ids(chats), strict=True))
        ]
        tasks = [
            Task(
                plan_id=plan.id,
                ref=ref_of(i),
                section=Section.body,
                title=f"基准任务{i}",
                text="按期完成",
                position=i,
            )
            for i in range(rows)
        ]
        session.add_all(contacts)
        session.add_all(tasks)
        session.flush()
        milestones = [Milestone(task_id=t.id or 0, due_on=due_on, target="按期完成") for t in tasks]
        session.add_all(milestones)
        session.flush()
        per_chat = -(-rows // chats)
        owners = [contacts[i // per_chat if grouped else i % chats] for i in range(rows)]
        session.add_all(
            TaskDepartment(
                task_id=t.id or 0,
                department_id=c.department_id,
                role=DepartmentRole.lead,
                printed_as="基准局",
            )
            for t, c in zip(tasks, owners, strict=True)
        )
        session.execute(
            insert(Notification),
            [
                {
                    "idempotency_key": f"reminder:m{m.id}:c{c.id}:d{REMINDER_DAYS}:{due_on.isoformat()}",
                    "kind": "reminder",
                    "milestone_id": m.id,
                    "contact_id": c.id,
                    "department_id": c.department_id,
                    "instance_due_on": due_on,
                    "payload": {"days": REMINDER_DAYS, "late_since": None},
                    "due_at": due_at,
                    "created_at": due_at,
                    "attempts": 0,
                }
                for m, c in zip(milestones, owners, strict=True)
            ],
        )
        session.commit()
    return engine


def make_bot(base_url: str, read_timeout: float = 5.0) -> Bot:
    """A real Bot over HTTP to the stand-in; `base_url` is the stand-in's root (the Bot adds /bot<token>)."""
    return Bot(TOKEN, base_url=f"{base_url}/bot", request=HTTPXRequest(read_timeout=read_timeout))


def make_dispatcher(
    engine: Engine,
    bot: Bot,
    clock: Callable[[], dt.datetime],
    pacer: SendPacer | None = None,
    sleep: Callable[[float], Any] | None = None,
    claim_seconds: int | None = None,
) -> Dispatcher:
    settings = Settings(database_url=engine.url.render_as_string(hide_password=False))
    if claim_seconds is not None:
        settings.claim_seconds = claim_seconds
    # the channel `duban run` wires (bot/main.py), with a pacer of the benchmark's own (a virtual clock's, or a
    # fresh one instead of the process-wide pacer)
    channel = TelegramChannel(bot, pacer=pacer or SendPacer(), tz=settings.tz)
    dispatcher = Jobs(engine=engine, settings=settings, clock=clock).dispatcher(channel)
    return dataclasses.replace(dispatcher, sleep=sleep) if sleep is not None else dispatcher


@contextlib.asynccontextmanager
async def dingtalk_dispatcher(
    engine: Engine,
    base_url: str,
    *,
    client_id: str,
    client_secret: str,
    clock: Callable[[], dt.datetime],
    pacer: DingTalkPacer | None = None,
    sleep: Callable[[float], Any] | None = None,
    claim_seconds: int | None = None,
    timeout: float = 5.0,
) -> AsyncIterator[Dispatcher]:
    """The dispatcher `duban run` wires for DingTalk alone: the router with the DingTalk channel's Deliver, its
    sender and pacer, and the OpenAPI client pointed at the stand-in (closed on the way out)."""
    settings = Settings(database_url=engine.url.render_as_string(hide_password=False))
    if claim_seconds is not None:
        settings.claim_seconds = claim_seconds
    api = DingTalkApi(
        client_id=client_id,
        client_secret=client_secret,
        base_url=base_url,
        http=httpx.AsyncClient(timeout=httpx.Timeout(timeout), trust_env=False),
    )
    sender = DingTalkSender(api, pacer or DingTalkPacer())
    router = ChannelRouter({"dingtalk": dingtalk_notice_deliver(sender, settings.tz)})
    dispatcher = Jobs(engine=engine, settings=settings, clock=clock).dispatcher(router)
    try:
        yield dataclasses.replace(dispatcher, sleep=sleep) if sleep is not None else dispatcher
    finally:
        await api.aclose()


def outstanding(engine: Engine) -> tuple[int, dt.datetime | None]:
    """Rows the dispatcher still owes (unsent, not given up) and the earliest moment one can be claimed."""
    with Session(engine) as session:
        rows = session.exec(
            select(Notification.due_at, Notification.claimed_until)
            .where(col(Notification.sent_at).is_(None), Notification.attempts < MAX_ATTEMPTS)
            .where(col(Notification.contact_id).is_not(None))
        ).all()
    if not rows:
        return 0, None
    return len(rows), min(max(due, claimed or due) for due, claimed in rows)


async def drain(
    dispatcher: Dispatcher,
    engine: Engine,
    *,
    advance: Callable[[dt.datetime], None] | None = None,
    poll: float = 0.2,
    max_rounds: int = 10_000,
) -> int:
    """Run the dispatcher until the outbox owes nothing; returns the number of `run_once` calls.

    When nothing is claimable yet (backoff, an expired claim still pending) a virtual clock is moved to the next
    due moment with `advance`; with a real clock we poll.
    """
    for rounds in range(1, max_rounds + 1):
        result = await dispatcher.run_once()
        left, next_ready = outstanding(engine)
        if left == 0:
            return rounds
        if result.sent or result.failed or result.retried:
            continue
        if advance is not None and next_ready is not None:
            advance(next_ready)
        else:
            await asyncio.sleep(poll)
    raise RuntimeError(f"outbox not drained after {max_rounds} rounds")


@dataclasses.dataclass
class Tally:
    """Per reminder row (found by its task number in the messages its chat received), and per message."""

    rows: int
    once: int
    twice: int  # delivered exactly two times
    more: int  # delivered three times or more
    lost: int  # owed but never delivered (excludes rows given up on a 403)
    given_up: int  # unsent rows with attempts at the maximum
    unrecorded: int  # delivered but the row still says unsent
    # what the users received: one message carries a contact's whole bundle, so these count Telegram messages
    messages: int = 0
    duplicate_messages: int = 0  # extra copies of a message its chat had already received word for word
    misrecorded: int = 0  # sent rows whose platform_message_id is no message delivered to their chat

    @property
    def duplicates(self) -> int:
        return self.twice + self.more


def tally(
    engine: Engine,
    delivered: list[dict[str, Any]],
    blocked: Collection[int | str] = (),
    channel: str = "telegram",
) -> Tally:
    """Compare the stand-in's delivered log with the outbox's reminder rows (other kinds are counted by the caller).

    A row counts as delivered once for every message to its chat that lists its task; a message repeated word
    for word to one chat is a duplicate the user sees, however many rows it carries. `delivered` holds
    {chat_id, text, message_id}; on DingTalk the chat is the person's userId and the id batchSend's processQueryKey.
    """
    counts: collections.Counter[tuple[int | str | None, str]] = collections.Counter()
    for d in delivered:
        counts.update((d["chat_id"], ref) for ref in set(_REF.findall(d["text"])))
    copies = collections.Counter((d["chat_id"], d["text"]) for d in delivered)
    message_ids = {(d["chat_id"], str(d["message_id"])) for d in delivered}
    chat_of = Contact.dingtalk_user_id if channel == "dingtalk" else Contact.telegram_user_id
    with Session(engine) as session:
        rows = session.exec(
            select(Notification, Task.ref, chat_of)
            .join(Milestone, col(Milestone.id) == Notification.milestone_id)
            .join(Task, col(Task.id) == Milestone.task_id)
            .join(Contact, col(Contact.id) == Notification.contact_id)
            .where(Notification.kind == "reminder")
        ).all()
    once = twice = more = lost = given_up = unrecorded = misrecorded = 0
    for row, ref, chat in rows:
        n = counts.get((chat, ref), 0)
        once += n == 1
        twice += n == 2
        more += n > 2
        if n == 0 and chat not in blocked:
            lost += 1
        given_up += row.sent_at is None and row.attempts >= MAX_ATTEMPTS
        unrecorded += n > 0 and row.sent_at is None
        misrecorded += row.sent_at is not None and (chat, row.platform_message_id) not in message_ids
    duplicate_messages = sum(n - 1 for n in copies.values())
    return Tally(
        len(rows),
        once,
        twice,
        more,
        lost,
        given_up,
        unrecorded,
        len(delivered),
        duplicate_messages,
        misrecorded,
    )


def inactive_chats(engine: Engine, channel: str = "telegram") -> set[int | str]:
    with Session(engine) as session:
        inactive = session.exec(select(Contact).where(Contact.active == False)).all()  # noqa: E712
    chats = [c.dingtalk_user_id if channel == "dingtalk" else c.telegram_user_id for c in inactive]
    return {chat for chat in chats if chat is not None}


def finish(results: list[dict[str, Any]], failures: list[str], json_path: Path | None) -> int:
    """The end of every bench script's main: the results as JSON if asked, each failed check, the exit status."""
    if json_path:
        json_path.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0
