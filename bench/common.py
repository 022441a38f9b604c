"""What every benchmark shares: a fresh database, an outbox full of due rows, the production dispatcher wired to
a real `telegram.Bot`, a drain loop, and the tally of what the stand-in received against what the outbox held.

The dispatcher is built through `scheduler.jobs.Jobs.dispatcher` (reminder buttons, blocked-user notices), so the
benchmarks exercise what `duban run` runs; only the pacer's clock and sleep are swapped when time is virtual.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import tempfile
import uuid
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select
from telegram import Bot
from telegram.request import HTTPXRequest

from duban.config import Settings
from duban.db import create_schema, make_engine
from models import Contact, ContactRole, Department, Notification
from scheduler.dispatcher import MAX_ATTEMPTS, Dispatcher
from scheduler.jobs import Jobs
from scheduler.pacing import SendPacer

TOKEN = "424242:BENCH-not-a-real-token"
FIRST_CHAT = 700_000
COORDINATOR_CHAT = 699_999
REGION = "基准县"
EPOCH = dt.datetime(2025, 6, 2, 2, 0, tzinfo=dt.UTC)  # a Monday, 10:00 in Shanghai


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


def fill_outbox(url: str, *, rows: int, chats: int, due_at: dt.datetime, grouped: bool = False) -> Engine:
    """One department, `chats` contacts and a coordinator, and `rows` due reminders with distinct texts.

    Interleaved (row i to chat i mod M) is the friendly order; grouped (each chat's rows together) is what a
    planner run produces when one contact has many reminders due at once.
    """
    engine = make_engine(url)
    create_schema(engine)
    with Session(engine) as session:
        department = Department(name="区教体局", region=REGION)
        session.add(department)
        session.flush()
        assert department.id is not None
        session.add(
            Contact(
                department_id=department.id,
                name="督办员",
                role=ContactRole.coordinator,
                telegram_user_id=COORDINATOR_CHAT,
            )
        )
        contacts = [
            Contact(department_id=department.id, name=f"联络员{j}", telegram_user_id=chat)
            for j, chat in enumerate(chat_ids(chats))
        ]
        session.add_all(contacts)
        session.flush()
        per_chat = -(-rows // chats)
        session.execute(
            insert(Notification),
            [
                {
                    "idempotency_key": f"bench:{i}",
                    "kind": "reminder",
                    "contact_id": contacts[i // per_chat if grouped else i % chats].id,
                    "chat_id": contacts[i // per_chat if grouped else i % chats].telegram_user_id,
                    "text": f"提醒 bench #{i}",
                    "due_at": due_at,
                    "created_at": due_at,
                    "attempts": 0,
                }
                for i in range(rows)
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
    dispatcher = Jobs(engine=engine, settings=settings, clock=clock).dispatcher(bot)
    return dataclasses.replace(dispatcher, pacer=pacer or SendPacer(), sleep=sleep)


def outstanding(engine: Engine) -> tuple[int, dt.datetime | None]:
    """Rows the dispatcher still owes (unsent, not given up) and the earliest moment one can be claimed."""
    with Session(engine) as session:
        rows = session.exec(
            select(Notification.due_at, Notification.claimed_until)
            .where(col(Notification.sent_at).is_(None), Notification.attempts < MAX_ATTEMPTS)
            .where(col(Notification.chat_id).is_not(None))
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
    rows: int
    once: int
    twice: int  # delivered exactly two times
    more: int  # delivered three times or more
    lost: int  # owed but never delivered (excludes rows given up on a 403)
    given_up: int  # unsent rows with attempts at the maximum
    unrecorded: int  # delivered but the row still says unsent

    @property
    def duplicates(self) -> int:
        return self.twice + self.more


def tally(engine: Engine, delivered: list[dict[str, Any]], blocked: Collection[int] = ()) -> Tally:
    """Compare the stand-in's delivered log with the outbox, row by row (a row is its chat and text)."""
    counts = collections.Counter((d["chat_id"], d["text"]) for d in delivered)
    with Session(engine) as session:
        rows = session.exec(select(Notification)).all()
    once = twice = more = lost = given_up = unrecorded = 0
    for row in rows:
        n = counts.get((row.chat_id, row.text), 0)
        once += n == 1
        twice += n == 2
        more += n > 2
        if n == 0 and row.chat_id not in blocked:
            lost += 1
        given_up += row.sent_at is None and row.attempts >= MAX_ATTEMPTS
        unrecorded += n > 0 and row.sent_at is None
    return Tally(len(rows), once, twice, more, lost, given_up, unrecorded)


def inactive_chats(engine: Engine) -> set[int]:
    with Session(engine) as session:
        return {
            c.telegram_user_id
            for c in session.exec(select(Contact).where(Contact.active == False)).all()  # noqa: E712
            if c.telegram_user_id is not None
        }
