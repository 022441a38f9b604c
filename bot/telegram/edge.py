"""Where updates enter: an update that changed something already is skipped, and every text in an update is
sanitized once, before any handler sees it.

Polling and the webhook both hand updates to Application.process_update, so that is the one place to look at them.
Telegram sends an update again when the poller did not confirm it before a crash, or retries a webhook call (perhaps
to another instance): the handler that changed something stored the update_id in that transaction
(bot/telegram/runtime.py), so the second delivery finds it and does nothing, not even answer. Then the texts are cleaned:
control characters out, each string bounded. Handlers, the report conversation and the services never meet a NUL
(which PostgreSQL refuses in a stored value and in a query) or a forged 100,000-character argument.
"""

import logging
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.telegram.runtime import RUNTIME_KEY, Runtime
from duban.services.text import sanitized

log = logging.getLogger(__name__)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return sanitized(value)
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def sanitized_update(update: Update, application: Application) -> Update:
    """The same update with every string sanitized; the very object when nothing needed cleaning (the usual case)."""
    data = update.to_dict()
    cleaned = _clean(data)
    if cleaned == data:
        return update
    clean = Update.de_json(cleaned, application.bot)
    assert clean is not None  # the dict came from an Update
    return clean


class EdgeApplication(Application):
    async def process_update(self, update: object) -> None:
        if isinstance(update, Update):
            rt = self.bot_data.get(RUNTIME_KEY)
            if isinstance(rt, Runtime) and rt.handled(update):
                log.info("update %s changed something already; this delivery is skipped", update.update_id)
                return
            update = sanitized_update(update, self)
        await super().process_update(update)
