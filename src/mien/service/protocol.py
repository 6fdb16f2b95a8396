"""A deadline for a request's headers: uvicorn's HTTP/1.1 protocol (h11) with one timer more.

uvicorn times out only an idle keep-alive connection, and resets that timer on every byte: a
client that sends a request's first line and never finishes its headers (or trickles them a
byte at a time, "Slowloris") held its connection for ever, and a few hundred such clients hold
as many sockets. :class:`~mien.service.body.BodyGuard` cannot help: an ASGI middleware runs
only once the headers are complete. :func:`header_deadline_protocol` gives a protocol class
that closes a connection whose request headers are not complete ``deadline_s`` after it opened
or after its previous response (or whose client is still sending a body the app answered
without reading, a GET with a body, say); a body the app is reading is BodyGuard's (its stall
and total deadlines), and a WebSocket, once upgraded, is not timed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class _HeaderDeadline(H11Protocol):
    """:class:`H11Protocol` closing a connection that owes a request's headers (or the rest
    of a body the app answered without reading) for longer than ``deadline_s`` (a class
    attribute, set by :func:`header_deadline_protocol`)."""

    deadline_s: float = 30.0
    _header_timer: asyncio.TimerHandle | None = None
    _upgraded = False  # a WebSocket now: never timed

    def _arm(self) -> None:
        self._disarm()
        if self._upgraded:
            return
        self._header_timer = self.loop.call_later(self.deadline_s, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _app_has_it(self) -> bool:
        """A request whose headers are in and whose response is not complete: its body, if
        any, is the app's (and BodyGuard's) to time."""
        return (
            self.conn.their_state is not h11.IDLE
            and self.cycle is not None
            and not self.cycle.response_complete
        )

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self._app_has_it() and not self.transport.is_closing():
            self.logger.debug("request not complete in %.1f s: connection closed", self.deadline_s)
            self.transport.close()

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._app_has_it():
            self._disarm()
        elif self._header_timer is None and not self.transport.is_closing():
            # the rest of a body answered early has ended, or a new request begins: the
            # next headers are owed from now
            self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            # the next request (or the rest of a body the app answered without reading) has
            # its own deadline
            self._arm()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._upgraded = True
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
