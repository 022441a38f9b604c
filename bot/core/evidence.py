"""A report's evidence file as a chat platform gives it back, and what any platform's source of such files does.

The dashboard (web/evidence.py) fetches a file from the platform it was sent on; each adapter gives a source
(bot/telegram/evidence.py; DingTalk's is web/evidence.py's DingTalkEvidence, over bot/dingtalk/api.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import filetype

# the only kinds a browser is shown as they are: raster pictures, known by their bytes. An SVG is a picture that
# runs script, and a name or a platform's word for a file is the sender's to choose
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


@dataclass(frozen=True)
class EvidenceFile:
    content: bytes
    media_type: str  # what the platform (or the file name) says it is: the sender's word, never trusted
    filename: str

    @property
    def inline_type(self) -> str | None:
        """The raster picture type the bytes themselves show, or None: everything else is downloaded."""
        kind = filetype.guess(self.content)
        return kind.mime if kind is not None and kind.mime in INLINE_TYPES else None


class EvidenceSource(Protocol):
    async def fetch(self, file_id: str) -> EvidenceFile | None:
        """The file, or None when the platform no longer has it or cannot be reached."""
