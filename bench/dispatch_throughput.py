"""How close the real dispatcher gets to Telegram's allowed rate, in real time, without tripping a limit.

The allowed rate is min(30, chats x 1/s), in Telegram messages. The stand-in answers 429 the moment a limit would
break, so the 429 count says whether the dispatcher's own pacing keeps within the limits; duplicates and losses say
whether it sent each row once. The rows are reminders as the planner writes them, all due now, so each chat
receives its rows bundled in one message (more if a long bundle is split): `messages` is what the users received,
and the rate is in messages, not rows. `--grouped` queues each chat's rows together instead of interleaved.

    python -m bench.dispatch_throughput [--rows N] [--chats M] [--grouped] [--database-url URL] [--short]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time
from dataclasses import asdict, dataclass

from sqlalchemy import Engine

from bench.common import drain, fill_outbox, fresh_database, make_bot, make_dispatcher, tally
from bench.standin import StandIn
from models.types import utcnow

SLACK = 0.05  # arrival jitter tolerated by the stand-in (the pacer stamps a send before the request travels)


@dataclass
class ThroughputReport:
    backend: str
    rows: int
    chats: int
    grouped: bool
    seconds: float
    rate: float
    allowed: float
    ratio: float
    http_429: int
    messages: int  # Telegram messages delivered: one per chat's bundle (or per part of a split one)
    duplicates: int  # rows delivered more than once
    duplicate_messages: int
    lost: int
    unrecorded: int
    misrecorded: int  # sent rows not pointing at a message their chat received


async def _send_all(engine: Engine, base_url: str) -> float:
    async with make_bot(base_url) as bot:
        dispatcher = make_dispatcher(engine, bot, clock=utcnow)
        started = time.monotonic()
        await drain(dispatcher, engine)
        return time.monotonic() - started


def run(rows: int, chats: int, *, grouped: bool = False, database_url: str | None = None) -> ThroughputReport:
    with StandIn(slack=SLACK) as standin, fresh_database(database_url) as url:
        due = utcnow() - dt.timedelta(minutes=1)
        engine = fill_outbox(url, rows=rows, chats=chats, due_at=due, grouped=grouped)
        try:
            seconds = asyncio.run(_send_all(engine, standin.url))
            counted, backend = tally(engine, standin.delivered), engine.dialect.name
        finally:
            engine.dispose()
        stats = standin.snapshot()
    allowed = float(min(30, chats))
    # each message holds its chat (and one of 30 global places) for a second, so N messages sent at exactly the
    # allowed rate span (N / rate - 1) s; the rate is the delivered count over that span plus that last second
    times = [d["t"] for d in standin.delivered]
    rate = len(times) / (max(times) - min(times) + 1.0) if times else 0.0
    return ThroughputReport(
        backend=backend,
        rows=rows,
        chats=chats,
        grouped=grouped,
        seconds=round(seconds, 2),
        rate=round(rate, 2),
        allowed=allowed,
        ratio=round(rate / allowed, 3),
        http_429=stats["rate_limited"] + stats["early_retries"],
        messages=counted.messages,
        duplicates=counted.duplicates,
        duplicate_messages=counted.duplicate_messages,
        lost=counted.lost,
        unrecorded=counted.unrecorded,
        misrecorded=counted.misrecorded,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument(
        "--grouped", action="store_true", help="each chat's rows together (default interleaved)"
    )
    parser.add_argument(
        "--database-url", help="postgresql+psycopg://... to use a new database on that server"
    )
    parser.add_argument("--short", action="store_true", help="300 rows over 50 chats, for CI")
    args = parser.parse_args()
    rows, chats = (300, 50) if args.short else (args.rows, args.chats)
    report = run(rows, chats, grouped=args.grouped, database_url=args.database_url)
    for key, value in asdict(report).items():
        print(f"{key:>18}: {value}")


if __name__ == "__main__":
    main()
