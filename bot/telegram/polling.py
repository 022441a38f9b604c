"""Polling that says when Telegram is lost and when it is back, once each, instead of a traceback per try.

PTB's updater retries getUpdates on its own, forever, with a growing pause; what it lacks is a word to the operator
that is not a traceback per failed call. The getUpdates request is wrapped here (PTB's BaseRequest, the one hook
every call goes through): a network failure after a success, and a success after a failure, are reported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

# the signature of BaseRequest.do_request, as PTB declares it (its own subclasses import these the same way)
from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData

log = logging.getLogger(__name__)


class WatchedRequest(BaseRequest):
    """Another request (PTB's HTTPXRequest, the emulator's), reporting each getUpdates call's outcome."""

    def __init__(self, inner: BaseRequest, outcome: Callable[[bool, str], None]) -> None:
        self._inner = inner
        self._outcome = outcome  # (reached Telegram, why not)

    @property
    def read_timeout(self) -> float | None:
        return self._inner.read_timeout

    async def initialize(self) -> None:
        await self._inner.initialize()

    async def shutdown(self) -> None:
        await self._inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        try:
            answer = await self._inner.do_request(
                url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
            )
        except TimedOut:
            raise  # a long poll that ran out is routine: PTB asks again at once
        except NetworkError as error:
            self._outcome(False, str(error))
            raise
        self._outcome(True, "")
        return answer


class Connection:
    """Whether Telegram answers, said once per change on `say`; silent until `announce` (the start lines say it
    first)."""

    def __init__(self, say: logging.Logger) -> None:
        self._say = say
        self.announce = False
        self.reachable = True

    def __call__(self, reached: bool, reason: str) -> None:
        if reached == self.reachable:
            return
        self.reachable = reached
        if not self.announce:
            return
        if reached:
            self._say.info("Telegram: connected again")
        else:
            self._say.warning("Telegram: connection to the Bot API lost (%s); retrying", reason)

    def polling_error(self, error: TelegramError) -> None:
        """PTB's error callback for getUpdates: a network failure is said once by the request watcher (PTB would log
        a traceback per try); anything else (409 Conflict: another process polls this token) is logged."""
        if isinstance(error, NetworkError):
            log.info("getUpdates failed: %s", error)
        else:
            log.warning("Telegram refused getUpdates (%s); retrying", error)
