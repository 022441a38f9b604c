"""Keep within DingTalk's sending limits ourselves, per person and for the whole app.

What DingTalk says (read 2026-12, not measured against DingTalk):
- its batchSend page (one-to-one robot messages) allows up to 20 userIds a call and gives no rate per person;
  its answer lists the people it throttled in `flowControlledStaffIdList` (api.py turns that into RetryLater);
- its developer community (an answer from DingTalk's developer group, 2024) gives an organisation's OpenAPI
  quota per second by edition: 20 (standard), 40 (professional), 60 (exclusive);
- its custom group robots may post 20 messages a minute and are throttled for 10 minutes beyond that.
So, without a published per-person figure, we hold one person to what DingTalk holds its robots to and what
Telegram asks per chat: at least 1 s between two messages to one person and at most 20 in any minute, and the
app to 20 sends a second (the lowest edition's quota). A person's 督办提醒 in three parts takes 2 s; the limits
only bite on a burst the dispatcher never makes (it sends one message of a kind per person per minute).
The clock and the sleep are injected, so tests run without real waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

PER_PERSON_SECONDS = 1.0
PER_PERSON_PER_MINUTE = 20
APP_PER_SECOND = 20
_MINUTE = 60.0
_FORGET_AFTER = 1000  # people remembered before those idle for a minute are dropped


@dataclass
class DingTalkPacer:
    """Sliding windows: per person (a gap and a count per minute) and for the app (a count per second)."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    per_person_seconds: float = PER_PERSON_SECONDS
    per_person_per_minute: int = PER_PERSON_PER_MINUTE
    app_per_second: int = APP_PER_SECOND
    _by_person: dict[str, deque[float]] = field(default_factory=dict)
    _recent: deque[float] = field(default_factory=deque)

    async def wait_turn(self, user_id: str) -> None:
        """Sleep until a message to this person is within every limit, then count it as sent."""
        while True:
            now = self.clock()
            while self._recent and now - self._recent[0] >= 1.0:
                self._recent.popleft()
            sent = self._by_person.get(user_id, deque())
            while sent and now - sent[0] >= _MINUTE:
                sent.popleft()
            waits = []
            if sent and now - sent[-1] < self.per_person_seconds:
                waits.append(self.per_person_seconds - (now - sent[-1]))
            if len(sent) >= self.per_person_per_minute:
                waits.append(_MINUTE - (now - sent[0]))
            if len(self._recent) >= self.app_per_second:
                waits.append(1.0 - (now - self._recent[0]))
            if not waits:
                break
            await self.sleep(max(waits))
        # no await between the check and the count: two senders to one person cannot both pass
        sent.append(now)
        self._by_person[user_id] = sent
        self._recent.append(now)
        if len(self._by_person) > _FORGET_AFTER:
            self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        for user_id in [u for u, sent in self._by_person.items() if now - sent[-1] >= _MINUTE]:
            del self._by_person[user_id]
