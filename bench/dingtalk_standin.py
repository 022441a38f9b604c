"""The DingTalk stand-in of the tests (tests/standins/dingtalk.py), with faults and DingTalk's limits judged on an
injected clock, for `python -m bench.faults --channel dingtalk`.

Only batchSend is faulted (the token endpoint answers as usual). The modes carry Telegram's names so the same
checks apply, in DingTalk's shapes:
- 5xx: answered 500 (ServiceUnavailable), nothing delivered;
- hang / hang-delivered: held past the client's timeout, then answered too late; delivered first or not;
- 429: DingTalk's throttling, half as HTTP 429 "Throttling.Api" with Retry-After, half as 200 with the person
  in `flowControlledStaffIdList` (no Retry-After: DingTalk says no time; api.py waits 60 s); either bars the
  person for that long, and a request before then counts as early;
- 403: the person left the organisation: 200 with them in `invalidStaffIdList`, nothing delivered.
Beyond the faults, a send that breaks what bot/dingtalk/pacing.py promises (1 s between two messages to one
person, 20 a minute to one person, 20 a second for the app) is answered flow-controlled and counted over the
limit.
"""

from __future__ import annotations

import asyncio
import collections
import json
import math
import random
import secrets
import threading
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bench.standin import Faults, Stats
from bot.dingtalk.api import FLOW_CONTROL_RETRY_SECONDS
from bot.dingtalk.pacing import APP_PER_SECOND, PER_PERSON_PER_MINUTE, PER_PERSON_SECONDS
from tests.standins.dingtalk import DingTalkStandIn


class FaultyDingTalk(DingTalkStandIn):
    def __init__(
        self, *, clock: Callable[[], float], faults: Faults, staff: set[str], blocked: set[str]
    ) -> None:
        super().__init__(staff=staff)
        self.clock, self.faults, self.blocked = clock, faults, blocked
        self.stats = Stats()
        self.events: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []  # {chat_id, text, message_id, t}, as the tally reads it
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()
        self._barred_until: dict[str, float] = {}
        self._by_person: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._recent: collections.deque[float] = collections.deque()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(vars(self.stats))

    async def _batch_send(self, request: Request) -> Response:
        if not self._token_ok(request):
            return JSONResponse({"code": "InvalidAuthentication", "message": "不合法的access_token"}, 401)
        body = await request.json()
        person = str((body.get("userIds") or [""])[0])
        try:
            text = str(json.loads(body.get("msgParam", "{}")).get("text", ""))
        except ValueError:
            text = ""
        with self._lock:
            outcome, answer = self._decide(person, text)
        if outcome in ("hang", "hang-delivered"):
            await asyncio.sleep(self.faults.hang_seconds)  # the client has given up by now
            return JSONResponse({"code": "ServiceUnavailable", "message": "too late"}, 503)
        return answer if answer is not None else _sent([])

    def _decide(self, person: str, text: str) -> tuple[str, Response | None]:
        """One batchSend under the lock: faults first, then the limits; None: delivered."""
        now, faults, stats = self.clock(), self.faults, self.stats
        stats.requests += 1
        event = {"t": now, "chat_id": person, "text": text}
        self.events.append(event)
        barred = self._barred_until.get(person, -math.inf)
        if now < barred:
            stats.early_retries += 1
            event["outcome"] = "early"
            return "early", _flow_controlled(person)
        if person in self.blocked:
            stats.forbidden += 1
            event["outcome"] = "403"
            return "403", _sent([], invalid=[person])
        roll = self._rng.random()
        if roll < faults.error_rate:
            stats.errors_5xx += 1
            event["outcome"] = "500"
            return "500", JSONResponse({"code": "ServiceUnavailable", "message": "服务暂不可用"}, 500)
        if roll < faults.error_rate + faults.hang_rate:
            stats.hangs += 1
            event["outcome"] = "hang"
            if faults.hang_delivers:
                self._deliver(now, person, text)
                return "hang-delivered", None
            return "hang", None
        if roll < faults.error_rate + faults.hang_rate + faults.flood_rate:
            stats.flooded += 1
            event["outcome"] = "flood"
            if self._rng.random() < 0.5:
                self._barred_until[person] = now + faults.flood_retry_after
                return "flood", JSONResponse(
                    {"code": "Throttling.Api", "message": "请求过于频繁"},
                    429,
                    headers={"Retry-After": str(faults.flood_retry_after)},
                )
            self._barred_until[person] = now + FLOW_CONTROL_RETRY_SECONDS
            return "flood", _flow_controlled(person)
        if self._over_limit(now, person):
            stats.rate_limited += 1
            event["outcome"] = "429"
            return "429", _flow_controlled(person)
        event["outcome"] = "ok"
        return "ok", _sent([], key=self._deliver(now, person, text))

    def _over_limit(self, now: float, person: str) -> bool:
        """Whether this send breaks 1 s and 20 a minute per person, or 20 a second for the app."""
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        sent = self._by_person[person]
        while sent and now - sent[0] >= 60.0:
            sent.popleft()
        return (
            bool(sent and now - sent[-1] < PER_PERSON_SECONDS - 1e-9)
            or len(sent) >= PER_PERSON_PER_MINUTE
            or len(self._recent) >= APP_PER_SECOND
        )

    def _deliver(self, now: float, person: str, text: str) -> str:
        self.stats.accepted += 1
        self._recent.append(now)
        self._by_person[person].append(now)
        key = secrets.token_hex(8)
        self.delivered.append({"chat_id": person, "text": text, "message_id": key, "t": now})
        return key


def _sent(flow_controlled: list[str], *, invalid: list[str] | None = None, key: str = "") -> JSONResponse:
    return JSONResponse(
        {
            "processQueryKey": key or secrets.token_hex(8),
            "invalidStaffIdList": invalid or [],
            "flowControlledStaffIdList": flow_controlled,
        }
    )


def _flow_controlled(person: str) -> JSONResponse:
    return _sent([person])
