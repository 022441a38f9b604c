"""The `duban` console script: signals handled before anything heavy is imported.

Importing the program takes a second or two (SQLAlchemy, python-telegram-bot, Starlette); a Ctrl-C or SIGTERM in
that time must stop `duban run` as cleanly as later: one line, exit 0, no traceback. An exception raised from a
signal handler cannot do that (it lands inside an import, a garbage-collector callback or a C extension, where it is
lost or turned into another error), so for `duban run` a signal is only remembered here, and the process stops at
its next safe point: after the imports, before connecting, or at once in the event loop. A second signal while it
is still starting stops it on the spot.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

STOPPED = "duban stopped"  # a msgid of the catalogue
_requests: list[int] = []  # the signals received while starting


def stop_requested() -> bool:
    return bool(_requests)


def _request_stop(signum: int, frame: FrameType | None) -> None:
    if _requests:  # impatient: nothing has started that needs stopping in order
        say_stopped()
        os._exit(0)
    _requests.append(signum)


@contextmanager
def deferred_signals() -> Iterator[None]:
    """SIGTERM and SIGINT remembered (stop_requested) instead of raised, until the event loop takes them over."""
    previous = {signum: signal.signal(signum, _request_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _requests.clear()


def say_stopped() -> None:
    """The stop line of `duban run`, in the operator's language (through the process logger, so JSON under
    --log-json); printed plainly if logging is not set up yet."""
    from duban.operations import PROCESS_LOGGER

    process = logging.getLogger(PROCESS_LOGGER)
    if process.handlers:
        process.info(STOPPED)
        return
    try:
        from bot.i18n import gettext_for
        from duban.config import interface_language

        line = gettext_for(interface_language())(STOPPED)
    except ImportError:
        line = "督办已停止。"
    print(line, file=sys.stderr)


def _command(argv: Sequence[str]) -> str | None:
    """The command word: the first argument that is not an option (-v and --log-json take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def main() -> int:
    if _command(sys.argv[1:]) != "run":
        from duban.cli import main as cli_main

        return cli_main()
    with deferred_signals():
        from duban.cli import main as cli_main

        if stop_requested():
            say_stopped()
            return 0
        return cli_main()
