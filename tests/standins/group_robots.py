"""Stand-ins for the three group-robot webhooks, strict about each platform's signature and payload shape.

- DingTalk custom robot: POST /robot/send?access_token=T[&timestamp=ms&sign=S]; with a secret, S must be
  urlsafe-decoded base64(HmacSHA256(secret, f"{timestamp}\\n{secret}")) and the timestamp within an hour.
  Errors as DingTalk answers them: 300001 token is not exist, 310000 sign not match, 130101 send too fast.
- WeCom group robot: POST /cgi-bin/webhook/send?key=K; markdown content at most 4096 bytes, or an image as
  base64 with its MD5; 93000 invalid webhook url, 40058 content too long.
- Feishu custom bot: POST /open-apis/bot/v2/hook/T with {timestamp, sign} in the body when a secret is set:
  sign = base64(HmacSHA256(key=f"{timestamp}\\n{secret}", msg="")); 19001 token invalid, 19021 sign mismatch.
Every accepted message is recorded per platform.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections import defaultdict
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.standins.server import ThreadedServer


class GroupRobotStandIn:
    def __init__(self, *, wall_clock: Any = time.time) -> None:
        self.dingtalk: dict[str, str | None] = {}  # access_token -> secret (None: no signing)
        self.wecom_keys: set[str] = set()
        self.feishu: dict[str, str | None] = {}  # hook token -> secret
        self.received: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.too_fast: set[str] = set()  # DingTalk tokens answering 130101
        self.wall_clock = wall_clock
        self._server = ThreadedServer(
            Starlette(
                routes=[
                    Route("/robot/send", self._dingtalk, methods=["POST"]),
                    Route("/cgi-bin/webhook/send", self._wecom, methods=["POST"]),
                    Route("/open-apis/bot/v2/hook/{token}", self._feishu, methods=["POST"]),
                ]
            )
        )
        self.url = ""

    def start(self) -> str:
        self.url = self._server.start()
        return self.url

    def stop(self) -> None:
        self._server.stop()

    async def _dingtalk(self, request: Request) -> Response:
        token = request.query_params.get("access_token", "")
        if token not in self.dingtalk:
            return JSONResponse({"errcode": 300001, "errmsg": "token is not exist"})
        secret = self.dingtalk[token]
        if secret is not None:
            timestamp = request.query_params.get("timestamp", "")
            expected = base64.b64encode(
                hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
            ).decode()
            fresh = timestamp.isdigit() and abs(int(timestamp) / 1000 - self.wall_clock()) < 3600
            if not fresh or request.query_params.get("sign") != expected:
                return JSONResponse({"errcode": 310000, "errmsg": "sign not match"})
        if token in self.too_fast:
            return JSONResponse({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
        body = await request.json()
        markdown = body.get("markdown") or {}
        if body.get("msgtype") != "markdown" or not {"title", "text"} <= markdown.keys():
            return JSONResponse({"errcode": 40035, "errmsg": "缺少参数 json"})
        self.received["dingtalk"].append(body)
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def _wecom(self, request: Request) -> Response:
        if request.query_params.get("key") not in self.wecom_keys:
            return JSONResponse({"errcode": 93000, "errmsg": "invalid webhook url"})
        body = await request.json()
        if body.get("msgtype") == "image":
            image = body.get("image") or {}
            data = base64.b64decode(image.get("base64", ""))
            if hashlib.md5(data).hexdigest() != image.get("md5") or len(data) > 2 * 1024 * 1024:
                return JSONResponse({"errcode": 40009, "errmsg": "invalid image size"})
            self.received["wecom"].append(body)
            return JSONResponse({"errcode": 0, "errmsg": "ok"})
        content = (body.get("markdown") or {}).get("content")
        if body.get("msgtype") != "markdown" or not isinstance(content, str):
            return JSONResponse({"errcode": 40008, "errmsg": "invalid message type"})
        if len(content.encode()) > 4096:
            return JSONResponse({"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"})
        self.received["wecom"].append(body)
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def _feishu(self, request: Request) -> Response:
        token = request.path_params["token"]
        if token not in self.feishu:
            return JSONResponse(
                {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}
            )
        body = await request.json()
        secret = self.feishu[token]
        if secret is not None:
            timestamp = str(body.get("timestamp", ""))
            expected = base64.b64encode(
                hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
            ).decode()
            fresh = timestamp.isdigit() and abs(int(timestamp) - self.wall_clock()) < 3600
            if not fresh or body.get("sign") != expected:
                return JSONResponse(
                    {
                        "code": 19021,
                        "msg": "sign match fail or timestamp is not within one hour from current time",
                    }
                )
        if body.get("msg_type") != "text" or not isinstance((body.get("content") or {}).get("text"), str):
            return JSONResponse({"code": 9499, "msg": "Bad Request"})
        self.received["feishu"].append(body)
        return JSONResponse({"code": 0, "msg": "success", "data": {}})
