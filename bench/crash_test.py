"""Kill a real dispatcher process with SIGKILL at random points, restart it, and count what reached the chats.

A kill can land between Telegram accepting a message and its rows being marked sent; that one send's outcome is
unknowable to the next process, which sends it again. Sending is sequential, so each kill can cost at most one
duplicate message, and nothing may be lost. A message carries a contact's whole bundle of due reminders, so one
duplicate message repeats every row in it: duplicates are counted in messages (what the user sees) and in rows.
By default two thirds as many contacts as rows: half the contacts get two reminders in one message, half one,
and every bundle fits one message (a split bundle killed between its parts would repeat the parts sent). Kill points are random: most come after a random number of deliveries since
the worker started (plus a few random milliseconds, to land inside an HTTP call, a commit or a claim), some during
start-up.

On DingTalk (`--channel dingtalk`) the worker sends through the DingTalk channel's sender, paced as in production,
to the DingTalk stand-in (tests/standins/dingtalk.py); a message is one batchSend, its id the processQueryKey.

    python -m bench.crash_test [--rows 5000] [--kills 20] [--chats ROWS*2/3] [--database-url URL] [--short]
        [--channel telegram|dingtalk]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.common import COORDINATOR_CHAT, chat_ids, dingtalk_id, fill_outbox, fresh_database, tally
from bench.standin import StandIn
from models.types import utcnow
from tests.standins.dingtalk import DingTalkStandIn

ROOT = Path(__file__).resolve().parent.parent
CLAIM_SECONDS = 5  # production holds a dead worker's rows 120 s; 5 s keeps the run short, same logic


@dataclass
class CrashReport:
    channel: str
    backend: str
    rows: int
    kills: int
    chats: int
    rows_per_chat: int  # the most rows one message carries
    messages: int  # messages delivered (Telegram sendMessage, DingTalk batchSend)
    duplicate_messages: int  # messages a chat received twice: at most one per kill
    delivered_once: int
    delivered_twice: int
    delivered_more: int
    lost: int
    unrecorded: int
    misrecorded: int
    seconds: float


@dataclass
class Chats:
    """The stand-in as the crash test reads it: its URL, how many sends it accepted, and what it delivered."""

    url: str
    accepted: Callable[[], int]
    delivered: Callable[[], list[dict[str, Any]]]


@contextmanager
def _standin(channel: str, chats: int) -> Iterator[Chats]:
    if channel == "telegram":
        with StandIn(slack=0.05) as telegram:
            yield Chats(
                telegram.url, lambda: int(telegram.snapshot()["accepted"]), lambda: telegram.delivered
            )
        return
    staff = {dingtalk_id(chat) for chat in [*chat_ids(chats), COORDINATOR_CHAT]}
    dingtalk = DingTalkStandIn(staff=staff)
    dingtalk.start()
    try:
        yield Chats(
            dingtalk.url,
            lambda: len(dingtalk.recorded.sent),
            lambda: [
                {
                    "chat_id": r["userIds"][0],
                    "text": r["msgParam"].get("text", ""),
                    "message_id": r["processQueryKey"],
                }
                for r in dingtalk.recorded.sent
            ],
        )
    finally:
        dingtalk.stop()


def _start_worker(database_url: str, base_url: str, log: Path, channel: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "bench.dispatch_worker", "--database-url", database_url]
    command += ["--base-url", base_url, "--claim-seconds", str(CLAIM_SECONDS), "--channel", channel]
    with log.open("ab") as sink:
        return subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)


def _kill_at_random_point(worker: subprocess.Popen[bytes], standin: Chats, rng: random.Random) -> bool:
    """SIGKILL the worker at a random point; False if it finished first (nothing left to kill)."""
    start = standin.accepted()
    target = rng.choice([0, *range(1, 41)])
    deadline = time.monotonic() + 60
    if target == 0:
        time.sleep(rng.uniform(0.05, 1.0))  # during start-up, engine creation or the first claim
    while target and standin.accepted() - start < target and time.monotonic() < deadline:
        if worker.poll() is not None:
            return False
        time.sleep(0.002)
    time.sleep(rng.uniform(0.0, 0.03))
    if worker.poll() is not None:
        return False
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    return True


def run(
    rows: int,
    kills: int,
    chats: int | None = None,
    *,
    database_url: str | None = None,
    seed: int = 7,
    channel: str = "telegram",
) -> CrashReport:
    chats = chats or max(1, rows * 2 // 3)
    rng = random.Random(seed)
    started = time.monotonic()
    with _standin(channel, chats) as standin, fresh_database(database_url) as url:
        due_at = utcnow() - dt.timedelta(minutes=1)
        engine = fill_outbox(url, rows=rows, chats=chats, due_at=due_at, channel=channel)
        log = Path(engine.url.database or "/tmp/duban-bench.db").with_suffix(".worker.log")
        if engine.dialect.name != "sqlite":
            log = Path("/tmp") / f"{engine.url.database}.worker.log"
        try:
            done = 0
            while done < kills:
                worker = _start_worker(url, standin.url, log, channel)
                if not _kill_at_random_point(worker, standin, rng):
                    break
                done += 1
            final = _start_worker(url, standin.url, log, channel)
            if final.wait(timeout=CLAIM_SECONDS + rows / 10 + 120) != 0:
                raise RuntimeError(f"final worker failed; see {log}")
            counted = tally(engine, standin.delivered(), channel=channel)
        finally:
            backend = engine.dialect.name
            engine.dispose()
    return CrashReport(
        channel=channel,
        backend=backend,
        rows=rows,
        kills=done,
        chats=chats,
        rows_per_chat=-(-rows // chats),
        messages=counted.messages,
        duplicate_messages=counted.duplicate_messages,
        delivered_once=counted.once,
        delivered_twice=counted.twice,
        delivered_more=counted.more,
        lost=counted.lost,
        unrecorded=counted.unrecorded,
        misrecorded=counted.misrecorded,
        seconds=round(time.monotonic() - started, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--chats", type=int, help="default: two thirds of the rows")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--database-url", help="postgresql+psycopg://... to use a new database on that server"
    )
    parser.add_argument("--short", action="store_true", help="300 rows, 5 kills, for CI")
    parser.add_argument("--channel", choices=("telegram", "dingtalk"), default="telegram")
    args = parser.parse_args()
    rows, kills = (300, 5) if args.short else (args.rows, args.kills)
    report = run(
        rows, kills, args.chats, database_url=args.database_url, seed=args.seed, channel=args.channel
    )
    for key, value in asdict(report).items():
        print(f"{key:>18}: {value}")
    twice = report.delivered_twice + report.delivered_more
    print(
        f"duplicate messages {report.duplicate_messages} (at most one per kill: {report.kills}), carrying"
        f" {twice} rows (at most {report.rows_per_chat} per message); lost {report.lost} (must be 0)"
    )


if __name__ == "__main__":
    main()
