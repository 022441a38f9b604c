"""Evidence files: a report keeps the chat platform's file id (Telegram's today); the dashboard fetches the file
from the platform when a reader opens it, and keeps no copy.

Without a source (no bot token where the dashboard runs, or a platform that cannot hand files out) the pages
say that the evidence is on Telegram instead of linking to it.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
from dataclasses import dataclass
from typing import Protocol

from telegram import Bot
from telegram.error import TelegramError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvidenceFile:
    content: bytes
    media_type: str
    filename: str

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")


class EvidenceSource(Protocol):
    async def fetch(self, file_id: str) -> EvidenceFile | None:
        """The file, or None when the platform no longer has it or cannot be reached."""


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
