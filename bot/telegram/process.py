"""Telegram's part of `duban run` (bot/main.py): the Application built with its requests, its first Bot API call
retried while the network comes up, updates taken by polling or by webhook, and everything stopped again."""

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path

from telegram import Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application
from telegram.request import BaseRequest, HTTPXRequest
from telegram.warnings import PTBUserWarning

from bot.telegram.app import build_application, conversation_persistence
from bot.telegram.polling import Connection, WatchedRequest
from bot.telegram.runtime import Runtime
from bot.telegram.webhook import WEBHOOK_PATH, derive_secret
from duban.config import Settings
from duban.errors import ConfigurationError, Refused

log = logging.getLogger(__name__)

# /report mixes button and text steps, so it is tracked per user, not per message, on purpose (as in pyproject's
# pytest settings); PTB's advice would otherwise print on every start, in front of the log
warnings.filterwarnings("ignore", message="If 'per_message=False'", category=PTBUserWarning)

# network trouble at start-up (no route yet, DNS not up, the Bot API briefly away) is retried: 1+2+4+8+16 s
STARTUP_ATTEMPTS = 6
FIRST_RETRY_SECONDS = 1.0
startup_pause: Callable[[float], Awaitable[object]] = asyncio.sleep  # tests put a recording fake here


def telegram_application(
    runtime: Runtime,
    *,
    token: str,
    base_url: str | None,
    emulator: bool,
    connection: Connection,
    state_dir: str | Path,
) -> Application:
    """The Application `duban run` runs: its getUpdates watched by `connection`, the emulator's requests when
    asked for (end-to-end tests), the /report conversations kept in the state directory."""
    request: BaseRequest | None = None
    updates_request: BaseRequest = HTTPXRequest()  # PTB's default for getUpdates, watched below
    if emulator:
        from bot.telegram.emulator import EmulatorRequest

        request, updates_request = EmulatorRequest(), EmulatorRequest()
    return build_application(
        runtime,
        token=token,
        base_url=base_url,
        request=request,
        get_updates_request=WatchedRequest(updates_request, connection),
        persistence=conversation_persistence(Path(state_dir) / "conversations.pickle"),
        rate_limit=not emulator,
    )


async def connect_to_telegram(
    application: Application,
    *,
    attempts: int = STARTUP_ATTEMPTS,
    first_delay: float = FIRST_RETRY_SECONDS,
    sleep: Callable[[float], Awaitable[object]] | None = None,
) -> None:
    """Initialize the application (its first Bot API call), retrying network errors with a doubling wait.

    Each failed try is logged in one line; a token Telegram refuses is not retried. Refused when every try failed.
    """
    pause = sleep or startup_pause
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            await application.initialize()
            return
        except InvalidToken as error:
            raise ConfigurationError(
                "Telegram refused TELEGRAM_BOT_TOKEN ({reason}); put the token @BotFather gave you in it",
                reason=str(error),
            ) from None
        except NetworkError as error:
            if attempt == attempts:
                raise Refused(
                    "Cannot reach the Telegram Bot API after {attempts} tries ({reason}); "
                    "check the network or DUBAN_TELEGRAM_BASE_URL",
                    attempts=attempts,
                    reason=str(error),
                ) from None
            log.warning(
                "Telegram Bot API not reachable (%s); try %d of %d, next in %g s",
                error,
                attempt,
                attempts,
                delay,
            )
            await pause(delay)
            delay *= 2


async def set_webhook(application: Application, webhook_url: str, settings: Settings) -> None:
    secret = settings.webhook_secret or derive_secret(application.bot.token)
    try:
        await application.bot.set_webhook(
            url=webhook_url.rstrip("/") + WEBHOOK_PATH, secret_token=secret, allowed_updates=Update.ALL_TYPES
        )
    except TelegramError as error:  # "Bad webhook: An HTTPS URL must be provided for webhook"
        raise Refused(
            "Telegram refused the webhook {url} ({reason}); give the public HTTPS address of this service",
            url=webhook_url,
            reason=str(error),
        ) from None
