"""A deadline for a request's headers: uvicorn's HTTP/1.1 protocol (h11) with one timer more.

uvicorn times out only an idle keep-alive connection, and resets that timer on every byte: a
client that sends a request's first line and never finishes its headers (or trickles them a
byte at a time, "Slowloris") held its connection for ever, and a few hundred such clients hold
as many sockets. :class:`~mien.service.body.BodyGuard` cannot help: an ASGI middleware runs
only once the headers are complete. :func:`header_deadline_protocol` gives a protocol class
that closes a connection whose request headers are not complete ``deadline_s`` after it opened
or after its previous response; the body is BodyGuard's (its stall and total deadlines), and a
WebSocket, once upgraded, is not timed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class _HeaderDeadline(H11Protocol):
    """:class:`H11Protocol` closing a connection whose headers take longer than
    ``deadline_s`` (a class attribute, set by :func:`header_deadline_protocol`)."""

    deadline_s: float = 30.0
    _header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.deadline_s, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.debug("request headers not complete in %.1f s: closed", self.deadline_s)
            self.transport.close()

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the headers are in: the body is timed apart
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()  # the next request on this connection has its own deadline

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._disarm()
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def header_deadline_protocol(deadline_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol class (pass it as ``uvicorn.run(..., http=...)``) closing a
    connection whose request headers are not complete within ``deadline_s`` seconds of its
    opening or of its previous response.

    Raises:
        ValueError: ``deadline_s`` is not a number > 0.
    """
    if not deadline_s > 0:
        raise ValueError(f"deadline_s must be > 0; got {deadline_s!r}")
    return type("HeaderDeadlineProtocol", (_HeaderDeadline,), {"deadline_s": float(deadline_s)})


__all__ = ["header_deadline_protocol"]
