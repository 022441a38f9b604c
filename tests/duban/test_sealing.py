"""DUBAN_SECRET_KEY and the keyring that seals the group robots' webhooks: keys Fernet made, placeholders and
malformed values refused, values sealed so that only the keys of the keyring open them, and a rotation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from duban.config import Settings
from duban.sealing import Keyring, WrongKey, parse_keys
from models import limits

FIRST, SECOND = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_a_key_or_a_comma_separated_list_of_keys_is_accepted() -> None:
    assert parse_keys(FIRST) == (FIRST,)
    assert parse_keys(f" {FIRST} , {SECOND} ") == (FIRST, SECOND)
    assert Settings(secret_key=f"{FIRST}, {SECOND}").secret_key == f"{FIRST},{SECOND}"
    assert Settings(secret_key=None).keyring() is None


@pytest.mark.parametrize(
    "value",
    [
        "changeme",
        "your-secret-key",
        "A" * 43 + "=",  # 32 zero bytes: well-formed, but nobody's random key
        FIRST[:-2] + "=",  # cut short
        FIRST.replace("=", ""),  # without its padding
        f"{FIRST},",  # an empty second key
        f"{FIRST};{SECOND}",
        " ",
    ],
)
def test_a_placeholder_or_malformed_key_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        parse_keys(value)


def test_a_sealed_value_opens_only_with_a_key_of_the_keyring() -> None:
    keyring = Keyring([FIRST])
    sealed = keyring.seal("https://oapi.dingtalk.com/robot/send?access_token=abc")
    assert "access_token" not in sealed and sealed != keyring.seal(
        "https://oapi.dingtalk.com/robot/send?access_token=abc"
    )
    assert keyring.open(sealed) == "https://oapi.dingtalk.com/robot/send?access_token=abc"
    with pytest.raises(WrongKey):
        Keyring([SECOND]).open(sealed)
    with pytest.raises(WrongKey):
        keyring.open(sealed[:-4] + "AAAA")  # altered
    assert FIRST not in repr(keyring) and repr(keyring) == "Keyring(1 key)"


def test_a_rotation_opens_with_either_key_and_seals_again_with_the_first() -> None:
    old = Keyring([FIRST]).seal("SECsecret")
    rotating = Keyring([SECOND, FIRST])
    assert rotating.open(old) == "SECsecret" and not rotating.sealed_with_first(old)
    again = rotating.seal_again(old)
    assert rotating.sealed_with_first(again) and Keyring([SECOND]).open(again) == "SECsecret"
    with pytest.raises(WrongKey):
        Keyring([SECOND]).seal_again(old)


def test_the_longest_webhook_and_secret_fit_their_sealed_columns() -> None:
    keyring = Keyring([FIRST])
    assert len(keyring.seal("w" * limits.ROBOT_WEBHOOK)) <= limits.SEALED_WEBHOOK
    assert len(keyring.seal("s" * limits.ROBOT_SECRET)) <= limits.SEALED_SECRET
