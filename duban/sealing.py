"""Sealed values: what duban keeps encrypted at rest with the key in DUBAN_SECRET_KEY (the group robots' webhooks
and signing secrets), so that a copy of the database (a backup, a dump, a disk) carries none of them usable.

Fernet (the `cryptography` package): AES-128-CBC and HMAC-SHA256 under one 32-byte key, a random IV per value, so
one webhook sealed twice gives two different texts, and a text altered or sealed with another key does not open.
DUBAN_SECRET_KEY holds one key, or several separated by commas while a key is being replaced: the first seals,
any of them opens (MultiFernet), and duban.robots.seal_robots seals again with the first what another one sealed.
The key never enters the database; it lives where the other settings do (deploy/duban.env.example).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

# how to make a key; the settings' refusal and the robot commands show it
KEY_COMMAND = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
_KEY = re.compile(r"[A-Za-z0-9_-]{43}=")  # 32 bytes in URL-safe base64, as Fernet.generate_key() writes them
_FEWEST_DISTINCT_BYTES = (
    16  # 32 random bytes have ~30 distinct values; "AAAA…A=" and its kind are placeholders
)


def parse_keys(value: str) -> tuple[str, ...]:
    """The keys of a DUBAN_SECRET_KEY value, first one first; ValueError when one is not a key Fernet made."""
    keys = tuple(part.strip() for part in value.split(","))
    for key in keys:
        if not _KEY.fullmatch(key):
            raise ValueError("not a Fernet key")
        if len(set(base64.urlsafe_b64decode(key))) < _FEWEST_DISTINCT_BYTES:
            raise ValueError("a placeholder, not a random key")
    return keys


class WrongKey(Exception):
    """No key of DUBAN_SECRET_KEY opens this value: it was sealed with another key, or altered."""


class Keyring:
    """The keys of DUBAN_SECRET_KEY: seal with the first, open with any."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._first = Fernet(keys[0])
        self._all = MultiFernet([Fernet(key) for key in keys])
        self._count = len(keys)

    def __repr__(self) -> str:  # never the keys themselves, in a traceback or a log line
        return f"Keyring({self._count} key{'s' if self._count > 1 else ''})"

    def seal(self, plain: str) -> str:
        return self._all.encrypt(plain.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._all.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise WrongKey from None

    def sealed_with_first(self, sealed: str) -> bool:
        try:
            self._first.decrypt(sealed.encode("ascii"))
        except (InvalidToken, UnicodeError):
            return False
        return True

    def seal_again(self, sealed: str) -> str:
        """The value sealed with the first key (it was sealed with another of them); WrongKey if none opens it."""
        try:
            return self._all.rotate(sealed.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise WrongKey from None
