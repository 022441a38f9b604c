"""Keep within Telegram's sending limits ourselves.

python-telegram-bot's AIORateLimiter enforces the overall and per-group limits but not one message per second
per private chat, and its retries default to none; so the dispatcher paces every chat itself. The clock and the
sleep are injected, so tests run without real waiting.
"""

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

PER_PRIVATE_CHAT_SECONDS = 1.0
PER_GROUP_SECONDS = 3.0  # 20 messages a minute
GLOBAL_PER_SECOND = 30


@dataclass
class SendPacer:
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    global_per_second: int = GLOBAL_PER_SECOND
    _last_by_chat: dict[int, float] = field(default_factory=dict)
    _recent: deque[float] = field(default_factory=deque)

    async def wait_turn(self, chat_id: int) -> None:
        """Sleep until a message to this chat is within every limit, then count it as sent."""
        interval = PER_PRIVATE_CHAT_SECONDS if chat_id > 0 else PER_GROUP_SECONDS
        while True:
            now = self.clock()
            while self._recent and now - self._recent[0] >= 1.0:
                self._recent.popleft()
            waits = []
            last = self._last_by_chat.get(chat_id)
            if last is not None and now - last < interval:
                waits.append(interval - (now - last))
            if len(self._recent) >= self.global_per_second:
                waits.append(1.0 - (now - self._recent[0]))
            if not waits:
                break
            await self.sleep(max(waits))
        self._last_by_chat[chat_id] = now
        self._recent.append(now)
