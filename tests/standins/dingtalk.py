"""A local stand-in for DingTalk's OpenAPI and Stream gateway, started by tests on 127.0.0.1.

It speaks what duban uses, in the shapes DingTalk documents:
- POST /v1.0/oauth2/accessToken {appKey, appSecret} -> {accessToken, expireIn}; wrong credentials are refused.
- POST /v1.0/gateway/connections/open {clientId, clientSecret, subscriptions, ua, localIp}
  -> {endpoint, ticket}; the endpoint is this server's WebSocket.
- WS /connect?ticket=...: pushes Stream frames (SYSTEM ping, CALLBACK robot messages) and records the acks.
- POST /v1.0/robot/oToMessages/batchSend (header x-acs-dingtalk-access-token) {robotCode, userIds, msgKey,
  msgParam} -> {processQueryKey, invalidStaffIdList, flowControlledStaffIdList}; records what was sent. With
  `per_user_gap` set, a person sent to again sooner than that (by the injected `flow_clock`) is answered as
  flow-controlled and gets nothing (DingTalk publishes no figure; tests choose one).
- POST /v1.0/robot/messageFiles/download {downloadCode, robotCode} -> {downloadUrl}, and GET of that URL.
- POST /media/upload?access_token=... (the legacy host's media upload, multipart type=image + media) -> media_id,
  which a sampleImageMsg's photoURL must name.

It runs in a thread of its own (tests/standins/server.py) so the test's event loop (where the SDK client runs) stays free.
Tests wait for what the server saw with `await standin.next_sent()` / `next_ack()`, which block a worker thread,
never the loop.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import queue
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.standins.server import ThreadedServer

ROBOT_TOPIC = "/v1.0/im/bot/messages/get"
# msgKey -> the msgParam fields DingTalk requires for it
MSG_PARAM_FIELDS = {
    "sampleText": {"content"},
    "sampleMarkdown": {"title", "text"},
    "sampleImageMsg": {"photoURL"},
    "sampleActionCard": {"title", "text", "singleTitle", "singleURL"},
}
LEGACY_BAD_TOKEN = {"errcode": 40014, "errmsg": "不合法的access_token"}


@dataclass
class Recorded:
    tokens_issued: int = 0
    token_requests_refused: int = 0
    connections_opened: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)  # batchSend bodies, msgParam parsed
    sent_at: list[float] = field(default_factory=list)  # flow_clock() of each entry of `sent`
    flow_controlled: list[str] = field(default_factory=list)  # people answered as flow-controlled
    acks: list[dict[str, Any]] = field(default_factory=list)
    connections_accepted: int = 0  # WebSockets accepted, in all: a restarted client's is one more


class DingTalkStandIn:
    def __init__(
        self,
        *,
        client_id: str = "dingstandinapp",
        client_secret: str = "standin-secret",
        robot_code: str | None = None,
        staff: set[str] | None = None,
        token_ttl: int = 7200,
        per_user_gap: float | None = None,
        flow_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.robot_code = robot_code or client_id
        self.staff = staff if staff is not None else set()  # user ids batchSend accepts; others are invalid
        self.token_ttl = token_ttl
        self.per_user_gap, self.flow_clock = per_user_gap, flow_clock
        self._last_sent: dict[str, float] = {}
        self.recorded = Recorded()
        self.files: dict[str, bytes] = {}
        self.media: dict[str, bytes] = {}  # media_id -> uploaded image
        self.send_faults: list[tuple[int, dict[str, Any]]] = []  # answers for the next batchSend calls
        self._tokens: dict[str, float] = {}
        self._tickets: set[str] = set()
        self._socket: WebSocket | None = None
        self._connected = threading.Event()
        self._accepted = threading.Condition()
        self._robot_frames: dict[str, dict[str, Any]] = {}  # what push_robot_message pushed, by its messageId
        self._sent_queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._ack_queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._server: ThreadedServer | None = None
        self.url = ""

    # ---- life cycle -------------------------------------------------------------------------------------

    def start(self) -> str:
        self._server = ThreadedServer(self._app())
        self.url = self._server.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    # ---- what tests do ----------------------------------------------------------------------------------

    def revoke_tokens(self) -> None:
        """Every access token issued so far stops working (as when DingTalk rotates them early)."""
        self._tokens.clear()

    async def wait_connected(self, timeout: float = 5) -> None:
        if not await asyncio.to_thread(self._connected.wait, timeout):
            raise AssertionError("the client never opened the Stream WebSocket")

    async def wait_connections(self, count: int, timeout: float = 5) -> None:
        """Wait until `count` WebSockets were accepted in all, e.g. 2 after a client restarted."""

        def accepted() -> bool:
            with self._accepted:
                return self._accepted.wait_for(lambda: self.recorded.connections_accepted >= count, timeout)

        if not await asyncio.to_thread(accepted):
            raise AssertionError(
                f"the gateway accepted {self.recorded.connections_accepted} of {count} connections"
            )

    async def next_sent(self, timeout: float = 5) -> dict[str, Any]:
        return await asyncio.to_thread(self._sent_queue.get, True, timeout)

    async def next_ack(self, timeout: float = 5) -> dict[str, Any]:
        return await asyncio.to_thread(self._ack_queue.get, True, timeout)

    def push_frame(self, frame: dict[str, Any]) -> None:
        socket_ = self._socket
        loop = self._server.loop if self._server else None
        assert socket_ is not None and loop is not None, "no Stream connection"
        asyncio.run_coroutine_threadsafe(socket_.send_text(json.dumps(frame)), loop).result(5)

    def push_ping(self) -> str:
        opaque = uuid.uuid4().hex
        self.push_frame(
            self._frame("SYSTEM", "ping", json.dumps({"opaque": opaque}), message_id=uuid.uuid4().hex)
        )
        return opaque

    def push_robot_text(self, staff_id: str, text: str, *, nick: str = "测试用户") -> str:
        return self.push_robot_message(staff_id, {"msgtype": "text", "text": {"content": text}}, nick=nick)

    def push_robot_picture(self, staff_id: str, image: bytes) -> str:
        code = secrets.token_hex(8)
        self.files[code] = image
        return self.push_robot_message(staff_id, {"msgtype": "picture", "content": {"downloadCode": code}})

    def push_robot_message(self, staff_id: str, body: dict[str, Any], *, nick: str = "测试用户") -> str:
        """A one-to-one message to the robot, as DingTalk delivers it on the robot topic; returns its msgId."""
        message_id = uuid.uuid4().hex
        data = {
            "conversationId": f"cid-{staff_id}",
            "conversationType": "1",
            "chatbotCorpId": "dingcorp",
            "chatbotUserId": "$:LWCP_v1:$robot",
            "msgId": f"msg{message_id}",
            "senderNick": nick,
            "isAdmin": False,
            "senderStaffId": staff_id,
            "senderId": f"$:LWCP_v1:${staff_id}",
            "senderCorpId": "dingcorp",
            "sessionWebhook": f"{self.url}/robot/sendBySession?session=unused",
            "sessionWebhookExpiredTime": int(time.time() * 1000) + 5_400_000,
            "createAt": int(time.time() * 1000),
            "robotCode": self.robot_code,
            **body,
        }
        frame = self._frame("CALLBACK", ROBOT_TOPIC, json.dumps(data), message_id=message_id)
        self._robot_frames[message_id] = frame
        self.push_frame(frame)
        return message_id

    def redeliver(self, message_id: str) -> None:
        """Push a robot message again, the same frame, as DingTalk does when it did not get the ack (a restart, a
        dropped connection), to whichever connection is open now."""
        self.push_frame(self._robot_frames[message_id])

    # ---- the server ------------------------------------------------------------------------------------

    def _frame(self, kind: str, topic: str, data: str, *, message_id: str) -> dict[str, Any]:
        return {
            "specVersion": "1.0",
            "type": kind,
            "headers": {
                "appId": self.client_id,
                "connectionId": "standin-connection",
                "contentType": "application/json",
                "messageId": message_id,
                "time": str(int(time.time() * 1000)),
                "topic": topic,
            },
            "data": data,
        }

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1.0/oauth2/accessToken", self._access_token, methods=["POST"]),
                Route("/v1.0/gateway/connections/open", self._open_connection, methods=["POST"]),
                WebSocketRoute("/connect", self._connect),
                Route("/v1.0/robot/oToMessages/batchSend", self._batch_send, methods=["POST"]),
                Route("/v1.0/robot/messageFiles/download", self._download, methods=["POST"]),
                Route("/_files/{code}", self._file, methods=["GET"]),
                Route("/media/upload", self._upload, methods=["POST"]),
            ]
        )

    async def _access_token(self, request: Request) -> Response:
        body = await request.json()
        if body.get("appKey") != self.client_id or body.get("appSecret") != self.client_secret:
            self.recorded.token_requests_refused += 1
            return JSONResponse(
                {"code": "invalidClientIdOrSecret", "message": "无效的appKey或appSecret"}, 400
            )
        token = secrets.token_hex(16)
        self._tokens[token] = time.monotonic() + self.token_ttl
        self.recorded.tokens_issued += 1
        return JSONResponse({"accessToken": token, "expireIn": self.token_ttl})

    async def _open_connection(self, request: Request) -> Response:
        body = await request.json()
        if body.get("clientId") != self.client_id or body.get("clientSecret") != self.client_secret:
            return JSONResponse(
                {"code": "invalidClientIdOrSecret", "message": "clientId或clientSecret错误"}, 401
            )
        self.recorded.connections_opened.append(body)
        ticket = secrets.token_hex(16)
        self._tickets.add(ticket)
        ws_url = self.url.replace("http://", "ws://")
        return JSONResponse({"endpoint": f"{ws_url}/connect", "ticket": ticket})

    async def _connect(self, websocket: WebSocket) -> None:
        if websocket.query_params.get("ticket") not in self._tickets:
            await websocket.close(code=1008)
            return
        self._tickets.discard(websocket.query_params["ticket"])
        await websocket.accept()
        self._socket = websocket
        self._connected.set()
        with self._accepted:
            self.recorded.connections_accepted += 1
            self._accepted.notify_all()
        try:
            while True:
                ack = json.loads(await websocket.receive_text())
                self.recorded.acks.append(ack)
                self._ack_queue.put(ack)
        except WebSocketDisconnect:
            pass
        finally:
            if self._socket is websocket:
                self._socket = None
                self._connected.clear()

    def _token_ok(self, request: Request) -> bool:
        expires = self._tokens.get(request.headers.get("x-acs-dingtalk-access-token", ""))
        return expires is not None and expires > time.monotonic()

    async def _batch_send(self, request: Request) -> Response:
        if not self._token_ok(request):
            return JSONResponse({"code": "InvalidAuthentication", "message": "不合法的access_token"}, 401)
        body = await request.json()
        if self.send_faults:
            status, answer = self.send_faults.pop(0)
            return JSONResponse(answer, status)
        if body.get("robotCode") != self.robot_code:
            return JSONResponse(
                {"code": "invalidParameter.robotCode.auth", "message": "robotCode不匹配"}, 400
            )
        required = MSG_PARAM_FIELDS.get(body.get("msgKey", ""))
        try:
            param = json.loads(body.get("msgParam", ""))
        except ValueError:
            param = None
        if (
            required is None
            or not isinstance(param, dict)
            or not required <= param.keys()
            or (body.get("msgKey") == "sampleImageMsg" and param.get("photoURL") not in self.media)
        ):
            return JSONResponse({"code": "invalidParameter.msgParam.invalid", "message": "msgParam无效"}, 400)
        user_ids = list(body.get("userIds") or [])
        invalid = [u for u in user_ids if u not in self.staff]
        now = self.flow_clock()
        throttled = [
            u
            for u in user_ids
            if self.per_user_gap is not None and now - self._last_sent.get(u, -1e18) < self.per_user_gap
        ]
        self.recorded.flow_controlled += throttled
        self._last_sent.update({u: now for u in user_ids if u not in throttled})
        key = secrets.token_hex(8)
        if len(throttled) < len(user_ids):
            record = {
                **body,
                "userIds": [u for u in user_ids if u not in throttled],
                "msgParam": param,
                "processQueryKey": key,
            }
            self.recorded.sent.append(record)
            self.recorded.sent_at.append(now)
            self._sent_queue.put(record)
        return JSONResponse(
            {
                "processQueryKey": key,
                "invalidStaffIdList": invalid,
                "flowControlledStaffIdList": throttled,
            }
        )

    async def _download(self, request: Request) -> Response:
        if not self._token_ok(request):
            return JSONResponse({"code": "InvalidAuthentication", "message": "不合法的access_token"}, 401)
        body = await request.json()
        if body.get("downloadCode") not in self.files or body.get("robotCode") != self.robot_code:
            return JSONResponse({"code": "invalidParameter.downloadCode", "message": "downloadCode无效"}, 400)
        return JSONResponse({"downloadUrl": f"{self.url}/_files/{body['downloadCode']}"})

    async def _file(self, request: Request) -> Response:
        content = self.files.get(request.path_params["code"])
        return Response(content, 200) if content is not None else Response(b"", 404)

    async def _upload(self, request: Request) -> Response:
        """The legacy media upload: ?access_token=..., multipart form with type=image and the file as media."""
        expires = self._tokens.get(request.query_params.get("access_token", ""))
        if expires is None or expires <= time.monotonic():
            return JSONResponse(LEGACY_BAD_TOKEN)
        head = f"Content-Type: {request.headers.get('content-type', '')}\r\n\r\n".encode()
        form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + await request.body())
        fields = {part.get_param("name", header="content-disposition"): part for part in form.iter_parts()}
        media, kind = fields.get("media"), fields.get("type")
        if media is None or kind is None or kind.get_content().strip() != "image":
            return JSONResponse({"errcode": 40004, "errmsg": "不合法的媒体文件类型"})
        media_id = "@" + secrets.token_hex(8)
        self.media[media_id] = media.get_payload(decode=True)
        return JSONResponse({"errcode": 0, "errmsg": "ok", "type": "image", "media_id": media_id})
