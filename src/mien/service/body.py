"""Reading a request's body before the app does: caps on bytes, time and concurrent uploads.

Starlette's multipart parser spools a whole upload (to disk past 1 MB) before the endpoint can
refuse it, and waits as long as a client keeps the connection open. :class:`BodyGuard` reads
the body first, with the declared ``Content-Length`` checked before any byte: a body over the
cap gets 413 at once, a client that sends nothing for ``timeout_s`` or takes longer than
``4 × timeout_s`` in all gets 408, more than ``max_concurrent`` bodies being read at once get
503 once their body has been read and dropped, for at most :data:`DRAIN_S` seconds (so memory
stays under ``max_concurrent × max_bytes``, and the client, done sending, sees the reply), and
the app is handed the body from memory. Only ``POST`` requests are guarded (WebSocket frames
are not).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

MULTIPART_SLACK = 64 * 1024
"""Bytes allowed on top of the file cap for the multipart envelope (boundaries, headers)."""

DRAIN_S = 5.0
"""The longest a refused (busy) upload is read before its 503 is sent anyway, seconds."""

BODY_KEY = "mien.body"
"""The ``scope`` key under which :class:`BodyGuard` leaves the body it read (bytes)."""

Scope = dict[str, Any]


def too_large_text(limit_bytes: int) -> str:
    """The ``too_large`` refusal's detail: ``"upload exceeds 10 MB (10485760 bytes; mien
    serve --max-upload-mb sets it)"`` (MB of 1024 × 1024 bytes, as the option counts)."""
    mb = f"{limit_bytes / (1024 * 1024):.2f}".rstrip("0").rstrip(".")  # 1.91, 10, 1000
    return f"upload exceeds {mb} MB ({limit_bytes} bytes; mien serve --max-upload-mb sets it)"


Message = dict[str, Any]


async def _reply(
    send: Any, status: int, error: str, detail: str, extra: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyGuard:
    """ASGI middleware: a ``POST`` body is read whole, within ``max_bytes``, with at most
    ``timeout_s`` seconds between chunks and ``4 × timeout_s`` in all, before the app sees it.

    Args:
        app: the ASGI app behind.
        max_bytes: largest body accepted (bytes); larger gets 413 ``too_large``.
        timeout_s: longest wait for the next chunk (seconds); longer, or a body that takes
            more than four times this in all, gets 408 ``timeout``.
        max_concurrent: bodies read at once; one more gets 503 ``busy`` with ``Retry-After``.
        counts: a dict whose ``"uploading"`` this keeps at the number of bodies being read
            (the service's state, so that ``/v1/health`` can tell).
    """

    def __init__(
        self,
        app: Any,
        *,
        max_bytes: int,
        timeout_s: float,
        max_concurrent: int = 8,
        counts: dict[str, Any] | None = None,
    ) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s
        self.max_concurrent = max_concurrent
        self._counts = {} if counts is None else counts
        self._counts["uploading"] = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        too_large = too_large_text(self.max_bytes - MULTIPART_SLACK)
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _reply(send, 413, "too_large", too_large)
            return
        if self._counts["uploading"] >= self.max_concurrent:
            # the body is read and dropped first (within the same caps): a reply sent while the
            # client is still sending is lost when the socket closes on unread data (a burst
            # of 20 uploads: 12 clients saw a reset, not the 503)
            if await self._drain(receive):
                busy = f"{self.max_concurrent} uploads in progress; retry shortly"
                await _reply(send, 503, "busy", busy, ((b"retry-after", b"1"),))
            return
        self._counts["uploading"] += 1
        try:
            body = await self._read(receive, send, too_large)
        finally:
            self._counts["uploading"] -= 1
        if body is None:
            return
        scope[BODY_KEY] = body  # for error messages that need it after the form was parsed
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as Starlette does

        await self.app(scope, replay, send)

    async def _drain(self, receive: Any) -> bool:
        """Read the body and drop it, at most ``max_bytes`` and :data:`DRAIN_S` seconds (a
        client trickling its body gets the reply then, not after ``4 × timeout_s``); ``False``
        when the client went away."""
        size, deadline = 0, time.monotonic() + min(4 * self.timeout_s, DRAIN_S)
        while size <= self.max_bytes:
            wait = min(self.timeout_s, deadline - time.monotonic())
            if wait <= 0:
                return True
            try:
                message = await asyncio.wait_for(receive(), wait)
            except TimeoutError:
                return True  # a stalled client gets the reply now
            if message["type"] == "http.disconnect":
                return False
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                return True
        return True

    async def _read(self, receive: Any, send: Any, too_large: str) -> bytes | None:
        """The whole body, or ``None`` after answering 408/413 (or on a disconnect)."""
        chunks, size = [], 0
        deadline = time.monotonic() + 4 * self.timeout_s
        while True:
            wait = min(self.timeout_s, deadline - time.monotonic())
            try:
                message = await asyncio.wait_for(receive(), max(wait, 0.0))
            except TimeoutError:
                slow = time.monotonic() >= deadline - 1e-3
                detail = (
                    f"the upload took more than {4 * self.timeout_s:g} s"
                    if slow
                    else f"no upload data for {self.timeout_s:g} s"
                )
                await _reply(send, 408, "timeout", detail)
                return None
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await _reply(send, 413, "too_large", too_large)
                return None
            if not message.get("more_body", False):
                return b"".join(chunks)
