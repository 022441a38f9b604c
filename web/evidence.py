"""Evidence files: a report keeps the chat platform's reference to the file (a Telegram file id, or
`dingtalk:<downloadCode>`); the dashboard fetches the file from that platform when a reader allowed to see the
report opens it. Telegram's are not kept (bot/telegram/evidence.py fetches them); DingTalk's are kept in a small
bounded cache (each fetch costs two calls).

Without a source for the file's platform (no bot token or DingTalk app where the dashboard runs, or a reference
too long to keep) the pages say on which platform the evidence was sent instead of linking to it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Protocol

import filetype

from bot.core.evidence import EvidenceFile, EvidenceSource
from scheduler.delivery import DeliveryError

log = logging.getLogger(__name__)


DINGTALK_PREFIX = (
    "dingtalk:"  # bot/dingtalk/channel.py evidence_ref; "dingtalk-sha256:" keeps no download code
)


def channel_of(file_id: str) -> str:
    """The platform a report's evidence was sent on, by the reference the channel stored."""
    return "dingtalk" if file_id.startswith(("dingtalk:", "dingtalk-sha256:")) else "telegram"


class EvidenceSources:
    """Each report's file from the platform it was sent on; a platform without a source here is not asked."""

    def __init__(
        self, *, telegram: EvidenceSource | None = None, dingtalk: EvidenceSource | None = None
    ) -> None:
        self._sources = {"telegram": telegram, "dingtalk": dingtalk}

    def online(self, file_id: str) -> bool:
        if file_id.startswith("dingtalk-sha256:"):
            return False
        return self._sources[channel_of(file_id)] is not None

    async def fetch(self, file_id: str) -> EvidenceFile | None:
        source = self._sources[channel_of(file_id)] if self.online(file_id) else None
        return await source.fetch(file_id) if source is not None else None


class DingTalkDownloads(Protocol):
    async def download(self, download_code: str) -> bytes: ...


class DingTalkEvidence:
    """Pictures and files sent to the robot, by their downloadCode (bot.dingtalk.api.DingTalkApi.download).

    A fetched file is kept in memory up to CACHE_BYTES in all (least recently opened first out), so a coordinator
    paging back and forth does not ask DingTalk twice; a file larger than the cache is served, not kept.
    """

    CACHE_BYTES = 32 * 1024 * 1024

    def __init__(self, api: DingTalkDownloads) -> None:
        self.api = api
        self._cache: OrderedDict[str, EvidenceFile] = OrderedDict()

    async def fetch(self, file_id: str) -> EvidenceFile | None:
        if file_id in self._cache:
            self._cache.move_to_end(file_id)
            return self._cache[file_id]
        try:
            content = await self.api.download(file_id.removeprefix(DINGTALK_PREFIX))
        except DeliveryError as error:
            log.warning("evidence %s could not be fetched from DingTalk: %s", file_id[:24], error)
            return None
        kind = filetype.guess(content)
        name = f"evidence.{kind.extension}" if kind is not None else "evidence"
        file = EvidenceFile(content, kind.mime if kind is not None else "application/octet-stream", name)
        if len(content) <= self.CACHE_BYTES:
            self._cache[file_id] = file
            while sum(len(f.content) for f in self._cache.values()) > self.CACHE_BYTES:
                self._cache.popitem(last=False)
        return file
