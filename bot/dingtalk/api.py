"""DingTalk's OpenAPI, asynchronously: the app's access token, one-to-one robot messages, message files.

Our own client rather than the dingtalk-stream SDK's helpers: those are synchronous `requests` calls made inside
the event loop (they stall the Stream connection's pings and frames), read DINGTALK_OPENAPI_ENDPOINT once at
import, and keep a token DingTalk has refused. Every failure leaves here as one of the delivery errors the
dispatcher understands (scheduler/delivery.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from duban.redaction import keep_out_of_logs
from scheduler.delivery import (
    DeliveryError,
    MessageRejected,
    RecipientUnreachable,
    RetryLater,
    TransientFailure,
)

log = logging.getLogger(__name__)

TOKEN_PATH = "/v1.0/oauth2/accessToken"
BATCH_SEND_PATH = "/v1.0/robot/oToMessages/batchSend"
FILE_DOWNLOAD_PATH = "/v1.0/robot/messageFiles/download"
# images are uploaded to the legacy host (oapi.dingtalk.com), which takes the same access token as a query
# parameter; the SDK's own upload addresses it too (and ignores the endpoint variable)
MEDIA_UPLOAD_PATH = "/media/upload"
LEGACY_BAD_TOKEN_CODES = {40014, 42001}  # 不合法的access_token, access_token超时
# a token is refreshed this long before DingTalk says it expires (7200 s), so no send races its expiry
REFRESH_MARGIN_SECONDS = 300
# the codes DingTalk answers (400 or 401) when the access token itself is bad or expired
BAD_TOKEN_CODES = {"InvalidAuthentication", "InvalidAccessToken", "Forbidden.AccessDenied.AccessTokenExpired"}
# throttling: QPS limits per app and API ("...QpsLimit...", "Throttling...") and robot send limits
THROTTLE_MARKERS = ("qpslimit", "throttling", "flowcontrol", "too.fast", "toofast")
DEFAULT_RETRY_SECONDS = 2.0  # DingTalk's API limits are per second
FLOW_CONTROL_RETRY_SECONDS = 60.0  # a user flow-controlled by batchSend: try again in a minute


@dataclass(frozen=True)
class SendReceipt:
    process_query_key: str  # DingTalk's id of the send, for its read-status query


class DingTalkApi:
    """One app's OpenAPI client. Built once by the wiring; `aclose()` at shutdown."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        robot_code: str | None = None,
        base_url: str = "https://api.dingtalk.com",
        legacy_base_url: str = "https://oapi.dingtalk.com",
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_id, self._client_secret = client_id, client_secret
        self.robot_code = robot_code or client_id  # DingTalk's default RobotCode is the app's Client ID
        self.base_url = base_url.rstrip("/")
        self.legacy_base_url = legacy_base_url.rstrip("/")
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(10.0))
        self._clock = clock
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- the access token ---------------------------------------------------------------------------------

    async def access_token(self) -> str:
        """The cached token, fetched once by whoever needs it first when it is missing or about to expire."""
        async with self._token_lock:
            if self._token is None or self._clock() >= self._token_expires:
                self._token, self._token_expires = await self._fetch_token()
            return self._token

    def reset_token(self) -> None:
        self._token = None

    async def _fetch_token(self) -> tuple[str, float]:
        body = await self._post(
            TOKEN_PATH, {"appKey": self.client_id, "appSecret": self._client_secret}, token=None
        )
        token, expires_in = body.get("accessToken"), body.get("expireIn")
        if not isinstance(token, str) or not isinstance(expires_in, int):
            raise TransientFailure(f"DingTalk token answer without accessToken/expireIn: {sorted(body)}")
        keep_out_of_logs(token, self._client_secret)  # the legacy host takes it in the URL
        return token, self._clock() + max(expires_in - REFRESH_MARGIN_SECONDS, 0)

    # ---- calls --------------------------------------------------------------------------------------------

    async def send_to_user(self, user_id: str, msg_key: str, msg_param: dict[str, Any]) -> SendReceipt:
        """One robot message to one person (batchSend with one userId); their failure is this call's failure."""
        body = await self._authorised_post(
            BATCH_SEND_PATH,
            {
                "robotCode": self.robot_code,
                "userIds": [user_id],
                "msgKey": msg_key,
                "msgParam": json.dumps(msg_param, ensure_ascii=False),
            },
        )
        if user_id in (body.get("invalidStaffIdList") or []):
            raise RecipientUnreachable(f"DingTalk does not know user {user_id} (left, or not in this org)")
        if user_id in (body.get("flowControlledStaffIdList") or []):
            raise RetryLater(FLOW_CONTROL_RETRY_SECONDS, f"DingTalk flow-controlled user {user_id}")
        return SendReceipt(process_query_key=str(body.get("processQueryKey", "")))

    async def download(self, download_code: str) -> bytes:
        """The bytes of an image or file a user sent the robot (its downloadCode from the message)."""
        body = await self._authorised_post(
            FILE_DOWNLOAD_PATH, {"downloadCode": download_code, "robotCode": self.robot_code}
        )
        url = body.get("downloadUrl")
        if not isinstance(url, str):
            raise MessageRejected("DingTalk gave no downloadUrl")
        try:
            response = await self._http.get(url)
        except httpx.HTTPError as error:
            raise TransientFailure(f"download failed: {error!r}") from error
        if response.status_code != 200:
            raise TransientFailure(f"download answered {response.status_code}")
        return response.content

    async def upload_image(self, png: bytes) -> str:
        """A PNG (the digest chart) uploaded as media; returns the media_id a sampleImageMsg shows."""
        for attempt in (1, 2):
            token = await self.access_token()
            try:
                response = await self._http.post(
                    f"{self.legacy_base_url}{MEDIA_UPLOAD_PATH}",
                    params={"access_token": token},
                    data={"type": "image"},
                    files={"media": ("chart.png", png, "image/png")},
                )
            except httpx.HTTPError as error:
                raise TransientFailure(f"media upload: {error!r}") from error
            if response.status_code >= 500:
                raise TransientFailure(f"media upload answered {response.status_code}")
            try:
                body = response.json()
            except ValueError:
                body = {}
            if body.get("errcode") == 0 and isinstance(body.get("media_id"), str):
                return str(body["media_id"])
            if body.get("errcode") in LEGACY_BAD_TOKEN_CODES and attempt == 1:
                self.reset_token()
                continue
            raise MessageRejected(f"media upload refused: {body.get('errcode')} {body.get('errmsg', '')}")
        raise TransientFailure("DingTalk refused a fresh access token for the media upload")

    async def _authorised_post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A call with the token; a token DingTalk calls bad is dropped and the call made once more."""
        try:
            return await self._post(path, payload, token=await self.access_token())
        except _BadToken:
            self.reset_token()
        try:
            return await self._post(path, payload, token=await self.access_token())
        except _BadToken as error:
            raise TransientFailure(f"DingTalk refused a fresh access token: {error}") from error

    async def _post(self, path: str, payload: dict[str, Any], *, token: str | None) -> dict[str, Any]:
        headers = {"x-acs-dingtalk-access-token": token} if token else {}
        try:
            response = await self._http.post(f"{self.base_url}{path}", json=payload, headers=headers)
        except httpx.HTTPError as error:  # timeouts, refused connections, resets
            raise TransientFailure(f"{path}: {error!r}") from error
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code == 200:
            return body
        failure = delivery_error(response.status_code, body, response.headers.get("Retry-After"))
        log.warning("DingTalk %s answered %s: %s", path, response.status_code, failure)
        if path == TOKEN_PATH and not isinstance(failure, RetryLater):
            # no token, no message at all: the app's credentials are wrong, or DingTalk is down; either way
            # no message is at fault, so all are kept for later
            raise TransientFailure(f"DingTalk refused the app's access token request: {failure}") from failure
        raise failure


class _BadToken(DeliveryError):
    """The access token was refused; the caller fetches a new one (never reaches the dispatcher)."""


def delivery_error(status: int, body: dict[str, Any], retry_after: str | None = None) -> DeliveryError:
    """What a DingTalk error answer means for the message: the four failures the dispatcher understands."""
    code = str(body.get("code", ""))
    reason = f"{status} {code}: {body.get('message', '')}".strip()
    if code in BAD_TOKEN_CODES or (status == 401 and code in {"", "Unauthorized"}):
        return _BadToken(reason)
    if status == 429 or any(marker in code.lower() for marker in THROTTLE_MARKERS):
        seconds = float(retry_after) if retry_after and retry_after.isdigit() else DEFAULT_RETRY_SECONDS
        return RetryLater(seconds, reason)
    if status >= 500:
        return TransientFailure(reason)
    if status in (401, 403):
        # the app's credentials or permissions (e.g. qyapi_robot_sendmsg not granted): an operator must act,
        # and every message is affected alike, so keep them and back off rather than drop them
        return TransientFailure(reason)
    return MessageRejected(reason)
