"""Refusing requests under a host name the server does not answer to, in JSON.

Starlette's ``TrustedHostMiddleware`` decides (a DNS-rebinding page reaches a loopback server
under its own name); its refusal is a plain-text 400, unlike every other error of the service.
:class:`TrustedHosts` keeps its rule and answers ``{"error": "bad_host", "detail": …}``, to a
WebSocket's opening request too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import JSONResponse


class TrustedHosts:
    """ASGI middleware: Starlette's host check with a JSON 400 refusal.

    Args:
        app: the application behind it.
        allowed_hosts: host names answered (``*.example.com`` patterns as in Starlette).
    """

    def __init__(self, app: Any, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.allowed_hosts = list(allowed_hosts)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        passed = False

        async def accepted(scope: dict[str, Any], receive: Any, _: Any) -> None:
            nonlocal passed
            passed = True
            await self.app(scope, receive, send)

        start: dict[str, Any] | None = None
        # a WebSocket is refused with an HTTP answer too ("websocket.http.response.*")
        prefix = "websocket." if scope["type"] == "websocket" else ""

        async def refusal(message: dict[str, Any]) -> None:
            nonlocal start
            if passed or scope["type"] not in ("http", "websocket"):
                await send(message)
            elif message["type"] == f"{prefix}http.response.start":
                start = message  # held: a 400 is answered in JSON instead
            elif start is not None and start["status"] == 400:
                host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
                detail = f"this server does not answer to the host name {host!r}"
                await JSONResponse({"error": "bad_host", "detail": detail}, 400)(
                    scope, receive, send
                )
            else:  # another answer (a www. redirect): as it was
                if start is not None:
                    await send(start)
                    start = None
                await send(message)

        guard = TrustedHostMiddleware(accepted, allowed_hosts=self.allowed_hosts)
        await guard(scope, receive, refusal)


__all__ = ["TrustedHosts"]
