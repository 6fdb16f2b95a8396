"""Reading a request's body before the app does: a cap in bytes and a deadline per chunk.

Starlette's multipart parser spools a whole upload (to disk past 1 MB) before the endpoint can
refuse it, and waits as long as a client keeps the connection open. :class:`BodyGuard` reads
the body first, with the declared ``Content-Length`` checked before any byte: a body over the
cap gets 413 at once, a client that sends nothing for ``timeout_s`` gets 408, and the app is
handed the body from memory. Only ``POST`` requests are guarded (WebSocket frames are not).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

MULTIPART_SLACK = 64 * 1024
"""Bytes allowed on top of the file cap for the multipart envelope (boundaries, headers)."""

Scope = dict[str, Any]
Message = dict[str, Any]


async def _reply(send: Any, status: int, error: str, detail: str) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyGuard:
    """ASGI middleware: a ``POST`` body is read whole, within ``max_bytes`` and with at most
    ``timeout_s`` seconds between chunks, before the app sees it.

    Args:
        app: the ASGI app behind.
        max_bytes: largest body accepted (bytes); larger gets 413 ``too_large``.
        timeout_s: longest wait for the next chunk (seconds); longer gets 408 ``timeout``.
    """

    def __init__(self, app: Any, *, max_bytes: int, timeout_s: float) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        too_large = f"upload exceeds {self.max_bytes - MULTIPART_SLACK} bytes"
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _reply(send, 413, "too_large", too_large)
            return
        chunks, size = [], 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                await _reply(send, 408, "timeout", f"no upload data for {self.timeout_s:g} s")
                return
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await _reply(send, 413, "too_large", too_large)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as Starlette does

        await self.app(scope, replay, send)
