"""Cross-cutting HTTP concerns: request ids and access logs, API keys, rate-limit identity.

Built on Litestar's own pieces (``ASGIMiddleware``, guards, ``before_send`` hooks and
``RateLimitConfig``); only the policy is written here.
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("service.access")

REQUEST_ID = "X-Request-ID"


def _state(scope: Scope) -> dict[str, Any]:
    return scope.setdefault("state", {})  # type: ignore[typeddict-item]


def request_id(scope: Scope) -> str:
    """The request's id: the client's X-Request-ID if it sent a sane one, else a new one."""
    state = _state(scope)
    if "request_id" not in state:
        sent = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        state["request_id"] = sent if 0 < len(sent) <= 128 and sent.isprintable() else uuid.uuid4().hex
    return state["request_id"]


class RequestTiming(ASGIMiddleware):
    """Notes when each request started, for the access log."""

    scopes = ("http",)  # type: ignore[assignment]

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        _state(scope)["started"] = time.perf_counter()
        request_id(scope)
        await next_app(scope, receive, send)


async def echo_request_id_and_log(message: Message, scope: Scope) -> None:
    """``before_send`` hook: every response carries X-Request-ID and leaves one JSON log line.

    Only metadata is logged: never the article text.
    """
    if message["type"] != "http.response.start" or scope["type"] != "http":
        return
    rid = request_id(scope)
    message.setdefault("headers", [])
    message["headers"] = [*message["headers"], (REQUEST_ID.lower().encode(), rid.encode("latin-1"))]  # type: ignore[typeddict-item]
    started = _state(scope).get("started")
    client = scope.get("client")
    access_log.info(
        "request",
        extra={
            "request_id": rid,
            "method": scope.get("method"),
            "path": scope.get("path"),
            "status": message["status"],
            "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
            "client": client[0] if client else None,
        },
    )


def api_key_of(connection: ASGIConnection) -> str | None:
    """The key sent as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'."""
    authorization = connection.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return connection.headers.get("x-api-key")


def require_api_key(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard: when API keys are configured, the request must carry one of them."""
    keys: list[str] = connection.app.state.settings.api_keys
    if not keys:
        return
    sent = api_key_of(connection) or ""
    # Compare against every key, in constant time, so timing tells nothing about near misses.
    matches = [hmac.compare_digest(sent.encode(), key.encode()) for key in keys]
    if not any(matches):
        raise NotAuthorizedException(
            detail="a valid API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
            headers={"WWW-Authenticate": "Bearer"},
        )


def rate_limit_identity(request: Request) -> str:
    """Rate limits count per API key when one is sent, else per client address."""
    key = api_key_of(request)
    if key:
        return "key:" + hmac.new(b"rate-limit", key.encode(), "sha256").hexdigest()
    return "ip:" + (request.client.host if request.client else "unknown")
