"""Run the dispatcher against the stand-in in each fault mode and check what the outbox promises.

Modes: 5xx (a fifth of sends answer 500), hang (a twentieth hang past the client's read timeout, undelivered),
hang-delivered (as hang, but Telegram did deliver: the one case where a resend is a duplicate), 429 (a tenth of
sends are refused with retry_after 5 s, barring the chat that long), 403 (a tenth of the chats blocked the bot).

The rows are reminders as the planner writes them, by default two per contact, all due at once, so each contact
gets one message carrying both: faults strike messages, and a duplicate (hang-delivered) is a message the user
receives twice, repeating every row in it. Rows are still tallied one by one (lost, given up).

Time is virtual: the stand-in, the pacer, the RetryAfter sleep and the dispatcher's clock read one shared clock,
which only moves when the dispatcher waits or when the drain loop jumps to the next backoff `due_at`. So "no
request before retry_after ran out" and "no retry before backoff(attempts)" are exact, and a run takes seconds
(hangs alone cost real time: the client's read timeout).

On DingTalk (`--channel dingtalk`) the dispatcher sends through the DingTalk channel's sender and pacer to the
DingTalk stand-in with the same faults in DingTalk's shapes (bench/dingtalk_standin.py): 429 is its throttling
(HTTP 429 with Retry-After, or the person in flowControlledStaffIdList), 403 a person who left the organisation
(invalidStaffIdList), and "over limit" a send that breaks the DingTalk pacer's own promise.

    python -m bench.faults [--mode MODE ...] [--rows 2000] [--chats ROWS/2] [--database-url URL] [--short]
        [--channel telegram|dingtalk]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bench.common import (
    COORDINATOR_CHAT,
    EPOCH,
    chat_ids,
    dingtalk_dispatcher,
    dingtalk_id,
    drain,
    fill_outbox,
    fresh_database,
    inactive_chats,
    make_bot,
    make_dispatcher,
    tally,
)
from bench.dingtalk_standin import FaultyDingTalk
from bench.dispatch_worker import STANDIN_CLIENT_ID, STANDIN_CLIENT_SECRET
from bench.standin import Faults, StandIn
from bot.dingtalk.pacing import DingTalkPacer
from models import Contact, Notification
from scheduler.dispatcher import backoff
from scheduler.pacing import SendPacer

READ_TIMEOUT = 0.25  # the client's; hangs last longer
MODES = ("5xx", "hang", "hang-delivered", "429", "403")


def faults_for(mode: str, chats: int) -> Faults:
    blocked = set(chat_ids(chats)[: max(1, chats // 10)])
    return {
        "5xx": Faults(error_rate=0.2),
        "hang": Faults(hang_rate=0.05, hang_seconds=READ_TIMEOUT + 0.5),
        "hang-delivered": Faults(hang_rate=0.05, hang_seconds=READ_TIMEOUT + 0.5, hang_delivers=True),
        "429": Faults(flood_rate=0.1, flood_retry_after=5),
        "403": Faults(blocked=blocked),
    }[mode]


class VirtualClock:
    """Seconds since EPOCH that pass only when someone sleeps or jumps ahead."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds

    async def sleep(self, seconds: float) -> None:
        self.seconds += max(0.0, seconds)
        await asyncio.sleep(0)

    def now(self) -> dt.datetime:
        return EPOCH + dt.timedelta(seconds=self.seconds)

    def advance_to(self, moment: dt.datetime) -> None:
        self.seconds = max(self.seconds, (moment - EPOCH).total_seconds())


@dataclass
class FaultReport:
    mode: str
    rows: int
    chats: int
    requests: int
    accepted: int
    http_5xx: int
    hangs: int
    http_429: int  # injected plus limit refusals
    http_403: int
    lost: int
    duplicates: int  # rows delivered more than once
    messages: int  # Telegram messages delivered, the coordinator's included
    duplicate_messages: int  # messages a chat received twice
    misrecorded: int  # sent rows not pointing at a message their chat received
    early_after_429: int  # requests to a chat before its retry_after ran out
    over_limit: int  # refused because the dispatcher broke 30/s or 1/s per chat
    early_after_backoff: int  # resends sooner than backoff(attempts) after a 5xx or a hang
    given_up: int
    blocked_chats: int = 0
    marked_inactive: int = 0  # of the blocked chats, how many contacts are now inactive
    wrongly_inactive: int = 0  # contacts marked inactive who never blocked the bot
    coordinator_notices: int = 0  # "contact blocked the bot" rows sent to the coordinator
    coordinator_messages: int = 0  # the messages carrying them (several blocked contacts may share one)
    blocked_named: int = 0  # blocked contacts the coordinator was told about exactly once
    virtual_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def early_resends(events: list[dict[str, Any]]) -> int:
    """Resends of one message sooner than backoff(n) after its n-th 5xx or hang."""
    by_message: dict[tuple[int | str, str], list[dict[str, Any]]] = collections.defaultdict(list)
    for event in events:
        by_message[(event["chat_id"], event["text"])].append(event)
    early = 0
    for tries in by_message.values():
        failures = 0
        for this, following in zip(tries, tries[1:], strict=False):
            if this["outcome"] in ("500", "hang"):
                failures += 1
                early += following["t"] - this["t"] < backoff(failures).total_seconds() - 1e-3
    return early


async def _dispatch(engine: Engine, base_url: str, clock: VirtualClock) -> None:
    async with make_bot(base_url, read_timeout=READ_TIMEOUT) as bot:
        pacer = SendPacer(clock=clock, sleep=clock.sleep)
        dispatcher = make_dispatcher(engine, bot, clock=clock.now, pacer=pacer, sleep=clock.sleep)
        await drain(dispatcher, engine, advance=clock.advance_to)


async def _dispatch_dingtalk(engine: Engine, base_url: str, clock: VirtualClock) -> None:
    async with dingtalk_dispatcher(
        engine,
        base_url,
        client_id=STANDIN_CLIENT_ID,
        client_secret=STANDIN_CLIENT_SECRET,
        clock=clock.now,
        pacer=DingTalkPacer(clock=clock, sleep=clock.sleep),
        sleep=clock.sleep,
        timeout=READ_TIMEOUT,
    ) as dispatcher:
        await drain(dispatcher, engine, advance=clock.advance_to)


@contextmanager
def _standin(
    channel: str, clock: VirtualClock, faults: Faults, chats: int
) -> Iterator[StandIn | FaultyDingTalk]:
    if channel == "telegram":
        with StandIn(clock=clock) as telegram:
            telegram.configure(faults)
            yield telegram
        return
    staff = {dingtalk_id(chat) for chat in [*chat_ids(chats), COORDINATOR_CHAT]}
    dingtalk = FaultyDingTalk(
        clock=clock, faults=faults, staff=staff, blocked={dingtalk_id(chat) for chat in faults.blocked}
    )
    dingtalk.start()
    try:
        yield dingtalk
    finally:
        dingtalk.stop()


def run_mode(
    mode: str, rows: int, chats: int, database_url: str | None = None, channel: str = "telegram"
) -> FaultReport:
    clock = VirtualClock()
    faults = faults_for(mode, chats)
    # the blocked people as the channel names them, and the coordinator's
    blocked: set[int | str] = {dingtalk_id(c) if channel == "dingtalk" else c for c in faults.blocked}
    coordinator = dingtalk_id(COORDINATOR_CHAT) if channel == "dingtalk" else COORDINATOR_CHAT
    chat_of = Contact.dingtalk_user_id if channel == "dingtalk" else Contact.telegram_user_id
    with _standin(channel, clock, faults, chats) as standin, fresh_database(database_url) as url:
        engine = fill_outbox(url, rows=rows, chats=chats, due_at=EPOCH, channel=channel)
        dispatch = _dispatch_dingtalk if channel == "dingtalk" else _dispatch
        try:
            asyncio.run(dispatch(engine, standin.url, clock))
            counted = tally(engine, standin.delivered, blocked=blocked, channel=channel)
            inactive = inactive_chats(engine, channel)
            with Session(engine) as session:
                notices = session.exec(select(Notification).where(Notification.kind == "blocked")).all()
                names = session.exec(select(Contact.name).where(col(chat_of).in_(blocked))).all()
        finally:
            engine.dispose()
        stats, events = standin.snapshot(), list(standin.events)
    told = [d["text"] for d in standin.delivered if d["chat_id"] == coordinator]
    report = FaultReport(
        mode=mode,
        rows=rows,
        chats=chats,
        requests=stats["requests"],
        accepted=stats["accepted"],
        http_5xx=stats["errors_5xx"],
        hangs=stats["hangs"],
        http_429=stats["flooded"] + stats["rate_limited"] + stats["early_retries"],
        http_403=stats["forbidden"],
        lost=counted.lost,
        duplicates=counted.duplicates,
        messages=counted.messages,
        duplicate_messages=counted.duplicate_messages,
        misrecorded=counted.misrecorded,
        early_after_429=stats["early_retries"],
        over_limit=stats["rate_limited"],
        early_after_backoff=early_resends(events),
        given_up=counted.given_up,
        blocked_chats=len(blocked),
        marked_inactive=len(inactive & blocked),
        wrongly_inactive=len(inactive - blocked),
        coordinator_notices=sum(1 for n in notices if n.sent_at is not None),
        coordinator_messages=len(told),
        blocked_named=sum(1 for name in names if sum(text.count(name) for text in told) == 1),
        virtual_seconds=round(clock.seconds, 1),
    )
    report.problems = problems(report, hang_delivers=faults.hang_delivers)
    return report


def problems(report: FaultReport, *, hang_delivers: bool) -> list[str]:
    """What broke a promise; empty when the dispatcher behaved."""
    found = []
    if report.lost:
        found.append(f"{report.lost} messages lost")
    # a hang that delivered leaves one message of unknown outcome, sent again: one duplicate message per hang
    if report.duplicate_messages > (report.hangs if hang_delivers else 0):
        found.append(f"{report.duplicate_messages} duplicate messages")
    if report.misrecorded:
        found.append(f"{report.misrecorded} rows recorded with a message their chat did not receive")
    if report.early_after_429:
        found.append(f"{report.early_after_429} requests before retry_after ran out")
    if report.over_limit:
        found.append(f"{report.over_limit} sends over the platform's limits")
    if report.early_after_backoff:
        found.append(f"{report.early_after_backoff} resends before their backoff")
    if report.marked_inactive != report.blocked_chats or report.wrongly_inactive:
        found.append("inactive marks do not match the blocked chats")
    if report.blocked_chats and report.coordinator_notices != report.blocked_chats:
        found.append(f"{report.coordinator_notices} coordinator notices for {report.blocked_chats} blocked")
    if report.blocked_named != report.blocked_chats:
        found.append(f"the coordinator was told of {report.blocked_named} of {report.blocked_chats} blocked")
    # a blocked contact's rows go out as one message, so one 403 ends them all
    if report.http_403 != report.blocked_chats:
        found.append(f"{report.http_403} requests answered 403 for {report.blocked_chats} blocked contacts")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", action="append", choices=MODES, help="repeatable; default every mode")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--chats", type=int, help="default: half the rows (two reminders per message)")
    parser.add_argument(
        "--database-url", help="postgresql+psycopg://... to use a new database on that server"
    )
    parser.add_argument("--short", action="store_true", help="200 rows over 100 chats, for CI")
    parser.add_argument("--channel", choices=("telegram", "dingtalk"), default="telegram")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the dispatcher warns on every retry; the report says it all
    rows, chats = (200, 100) if args.short else (args.rows, args.chats or max(1, args.rows // 2))
    for mode in args.mode or MODES:
        report = run_mode(mode, rows, chats, args.database_url, args.channel)
        print(f"== {mode}: {'OK' if not report.problems else 'PROBLEMS: ' + '; '.join(report.problems)}")
        for key, value in asdict(report).items():
            if key not in ("mode", "problems"):
                print(f"  {key:>20}: {value}")


if __name__ == "__main__":
    main()
