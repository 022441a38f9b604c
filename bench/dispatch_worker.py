"""A dispatcher process and nothing else, for the crash test to kill: the production dispatcher, looped until the
outbox owes nothing.

    python -m bench.dispatch_worker --database-url URL --base-url http://127.0.0.1:PORT [--claim-seconds S]
        [--channel telegram|dingtalk]

`--channel dingtalk`: the DingTalk channel's sender (and its pacer) against the DingTalk stand-in at --base-url,
with the stand-in's app credentials.

`--claim-seconds` shortens how long a claim holds rows (production: `DUBAN_CLAIM_SECONDS`, 120 s), so rows held by a killed worker come
back within the benchmark's patience; the claim logic itself is unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from bench.common import dingtalk_dispatcher, drain, make_bot, make_dispatcher
from duban.db import make_engine
from models.types import utcnow

# the DingTalk stand-in's app (tests/standins/dingtalk.py): not a real app's credentials
STANDIN_CLIENT_ID, STANDIN_CLIENT_SECRET = "dingstandinapp", "standin-secret"


async def work(
    database_url: str, base_url: str, claim_seconds: int | None, channel: str = "telegram"
) -> None:
    engine = make_engine(database_url)
    try:
        if channel == "dingtalk":
            async with dingtalk_dispatcher(
                engine,
                base_url,
                client_id=STANDIN_CLIENT_ID,
                client_secret=STANDIN_CLIENT_SECRET,
                clock=utcnow,
                claim_seconds=claim_seconds,
            ) as dispatcher:
                await drain(dispatcher, engine, poll=0.2, max_rounds=1_000_000)
            return
        async with make_bot(base_url) as bot:
            dispatcher = make_dispatcher(engine, bot, clock=utcnow, claim_seconds=claim_seconds)
            await drain(dispatcher, engine, poll=0.2, max_rounds=1_000_000)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--base-url", required=True, help="the stand-in's root URL")
    parser.add_argument("--claim-seconds", type=int, help="default: DUBAN_CLAIM_SECONDS (120)")
    parser.add_argument("--channel", choices=("telegram", "dingtalk"), default="telegram")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(work(args.database_url, args.base_url, args.claim_seconds, args.channel))


if __name__ == "__main__":
    main()
