"""A local stand-in for the Telegram Bot API, strict about Telegram's sending limits and able to misbehave.

The benchmarks need a server that says 429 exactly when Telegram would (more than 30 messages in a second, or a
second message to one chat within a second), and that can fail on purpose (5xx, requests that hang past the
client's timeout, 429 bursts, users who blocked the bot), while counting everything so the benchmarks can prove
what the dispatcher did. It runs an asyncio server in a thread of its own, so the process under test keeps its
own event loop. Its clock is injected: with a virtual clock shared with the dispatcher's pacer, limits and
retry_after are judged in virtual time and nothing really waits (hangs alone are real, as the client's timeout is).

Control endpoints: GET /_stats, GET /_delivered, POST /_faults (JSON of `Faults` fields), POST /_reset.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import json
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

BOT_USER = {"id": 424242, "is_bot": True, "first_name": "督办", "username": "duban_bench_bot"}
GLOBAL_PER_SECOND = 30
PER_CHAT_SECONDS = 1.0


@dataclass
class Faults:
    """What to get wrong, per run; rates are fractions of sendMessage requests, drawn from a seeded RNG."""

    error_rate: float = 0.0  # answered 500, nothing delivered
    hang_rate: float = 0.0  # held for hang_seconds, then the connection is closed without an answer
    hang_seconds: float = 2.0
    hang_delivers: bool = (
        False  # True: the message is delivered before the hang (outcome unknown to the client)
    )
    flood_rate: float = 0.0  # answered 429 with flood_retry_after, and the chat is barred that long
    flood_retry_after: int = 3
    blocked: set[int] = field(default_factory=set)  # chat ids answering 403 "bot was blocked by the user"
    seed: int = 1


@dataclass
class Stats:
    requests: int = 0
    accepted: int = 0
    rate_limited: int = 0  # 429 because a limit would have been broken
    flooded: int = 0  # 429 injected by flood_rate
    early_retries: int = 0  # requests to a chat before the retry_after of its last 429 ran out
    errors_5xx: int = 0
    hangs: int = 0
    forbidden: int = 0


class StandIn:
    """The server and its state; `start()` returns the base URL (use f"{url}/bot" as the Bot's base_url)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, slack: float = 0.0) -> None:
        # slack: how early (s) a request may arrive and still count as on time, for real-clock jitter only
        self.clock, self.slack = clock, slack
        self.faults = Faults()
        self._lock = threading.Lock()
        self._reset()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def _reset(self) -> None:
        self.stats = Stats()
        self.delivered: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []  # every sendMessage: t, chat_id, text, outcome
        self._recent: collections.deque[float] = collections.deque()
        self._last_by_chat: dict[int, float] = {}
        self._barred_until: dict[int, float] = {}
        self._rng = random.Random(self.faults.seed)
        self._message_ids = iter(range(1, 10**12))

    def configure(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._reset()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dataclasses.asdict(self.stats)

    # --- lifecycle -------------------------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._serve_connection, "127.0.0.1", port)
            )
            self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="bot-api-standin", daemon=True)
        self._thread.start()
        ready.wait()
        return self.url

    def stop(self) -> None:
        if self._loop is None or self._server is None:
            return
        loop, server = self._loop, self._server

        async def close() -> None:
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> StandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- HTTP/1.1, just enough for httpx ---------------------------------------------------------------------

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines if h)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                answer = await self._route(method, path, headers.get("content-type", ""), body)
                if answer is None:  # a hang: the client gave up long ago; drop the connection unanswered
                    break
                status, payload = answer
                data = json.dumps(payload, ensure_ascii=False).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                    f"Connection: keep-alive\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _route(
        self, method: str, path: str, content_type: str, body: bytes
    ) -> tuple[int, dict[str, Any]] | None:
        if path == "/_stats":
            return 200, self.snapshot()
        if path == "/_delivered":
            with self._lock:
                return 200, {"delivered": list(self.delivered)}
        if path == "/_faults" and method == "POST":
            spec = json.loads(body or b"{}")
            spec["blocked"] = set(spec.get("blocked", []))
            self.configure(Faults(**spec))
            return 200, {"ok": True}
        if path == "/_reset" and method == "POST":
            self.configure(Faults())
            return 200, {"ok": True}
        endpoint = path.rsplit("/", 1)[-1]
        params = _parse_params(content_type, body)
        if endpoint == "getMe":
            return 200, {"ok": True, "result": BOT_USER}
        if endpoint == "sendMessage":
            return await self._send_message(params)
        return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}

    # --- sendMessage with Telegram's limits and the chosen faults -------------------------------------------

    async def _send_message(self, params: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
        chat_id, text = int(params["chat_id"]), params.get("text", "")
        with self._lock:
            answer, hang = self._decide(chat_id, text)
        if hang:
            await asyncio.sleep(self.faults.hang_seconds)
            return None
        return answer

    def _decide(self, chat_id: int, text: str) -> tuple[tuple[int, dict[str, Any]] | None, bool]:
        """One sendMessage under the lock: the answer, or a hang; faults first, then the limits."""
        now, faults, stats = self.clock(), self.faults, self.stats
        stats.requests += 1
        event = {"t": now, "chat_id": chat_id, "text": text}
        self.events.append(event)
        barred = self._barred_until.get(chat_id, -math.inf)
        if now < barred - self.slack:
            stats.early_retries += 1
            event["outcome"] = "early"
            return _too_many(barred - now), False
        if chat_id in faults.blocked:
            stats.forbidden += 1
            event["outcome"] = "403"
            return (
                403,
                {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
            ), False
        roll = self._rng.random()
        if roll < faults.error_rate:
            stats.errors_5xx += 1
            event["outcome"] = "500"
            return (500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}), False
        if roll < faults.error_rate + faults.hang_rate:
            stats.hangs += 1
            event["outcome"] = "hang"
            if faults.hang_delivers:
                self._deliver(now, chat_id, text)
            return None, True
        if roll < faults.error_rate + faults.hang_rate + faults.flood_rate:
            stats.flooded += 1
            event["outcome"] = "flood"
            self._barred_until[chat_id] = now + faults.flood_retry_after
            return _too_many(faults.flood_retry_after), False
        wait = self._limit_wait(now, chat_id)
        if wait > 0:
            stats.rate_limited += 1
            event["outcome"] = "429"
            retry_after = max(1, math.ceil(wait))
            self._barred_until[chat_id] = now + retry_after
            return _too_many(retry_after), False
        event["outcome"] = "ok"
        return (200, {"ok": True, "result": self._deliver(now, chat_id, text)}), False

    def _limit_wait(self, now: float, chat_id: int) -> float:
        """Seconds until this message would be within 30/s overall and 1/s for the chat; 0 if it is now."""
        while self._recent and now - self._recent[0] >= 1.0 - self.slack:
            self._recent.popleft()
        waits = [0.0]
        last = self._last_by_chat.get(chat_id)
        if last is not None and now - last < PER_CHAT_SECONDS - self.slack:
            waits.append(PER_CHAT_SECONDS - (now - last))
        if len(self._recent) >= GLOBAL_PER_SECOND:
            waits.append(1.0 - (now - self._recent[0]))
        return max(waits)

    def _deliver(self, now: float, chat_id: int, text: str) -> dict[str, Any]:
        self.stats.accepted += 1
        self._recent.append(now)
        self._last_by_chat[chat_id] = now
        message_id = next(self._message_ids)
        self.delivered.append({"chat_id": chat_id, "text": text, "message_id": message_id, "t": now})
        return {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": BOT_USER,
            "text": text,
        }


def _too_many(retry_after: float) -> tuple[int, dict[str, Any]]:
    seconds = max(1, math.ceil(retry_after))
    return 429, {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {seconds}",
        "parameters": {"retry_after": seconds},
    }


def _parse_params(content_type: str, body: bytes) -> dict[str, str]:
    """python-telegram-bot posts form-encoded fields (multipart when files go along); JSON is accepted too."""
    if content_type.startswith("application/json"):
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in json.loads(body or b"{}").items()}
    if content_type.startswith("multipart/form-data"):
        boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
        fields = {}
        for part in body.split(b"--" + boundary):
            head, _, value = part.partition(b"\r\n\r\n")
            if b'name="' in head:
                name = head.split(b'name="', 1)[1].split(b'"', 1)[0].decode()
                fields[name] = value.rstrip(b"\r\n").decode("utf-8", "replace")
        return fields
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


def main() -> None:
    """Run the stand-in on its own (e.g. to point `duban run --base-url` at it) until interrupted."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8081)
    server = StandIn(slack=0.05)
    url = server.start(parser.parse_args().port)
    print(f"Bot API stand-in at {url}/bot  (stats: {url}/_stats)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
