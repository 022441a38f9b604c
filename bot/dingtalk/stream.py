"""Receiving from DingTalk in Stream mode: one outbound WebSocket, no public URL, no inbound port.

Built on the official dingtalk-stream SDK (its client, frames, callback handlers and ChatbotMessage), with the
SDK's known problems designed around (read from dingtalk-stream 0.24.3):
- its connection loop opens the connection with a synchronous `requests` call inside the event loop, to an
  endpoint read once at import: `run()` below opens it with our async client at the configured base URL;
- it logs every server ping as a warning: pings are answered quietly here;
- a callback topic with no handler is never acked, so DingTalk redelivers it: every frame is acked here;
- it looks up a local IP by opening a UDP socket towards 8.8.8.8: `local_ip` replaces that (tests pass one);
- websockets honours proxy variables even for loopback: a loopback gateway is reached without a proxy;
- its reply helpers are synchronous too: replies go through our own async OpenAPI client (api.py).
Incoming robot messages become plain `IncomingMessage` values for a handler that knows nothing of DingTalk.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, Protocol
from urllib.parse import quote_plus, urlsplit

import dingtalk_stream
import httpx
import websockets
from dingtalk_stream import AckMessage, CallbackMessage, ChatbotMessage, SystemMessage
from websockets.exceptions import WebSocketException

from duban.errors import ConfigurationError, Refused

log = logging.getLogger(__name__)

OPEN_CONNECTION_PATH = "/v1.0/gateway/connections/open"
RECONNECT_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)  # seconds; the last repeats
# the first connection is tried as Telegram's is (bot/telegram/process.py): 1+2+4+8+16 s, then the process stops and says why
START_ATTEMPTS = 6
FIRST_RETRY_SECONDS = 1.0
reconnect_pause: Callable[[float], Awaitable[object]] = asyncio.sleep  # tests put a recording fake here


class StreamState(Enum):
    """What the operator is told, once per change: not per try."""

    CONNECTED = "connected"  # the first connection
    LOST = "lost"
    BACK = "back"


class _GatewayRefused(Exception):
    """The gateway answered and said no (wrong Client ID or Secret): retrying at start changes nothing."""


# DingTalk redelivers an unacked frame with its messageId: this process hands it on once. Only a shortcut: across
# restarts and instances the message's msgId, stored with its effect, is what makes a redelivery a no-op
# (duban/services/inbound.py, through the command core)
SEEN_MESSAGE_IDS = 1000


@dataclass(frozen=True)
class IncomingMessage:
    """What a person sent the robot, as plain values."""

    message_id: str
    sender_staff_id: str | None  # the userId batchSend addresses; None for people outside the organisation
    sender_id: str  # DingTalk's opaque id of the sender in this app
    sender_nick: str
    conversation_id: str
    one_to_one: bool
    text: str  # "" for a picture or file
    download_code: str | None = None  # a picture or file the user sent, fetched with DingTalkApi.download
    file_name: str | None = None
    sender_corp_id: str = ""  # the organisation of the sender, and of the robot the message reached
    chatbot_corp_id: str = ""


class RobotMessageHandler(Protocol):
    async def __call__(self, incoming: IncomingMessage) -> None: ...


def incoming_from(data: dict[str, Any]) -> IncomingMessage:
    """A robot-topic callback's data, read with the SDK's ChatbotMessage (files are not parsed by the SDK)."""
    message = ChatbotMessage.from_dict(data)
    texts = (message.get_text_list() or []) if message.message_type in ("text", "richText") else []
    raw_content = data.get("content")
    content: dict[str, Any] = raw_content if isinstance(raw_content, dict) else {}
    download_code = content.get("downloadCode") if message.message_type in ("picture", "file") else None
    return IncomingMessage(
        message_id=str(message.message_id or ""),
        sender_staff_id=message.sender_staff_id or None,
        sender_id=str(message.sender_id or ""),
        sender_nick=str(message.sender_nick or ""),
        conversation_id=str(message.conversation_id or ""),
        one_to_one=str(message.conversation_type) == "1",
        text=" ".join(t for t in texts if t).strip(),
        download_code=download_code,
        file_name=content.get("fileName") if message.message_type == "file" else None,
        sender_corp_id=str(message.sender_corp_id or ""),
        chatbot_corp_id=str(message.chatbot_corp_id or ""),
    )


class _RobotCallback(dingtalk_stream.CallbackHandler):
    """The robot topic: hand the message on, then ack; a handler's failure is logged and still acked."""

    def __init__(self, on_message: RobotMessageHandler) -> None:
        super().__init__()
        self._on_message = on_message

    async def process(self, message: CallbackMessage) -> tuple[int, str]:
        try:
            await self._on_message(incoming_from(message.data))
        except Exception:  # one bad message must not stop the connection, nor come back forever
            log.exception("handling a DingTalk robot message failed")
        return AckMessage.STATUS_OK, "OK"


class StreamReceiver(dingtalk_stream.DingTalkStreamClient):
    """The Stream connection of one app; `await run()` until `stop()`."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        on_message: RobotMessageHandler,
        api_base: str = "https://api.dingtalk.com",
        http: httpx.AsyncClient | None = None,
        local_ip: Callable[[], str] | None = None,
        sleep: Callable[[float], Awaitable[object]] | None = None,
        on_state: Callable[[StreamState, str], None] | None = None,
        start_attempts: int = START_ATTEMPTS,
    ) -> None:
        super().__init__(dingtalk_stream.Credential(client_id, client_secret), logger=log)
        self.api_base = api_base.rstrip("/")
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(10.0))
        self._local_ip = local_ip
        self._sleep = sleep
        self.on_state = on_state  # the wiring says each change in one line
        self.start_attempts = start_attempts
        self.state: StreamState | None = None  # None until the first connection
        self.connected = asyncio.Event()  # set at the first connection
        self._stopping = asyncio.Event()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task[str]] = set()
        self.register_callback_handler(ChatbotMessage.TOPIC, _RobotCallback(on_message))

    def get_host_ip(self) -> str:
        return self._local_ip() if self._local_ip is not None else str(super().get_host_ip())

    async def open_connection_async(self) -> dict[str, Any]:
        """The SDK's open_connection request, made with our async client at the configured base URL; raises what
        went wrong (httpx.HTTPError; _GatewayRefused for a 4xx)."""
        subscriptions = [{"type": "CALLBACK", "topic": topic} for topic in self.callback_handler_map]
        body = {
            "clientId": self.credential.client_id,
            "clientSecret": self.credential.client_secret,
            "subscriptions": subscriptions,
            "ua": f"duban dingtalk-stream/{dingtalk_stream.version.VERSION_STRING}",
            "localIp": self.get_host_ip(),
        }
        response = await self._http.post(f"{self.api_base}{OPEN_CONNECTION_PATH}", json=body)
        if 400 <= response.status_code < 500:
            raise _GatewayRefused(f"{response.status_code} {response.text[:200]}")
        if response.status_code != 200:
            raise httpx.HTTPStatusError(
                f"{response.status_code} {response.text[:200]}", request=response.request, response=response
            )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if isinstance(answer, dict) and "endpoint" in answer and "ticket" in answer:
            return answer
        raise httpx.DecodingError(f"an answer without endpoint and ticket: {response.text[:200]}")

    async def run(self) -> None:
        """Connect, receive, reconnect with growing pauses; return once stop() is called.

        Before the first connection: `start_attempts` tries with a doubling wait, each logged, then Refused (the
        process stops with one line); credentials the gateway refuses are not retried. After it: every outage is
        retried for as long as it lasts, and `on_state` hears once that it began and once that it ended.
        """
        failures = 0
        while not self._stopping.is_set():
            try:
                connection = await self.open_connection_async()
                await self._receive(connection)
                # the gateway closed the connection (it asks clients to move now and then): routine, not an outage
                failures = 0
                if not self._stopping.is_set():
                    log.info("DingTalk Stream: the gateway closed the connection; reconnecting")
                    await self._pause(RECONNECT_DELAYS[0])
                continue
            except _GatewayRefused as refusal:
                if self.state is None:
                    raise ConfigurationError(
                        "DingTalk refused DUBAN_DINGTALK_CLIENT_ID and DUBAN_DINGTALK_CLIENT_SECRET ({reason}); "
                        "copy both from the app's page in the DingTalk developer console",
                        reason=str(refusal),
                    ) from None
                reason = str(refusal)  # a secret rotated under a running process: said, and retried
            except (OSError, httpx.HTTPError, WebSocketException) as error:
                reason = str(error) or type(error).__name__
            except (
                Exception
            ) as error:  # anything else: logged, then reconnect; the channel outlives one bad frame
                log.exception("DingTalk Stream connection failed")
                reason = type(error).__name__
            if self._stopping.is_set():
                break
            failures += 1
            if self.state is None:
                if failures >= self.start_attempts:
                    raise Refused(
                        "Cannot reach the DingTalk Stream gateway after {attempts} tries ({reason}); check the "
                        "network (HTTPS and WSS to api.dingtalk.com) or DUBAN_DINGTALK_API_BASE",
                        attempts=failures,
                        reason=reason,
                    )
                delay = FIRST_RETRY_SECONDS * 2 ** (failures - 1)
                log.warning(
                    "DingTalk Stream gateway not reachable (%s); try %d of %d, next in %g s",
                    reason,
                    failures,
                    self.start_attempts,
                    delay,
                )
            else:
                if self.state is not StreamState.LOST:
                    self._change(StreamState.LOST, reason)
                delay = RECONNECT_DELAYS[min(failures - 1, len(RECONNECT_DELAYS) - 1)]
                log.info("DingTalk Stream: next try in %g s (%s)", delay, reason)
            await self._pause(delay)
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _change(self, state: StreamState, reason: str = "") -> None:
        self.state = state
        if state is StreamState.CONNECTED:
            self.connected.set()
        if self.on_state is not None:
            self.on_state(state, reason)

    async def stop(self) -> None:
        self._stopping.set()
        if self.websocket is not None:
            await self.websocket.close()

    async def _pause(self, seconds: float) -> None:
        stop_waiter = asyncio.ensure_future(self._stopping.wait())
        sleeper = asyncio.ensure_future((self._sleep or reconnect_pause)(seconds))
        await asyncio.wait([stop_waiter, sleeper], return_when=asyncio.FIRST_COMPLETED)
        for future in (stop_waiter, sleeper):
            future.cancel()

    async def _receive(self, connection: dict[str, Any]) -> None:
        uri = f"{connection['endpoint']}?ticket={quote_plus(connection['ticket'])}"
        host = urlsplit(connection["endpoint"]).hostname or ""
        proxy: Literal[True] | None = None if host in ("127.0.0.1", "localhost", "::1") else True
        async with websockets.connect(uri, proxy=proxy) as websocket:
            self.websocket: websockets.ClientConnection | None = websocket
            if (
                self._stopping.is_set()
            ):  # stop() came while this connection was being opened: it saw no socket
                return
            if self.state is None:
                self._change(StreamState.CONNECTED)
            elif self.state is StreamState.LOST:
                self._change(StreamState.BACK)
            try:
                async for raw in websocket:
                    try:
                        frame = json.loads(raw)
                    except ValueError:
                        log.warning("DingTalk sent a frame that is not JSON; ignored")
                        continue
                    task = asyncio.create_task(self.route_message(frame))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            finally:
                self.websocket = None

    async def route_message(self, json_message: dict[str, Any]) -> str:
        """Every frame is acked: pings quietly, the robot topic after its handler, anything else as 404."""
        kind = json_message.get("type", "")
        headers = json_message.get("headers") or {}
        result = ""
        if kind == SystemMessage.TYPE:
            message = SystemMessage.from_dict(json_message)
            ack = await self.system_handler.raw_process(message)
            if message.headers.topic == SystemMessage.TOPIC_DISCONNECT:
                result = self.TAG_DISCONNECT
        elif kind == CallbackMessage.TYPE and self._first_time(headers.get("messageId", "")):
            message = CallbackMessage.from_dict(json_message)
            handler = self.callback_handler_map.get(message.headers.topic)
            if handler is not None:
                ack = await handler.raw_process(message)
            else:
                ack = self._not_handled(headers)
        else:  # an event (we subscribe to none), a redelivered callback, or an unknown frame type
            ack = AckMessage()
            ack.headers.message_id = headers.get("messageId", "")
            ack.headers.content_type = "application/json"
        websocket = self.websocket
        if websocket is not None:
            await websocket.send(json.dumps(ack.to_dict()))
            if result == self.TAG_DISCONNECT:
                await websocket.close()  # the gateway asks us to reconnect elsewhere
        return result

    def _not_handled(self, headers: dict[str, Any]) -> AckMessage:
        log.info("DingTalk topic %s has no handler; acked as not implemented", headers.get("topic"))
        ack = AckMessage()
        ack.code = AckMessage.STATUS_NOT_IMPLEMENT
        ack.headers.message_id = headers.get("messageId", "")
        ack.headers.content_type = "application/json"
        ack.message = "not implemented"
        return ack

    def _first_time(self, message_id: str) -> bool:
        if not message_id:
            return True
        if message_id in self._seen:
            return False
        self._seen[message_id] = None
        if len(self._seen) > SEEN_MESSAGE_IDS:
            self._seen.popitem(last=False)
        return True
