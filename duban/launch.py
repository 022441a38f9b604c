"""The `duban` console script: signals handled before anything heavy is imported.

Importing the program takes a second or two (SQLAlchemy, python-telegram-bot, Starlette); a Ctrl-C or SIGTERM in
that time must stop `duban run` as cleanly as later: one line, exit 0, no KeyboardInterrupt traceback. So this
module imports only the standard library until the signal handler is in place, and SIGTERM is turned into the
same KeyboardInterrupt as Ctrl-C, which `duban run` (duban/cli.py) answers with the stop line.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

STOPPED = "duban stopped"  # a msgid of the catalogue


def interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM as Ctrl-C: one way to stop, handled in one place."""
    raise KeyboardInterrupt


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
    except (ImportError, KeyboardInterrupt):  # stopped while the translations load: Chinese first
        line = "督办已停止。"
    print(line, file=sys.stderr)


def main() -> int:
    signal.signal(signal.SIGTERM, interrupt)
    try:
        from duban.cli import main as cli_main

        return cli_main()
    except KeyboardInterrupt:
        if "run" in sys.argv[1:]:
            say_stopped()
            return 0
        return 130
