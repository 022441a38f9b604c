"""Webhook mode: a small Starlette app in front of the Application, with /healthz for the proxy and monitors.

Several instances behind a proxy all receive updates this way (only one process may poll a token: Telegram
answers a second poller with 409 Conflict). Telegram signs each call with the secret token we registered.
"""

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PATH = "/telegram"


def derive_secret(token: str) -> str:
    """A stable secret every instance of one bot agrees on, when none is configured (Telegram allows [A-Za-z0-9_-])."""
    return hmac.new(token.encode(), b"duban-webhook", hashlib.sha256).hexdigest()


def health_endpoint(
    health: Callable[[], dict[str, Any]], secret: str | None
) -> Callable[[Request], Awaitable[JSONResponse]]:
    """/healthz: ok or degraded for anyone (a load balancer, a container's health check); the details (errors,
    instance name, channels) only to a caller that sends the secret in Telegram's header. Served in every mode of
    `duban run` that listens (webhook, or polling and DingTalk Stream with --web-listen or --listen)."""

    def signed(request: Request) -> bool:
        if secret is None:
            return False
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, secret.encode())

    async def healthz(request: Request) -> JSONResponse:
        state = health()
        ok = state.get("database") == "ok" and state.get("scheduler") == "running"
        body = state if signed(request) else {"status": "ok" if ok else "degraded"}
        return JSONResponse(body, status_code=HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE)

    return healthz


def webhook_app(
    application: Application,
    *,
    secret: str,
    health: Callable[[], dict[str, Any]],
) -> Starlette:
    def signed(request: Request) -> bool:
        # bytes, not str: compare_digest raises TypeError on a non-ASCII str, which answered 500
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, secret.encode())

    async def telegram(request: Request) -> Response:
        if not signed(request):
            return Response(status_code=HTTPStatus.FORBIDDEN)
        try:
            payload = await request.json()
            update = Update.de_json(payload, application.bot)
        except (json.JSONDecodeError, ValueError, TypeError, KeyError):
            log.warning("webhook body was not an Update")
            return Response(status_code=HTTPStatus.BAD_REQUEST)
        await application.update_queue.put(update)
        return Response()

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, telegram, methods=["POST"]),
            Route("/healthz", health_endpoint(health, secret), methods=["GET"]),
        ]
    )
