"""Report evidence by Telegram file id, for the dashboard: the Bot API's getFile, then the file's download URL."""

from __future__ import annotations

import asyncio
import logging
import mimetypes

from telegram import Bot
from telegram.error import TelegramError

from bot.core.evidence import EvidenceFile

log = logging.getLogger(__name__)


def evidence_by_token(token: str, base_url: str | None) -> TelegramEvidence:
    """The source `duban web` uses alone: a Bot of its own, on the Bot API at `base_url` (Telegram's by default)."""
    base = (base_url or "https://api.telegram.org").rstrip("/")
    return TelegramEvidence(Bot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot"))


class TelegramEvidence:
    """Files by Telegram file id, through the Bot API (getFile, then the file's download URL)."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._ready = asyncio.Lock()

    async def fetch(self, file_id: str) -> EvidenceFile | None:
        try:
            async with self._ready:
                await self.bot.initialize()  # does nothing once done; `duban run` hands in a started bot
            file = await self.bot.get_file(file_id)
            content = await file.download_as_bytearray()
        except TelegramError as error:
            log.warning("evidence %s could not be fetched from Telegram: %s", file_id[:16], error)
            return None
        name = (file.file_path or "").rsplit("/", 1)[-1] or "evidence"
        return EvidenceFile(bytes(content), mimetypes.guess_type(name)[0] or "application/octet-stream", name)
