"""End-to-end harness: the telegram-test-api Bot API emulator and a client that plays the user.

Fixtures:
    emulator         (session) a running ``emulator_server.js``; ``.url``, ``.bot_base_url``, ...
    bot_token        a fresh token per test; the emulator keeps each token's chats apart
    telegram_user    an :class:`EmulatorClient` for ``bot_token``: user 1001 in private chat 1001

Needs ``node`` and ``npm install --prefix tests/e2e``; without them the tests are skipped, or fail
when ``CI=true``.

Client HTTP API of telegram-test-api 4.2.1 (lib/routes/client/*.js; all POST, JSON bodies):
    /sendMessage        a user message: {botToken, from, chat, date, text, ...} -> {ok, result: null}
    /sendCommand        the same, ``entities`` required (else the emulator fails the request
                        asynchronously) -> {ok, result: null}
    /sendCallback       a button press: {botToken, from, message, data}; the bot receives only
                        id/from/message/data -> {ok, result: null}
    /getUpdates         {token, chatId}: bot messages to that chat not yet read by the client,
                        marked read now -> {ok, result: [record]}
    /getUpdatesHistory  {token}: every stored user and bot record of the token, oldest first,
                        bot messages in their current (edited) state, deleted ones gone
    /getCallbackAnswers {token}: answerCallbackQuery calls (added by emulator_server.js)
A bot record is {time, botToken, updateId, messageId, isRead, message} where ``message`` is the
bot's sendMessage request (chat_id as a string, text, reply_markup object, ...) with later edits
merged in. User records have ``message`` with ``from``/``chat`` (or ``callbackQuery``).
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.ci import unavailable

E2E_DIR = Path(__file__).resolve().parent
SERVER_JS = E2E_DIR / "emulator_server.js"
PACKAGE_DIR = E2E_DIR / "node_modules" / "telegram-test-api"
DEFAULT_TIMEOUT = 20.0  # seconds a wait_* helper waits for the bot before failing

T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: end-to-end test against the telegram-test-api emulator (needs node + npm install)"
    )


# --------------------------------------------------------------------------- the emulator process


@dataclass(frozen=True)
class Emulator:
    url: str  # e.g. http://127.0.0.1:40123 ; the client API lives here
    log_path: Path

    @property
    def bot_base_url(self) -> str:
        """PTB ``base_url``: PTB appends the token, giving {url}/bot<token>/<method>."""
        return f"{self.url}/bot"

    @property
    def bot_base_file_url(self) -> str:
        """PTB ``base_file_url`` (the emulator serves no files; this just keeps PTB off Telegram)."""
        return f"{self.url}/file/bot"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _unavailable(reason: str) -> None:
    unavailable(f"e2e tests: {reason}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_emulator(node: str, log_path: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    """Start emulator_server.js on a free port; None if the port was taken meanwhile."""
    port = _free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [node, str(SERVER_JS), str(port)],
            cwd=E2E_DIR,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TELEGRAM_EMULATOR_STORE_TIMEOUT": "3600"},
        )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for line in log_path.read_text(errors="replace").splitlines():
            if line.startswith("READY "):
                return proc, line.split(" ", 1)[1].strip()
        if proc.poll() is not None:
            if "EADDRINUSE" in log_path.read_text(errors="replace"):
                return None
            pytest.fail(f"emulator exited with {proc.returncode}:\n{log_path.read_text()}", pytrace=False)
        time.sleep(0.05)
    _stop(proc)
    pytest.fail(f"emulator not ready within 15 s:\n{log_path.read_text()}", pytrace=False)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()  # emulator_server.js stops the server and exits on SIGTERM
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed (needed for the telegram-test-api emulator)")
    if not (PACKAGE_DIR / "package.json").exists():
        _unavailable("telegram-test-api is not installed: run `npm ci --prefix tests/e2e`")
    assert node is not None
    log_path = tmp_path_factory.mktemp("emulator") / "emulator.log"
    for _ in range(5):
        started = _start_emulator(node, log_path)
        if started:
            break
    else:
        pytest.fail("could not find a free port for the emulator", pytrace=False)
    assert started is not None
    proc, url = started
    try:
        yield Emulator(url=url, log_path=log_path)
    finally:
        _stop(proc)


_token_numbers = itertools.count(100001)


@pytest.fixture
def bot_token() -> str:
    """A token no other test uses: the emulator stores everything per token, so tests stay apart."""
    return f"{next(_token_numbers)}:E2E-{uuid.uuid4().hex}"


@pytest.fixture
async def telegram_user(emulator: Emulator, bot_token: str) -> AsyncIterator[EmulatorClient]:
    async with EmulatorClient(emulator.url, bot_token, user_id=1001) as client:
        yield client


# --------------------------------------------------------------------------- the user's client


@dataclass
class BotMessage:
    """A message the bot sent, in its current state (edits applied) as the emulator stores it."""

    message_id: int
    chat_id: int | str
    text: str | None
    reply_markup: dict[str, Any] | None
    update_id: int  # the emulator's shared counter: orders user and bot messages
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> BotMessage:
        message = record["message"]
        markup = message.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        chat_id = message.get("chat_id")
        return cls(
            message_id=int(record["messageId"]),
            chat_id=int(chat_id) if str(chat_id).lstrip("-").isdigit() else chat_id,
            text=message.get("text"),
            reply_markup=markup,
            update_id=int(record["updateId"]),
            raw=record,
        )

    @property
    def visible_text(self) -> str:
        """The text as the user's app shows it: HTML tags and escapes of parse_mode=HTML resolved.

        The emulator stores what the bot sent (``text`` keeps ``<b>``/``&lt;``); Telegram renders it.
        """
        text = self.text or ""
        if str(self.raw["message"].get("parse_mode", "")).upper() == "HTML":
            text = html.unescape(re.sub(r"<[^>]*>", "", text))
        return text

    @property
    def buttons(self) -> list[list[dict[str, Any]]]:
        """Rows of inline keyboard buttons ([] when there is none)."""
        return list((self.reply_markup or {}).get("inline_keyboard") or [])

    def button(self, text: str) -> dict[str, Any]:
        """The inline button whose label is ``text`` (or contains it)."""
        flat = [b for row in self.buttons for b in row]
        for wanted in (lambda b: b.get("text") == text, lambda b: text in str(b.get("text"))):
            for b in flat:
                if wanted(b):
                    return b
        raise LookupError(f"no button {text!r} in {[b.get('text') for b in flat]}")


class EmulatorClient:
    """A Telegram user (and their chat) talking to the bot with ``token`` through the emulator.

    Sends are "fire and forget" like a real user; use the ``wait_*`` helpers to see the bot's
    reaction: they re-read the emulator until a matching message shows up or ``timeout`` passes.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        user_id: int = 1001,
        chat_id: int | None = None,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = "test_user",
        language_code: str | None = "zh-hans",
        chat_type: str = "private",
        chat_title: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        for key, value in (
            ("last_name", last_name),
            ("username", username),
            ("language_code", language_code),
        ):
            if value is not None:
                self.user[key] = value
        self.chat_id = chat_id if chat_id is not None else user_id
        self.chat: dict[str, Any] = {"id": self.chat_id, "type": chat_type}
        if chat_type == "private":
            self.chat.update(
                {k: v for k, v in self.user.items() if k in ("first_name", "last_name", "username")}
            )
        else:
            self.chat["title"] = chat_title or f"Chat {self.chat_id}"
        self.last_sent_update_id = 0  # bot messages after this are replies to our latest send
        self._http = httpx.AsyncClient(base_url=self.url, timeout=10)

    async def __aenter__(self) -> EmulatorClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def as_user(self, user_id: int, **kwargs: Any) -> EmulatorClient:
        """Another user (own private chat unless ``chat_id`` is given) talking to the same bot.

        Close it (``async with`` or :meth:`aclose`) when done.
        """
        return EmulatorClient(self.url, self.token, user_id=user_id, **kwargs)

    # -- raw client API

    async def _post(self, path: str, payload: dict[str, Any]) -> Any:
        response = await self._http.post(path, json=payload)
        response.raise_for_status()
        body = response.json()
        if not body.get("ok"):
            raise AssertionError(f"emulator {path} failed: {body}")
        return body.get("result")

    async def history(self) -> list[dict[str, Any]]:
        """POST /getUpdatesHistory: all stored records of this bot token, oldest first."""
        return list(await self._post("/getUpdatesHistory", {"token": self.token}))

    async def callback_answers(self) -> list[dict[str, Any]]:
        """POST /getCallbackAnswers: the bot's answerCallbackQuery calls (emulator_server.js)."""
        return list(await self._post("/getCallbackAnswers", {"token": self.token}))

    # -- acting as the user

    def _message(self, text: str) -> dict[str, Any]:
        return {
            "botToken": self.token,
            "from": dict(self.user),
            "chat": dict(self.chat),
            "date": int(time.time()),
            "text": text,
        }

    async def _mark(self) -> int:
        records = await self.history()
        return max((int(r["updateId"]) for r in records), default=0)

    async def send_message(self, text: str) -> None:
        """The user types ``text``. A leading /command gets its ``bot_command`` entity."""
        self.last_sent_update_id = await self._mark()
        payload = self._message(text)
        if text.startswith("/"):
            payload["entities"] = [_command_entity(text)]
            await self._post("/sendCommand", payload)
        else:
            await self._post("/sendMessage", payload)

    async def send_reply(self, message: BotMessage, text: str) -> None:
        """The user answers ``message`` with Telegram's reply feature."""
        self.last_sent_update_id = await self._mark()
        payload = self._message(text)
        payload["reply_to_message"] = {
            "message_id": message.message_id,
            "date": int(time.time()),
            "chat": dict(self.chat),
            "text": message.text or "",
        }
        await self._post("/sendMessage", payload)

    async def send_command(self, command: str, *args: str) -> None:
        """The user sends ``/command arg ...`` (``command`` with or without the slash)."""
        text = " ".join(["/" + command.lstrip("/"), *args])
        await self.send_message(text)

    async def press_button(self, message: BotMessage, button: str) -> None:
        """The user taps the inline button labelled ``button`` under the bot's ``message``."""
        data = message.button(button).get("callback_data")
        if data is None:
            raise AssertionError(f"button {button!r} has no callback_data: {message.button(button)}")
        await self.send_callback(message, data)

    async def send_callback(self, message: BotMessage, data: str) -> None:
        """A callback query with ``data`` from ``message`` (what pressing its button sends)."""
        self.last_sent_update_id = await self._mark()
        bot_message: dict[str, Any] = {
            "message_id": message.message_id,
            "date": int(message.raw.get("time", time.time() * 1000)) // 1000,
            "chat": dict(self.chat)
            if message.chat_id == self.chat_id
            else {"id": message.chat_id, "type": "private"},
            "from": {"id": 666, "is_bot": True, "first_name": "Test First name", "username": "TestNameBot"},
        }
        if message.text is not None:
            bot_message["text"] = message.text
        if message.reply_markup:
            bot_message["reply_markup"] = message.reply_markup
        await self._post(
            "/sendCallback",
            {"botToken": self.token, "from": dict(self.user), "message": bot_message, "data": data},
        )

    # -- seeing what the bot did

    async def bot_messages(self, *, after: int | None = 0) -> list[BotMessage]:
        """The bot's messages in this chat, oldest first, in their current (edited) state.

        ``after``: only those sent after that emulator update id (``None``: after our last send).
        """
        since = self.last_sent_update_id if after is None else after
        messages = [
            BotMessage.from_record(r)
            for r in await self.history()
            if "chat_id" in r.get("message", {}) and str(r["message"]["chat_id"]) == str(self.chat_id)
        ]
        return [m for m in messages if m.update_id > since]

    async def wait_for_reply(
        self,
        match: str | Callable[[BotMessage], bool] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> BotMessage:
        """The first bot message in this chat since our last send that matches.

        ``match``: a substring of the text (raw or :attr:`BotMessage.visible_text`), a predicate,
        or None for any message.
        """

        def check(m: BotMessage) -> bool:
            if match is None:
                return True
            if isinstance(match, str):
                return match in (m.text or "") or match in m.visible_text
            return bool(match(m))

        async def probe() -> BotMessage | None:
            return next((m for m in await self.bot_messages(after=None) if check(m)), None)

        return await wait_until(probe, timeout=timeout, what=f"a bot reply matching {match!r}", client=self)

    async def wait_for_message_state(
        self,
        message_id: int,
        predicate: Callable[[BotMessage], bool],
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> BotMessage:
        """Message ``message_id`` once ``predicate`` holds for it (e.g. after the bot edited it)."""

        async def probe() -> BotMessage | None:
            for m in await self.bot_messages():
                if m.message_id == message_id and predicate(m):
                    return m
            return None

        return await wait_until(probe, timeout=timeout, what=f"message {message_id} to change", client=self)

    async def wait_for_callback_answer(
        self, match: str | None = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> dict[str, Any]:
        """The bot's newest answerCallbackQuery (toast/alert), optionally whose text contains ``match``."""

        async def probe() -> dict[str, Any] | None:
            answers = await self.callback_answers()
            hits = [a for a in answers if match is None or match in (a.get("text") or "")]
            return hits[-1] if hits else None

        return await wait_until(
            probe, timeout=timeout, what=f"a callback answer matching {match!r}", client=self
        )


def _command_entity(text: str) -> dict[str, Any]:
    command = text.split(maxsplit=1)[0] if text.strip() else text
    return {"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}


async def wait_until(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.05,
    what: str = "the condition",
    client: EmulatorClient | None = None,
) -> T:
    """Call ``probe`` until it returns something other than None/False, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            seen = ""
            if client is not None:
                seen = "\nbot messages in the chat: " + repr(
                    [(m.message_id, m.text) for m in await client.bot_messages()]
                )
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{seen}")
        await asyncio.sleep(interval)
