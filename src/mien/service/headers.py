"""Security headers on every HTTP answer of the service.

Every answer says ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` and
that no other site may show it in a frame (``X-Frame-Options: DENY``, CSP
``frame-ancestors 'none'``: a page of another site framing mien's could trick a user into
starting the camera). The page at ``/`` also gets :data:`PAGE_POLICY`, which lets it load and
reach only its own origin; ``/docs`` (Swagger UI starts from an inline script) gets the
frame rule alone.
"""

from __future__ import annotations

import re
from typing import Any

FRAME_POLICY = "frame-ancestors 'none'"
"""The Content-Security-Policy of every answer but the page's."""
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'{sockets}; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
"""The page's Content-Security-Policy: its script, style and the service's API only (the
photo shown is a ``blob:`` URL; the camera a ``MediaStream``, which needs no source).
``{sockets}``: `` ws://HOST wss://HOST`` for the request's own host, for browsers whose
``'self'`` does not cover WebSockets (Safari before 16)."""
PAGE_PATHS = frozenset({"/", "/static/index.html"})
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]+)?|\[[0-9A-Fa-f:.]+\](:[0-9]+)?")


def page_policy(host: str) -> str:
    """:data:`PAGE_POLICY` for a page served under ``host`` (the ``Host`` header); one that
    is not a plain host name or address (with a port) adds no socket source."""
    sockets = f" ws://{host} wss://{host}" if _HOST.fullmatch(host) else ""
    return PAGE_POLICY.format(sockets=sockets)


class SecurityHeaders:
    """ASGI middleware adding the headers above to each HTTP answer (not to WebSockets).

    Args:
        app: the application behind it.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = FRAME_POLICY
        if scope.get("path") in PAGE_PATHS:
            host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            policy = page_policy(host)

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                for name, value in (
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"content-security-policy", policy.encode()),
                ):
                    if name not in present:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


__all__ = ["FRAME_POLICY", "PAGE_POLICY", "SecurityHeaders", "page_policy"]
