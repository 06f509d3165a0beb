"""A cap on every request body, whichever endpoint reads it and however it is sent."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exchange.config import get_settings
from exchange.errors import PROBLEM_JSON, PROBLEM_TYPE_BASE, BodyTooLarge


def body_limit(path: str) -> int:
    """The largest body accepted on a path (documents have their own, larger limit)."""
    settings = get_settings()
    if path.endswith("/documents"):
        return max(settings.max_request_bytes, settings.max_document_bytes)
    return settings.max_request_bytes


class BodyLimitMiddleware:
    """413 before reading when Content-Length is over the limit; otherwise counts as it reads."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(scope, send, f"The body is {int(declared)} bytes; the limit is {limit}.")
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(
                        f"The body is over the limit of {limit} bytes.",
                        fix="Send a smaller body; large exports go through transfer jobs in parts.",
                    )
            return message

        await self.app(scope, counted, send)


async def _refuse(scope: Scope, send: Send, detail: str) -> None:
    state = scope.get("state") or {}
    body = {
        "type": PROBLEM_TYPE_BASE + "body-too-large",
        "title": "Body too large",
        "status": 413,
        "detail": detail,
        "instance": scope["path"],
        "code": "body-too-large",
        "fix": "Send a smaller body; large exports go through transfer jobs in parts.",
    }
    if state.get("request_id"):
        body["request_id"] = state["request_id"]
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
