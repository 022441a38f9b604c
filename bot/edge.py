"""Where updates enter: every text in an update is sanitized once, before any handler sees it.

Polling and the webhook both hand updates to Application.process_update, so that is the one place to clean them:
control characters out, each string bounded. Handlers, the report conversation and the services then never meet
a NUL (which PostgreSQL refuses in a stored value and in a query) or a forged 100,000-character argument.
"""

from typing import Any

from telegram import Update
from telegram.ext import Application

from duban.services.text import sanitized


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


class SanitizingApplication(Application):
    async def process_update(self, update: object) -> None:
        if isinstance(update, Update):
            update = sanitized_update(update, self)
        await super().process_update(update)
