"""``mien serve``: the HTTP API and web page (FastAPI + uvicorn)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from mien.cli.common import (
    DetectorMode,
    MinUpright,
    ModelName,
    Weights,
    check_weights,
    err,
    fail,
    quiet_native_stderr,
)
from mien.weights import DEFAULT_MODEL


def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind (loopback unless you choose otherwise).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Analyzers working in parallel.")] = 2,
    max_inflight: Annotated[
        int, typer.Option(min=1, help="Requests admitted at once; more get 503.")
    ] = 8,
    max_streams: Annotated[
        int,
        typer.Option(
            min=1, help="Live stream connections open at once; more are closed (code 1013)."
        ),
    ] = 8,
    max_upload_mb: Annotated[
        float,
        typer.Option(min=0.01, max=1024, help="Largest upload, MiB (each is held in memory)."),
    ] = 10.0,
    timeout: Annotated[float, typer.Option(min=0.1, help="Per-request timeout, seconds.")] = 30.0,
    max_pixels: Annotated[
        int,
        typer.Option(min=1, help="Largest image or stream frame, in pixels (bomb guard; 413)."),
    ] = 40_000_000,
    model: ModelName = DEFAULT_MODEL,
    weights: Weights = None,
    detector: DetectorMode = "auto",
    min_upright: MinUpright = 0.5,
    access_log: Annotated[
        bool,
        typer.Option(
            help="Log each request's client address, path and status (uvicorn's access log). "
            "Off by default: client addresses and query strings are personal data."
        ),
    ] = False,
) -> None:
    """Serve the API (OpenAPI at /docs) and the web page at /. Nothing is stored."""
    import uvicorn

    from mien.detection.mediapipe import DETECTOR_MODELS
    from mien.service import ServiceSettings, create_app
    from mien.service.protocol import header_deadline_protocol

    check_weights(model, weights)
    if detector not in DETECTOR_MODELS:  # before the models load
        fail(f"--detector must be one of {list(DETECTOR_MODELS)}; got {detector!r}")
    if mapped := _ipv4_mapped(host):  # IPv6 sockets here are IPv6-only: uvicorn failed (22)
        fail(f"--host {host}: an IPv4-mapped address cannot be bound; use {mapped}")
    if problem := _cannot_listen(host, port):  # before the models load (seconds), not after
        fail(f"--host {host} --port {port}: cannot listen there ({problem})")
    loopback = is_loopback(host)
    if not loopback:
        err.print(f"binding to {host}: other machines can reach this service", style="yellow")
    settings = ServiceSettings(
        model=model,
        weights=weights,
        workers=workers,
        max_inflight=max_inflight,
        max_streams=max_streams,
        max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        timeout_s=timeout,
        max_pixels=max_pixels,
        detector=detector,
        min_upright=min_upright,
        # on loopback, only loopback names: a DNS-rebinding page's own name is refused
        allowed_hosts=_loopback_names(host) if loopback else None,
    )
    with quiet_native_stderr():
        app = create_app(settings)
    error_log = logging.getLogger("uvicorn.error")
    if not access_log and not any(isinstance(f, NoRequestLines) for f in error_log.filters):
        error_log.addFilter(NoRequestLines())  # uvicorn logs each WebSocket's address and query
    # a stream frame up to the upload cap reaches the app, which answers too_large past it;
    # uvicorn's own limit (16 MiB by default) closed the connection (1009) below the cap
    ws_max_size = max(16 * 1024 * 1024, settings.max_upload_bytes + 1024 * 1024)
    try:
        uvicorn.run(
            app,
            host=host.strip("[]"),  # "[::1]", as a URL writes it, is the address ::1
            port=port,
            log_level="info",
            access_log=access_log,
            ws_max_size=ws_max_size,
            # a request's headers, too, must arrive within --timeout (uvicorn waited for ever)
            http=header_deadline_protocol(timeout),
        )
    except SystemExit as exit_:
        if exit_.code != 3:  # uvicorn's STARTUP_FAILURE: it could not bind, or start the app
            raise
        fail(
            f"--host {host} --port {port}: the service could not start (the error above: a "
            "port taken while the models loaded, say)"
        )


class NoRequestLines(logging.Filter):
    """Drops the lines uvicorn's error log writes for each WebSocket connection (the
    client's address, the path with its query string, "connection open"/"closed"): the
    access log is off because those are personal data, yet these went on being written."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        return not (
            msg.startswith('%s - "WebSocket ') or msg in ("connection open", "connection closed")
        )


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
"""The ``Host`` names a loopback-bound service answers (besides the address it is bound to)."""


def _loopback_names(host: str) -> tuple[str, ...]:
    """:data:`LOOPBACK_NAMES` and the address bound (an IPv6 one also in brackets, as a
    ``Host`` header writes it)."""
    bare = host.strip("[]")
    return tuple(dict.fromkeys((*LOOPBACK_NAMES, bare, *((f"[{bare}]",) if ":" in bare else ()))))


def _ipv4_mapped(host: str) -> str | None:
    """The IPv4 address inside an IPv4-mapped IPv6 ``host`` (``::ffff:127.0.0.1``), else
    ``None``."""
    import ipaddress

    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return None if mapped is None else str(mapped)


def _cannot_listen(host: str, port: int) -> str | None:
    """Why a server could not listen on ``host:port`` (``"address already in use"``, say), or
    ``None`` when it can. Each address the host resolves to is bound and closed at once, as
    asyncio's ``create_server`` (uvicorn's) binds them: ``SO_REUSEADDR``, IPv6 sockets
    IPv6-only, an address family the machine lacks skipped, ``""`` for every interface."""
    import errno
    import socket

    try:
        found = socket.getaddrinfo(
            host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (OSError, UnicodeError) as e:
        return (getattr(e, "strerror", None) or str(e)).lower()
    for family, kind, proto, _, address in dict.fromkeys(found):
        try:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                probe.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRNOTAVAIL:  # that family is not enabled here
                continue
            return (e.strerror or str(e)).lower()
    return None


def is_loopback(host: str) -> bool:
    """Whether ``--host`` reaches only this machine: every address it resolves to is a
    loopback address (``127.0.0.0/8``, ``::1``), as for ``localhost``, ``127.1`` or a name that
    ``/etc/hosts`` maps to ``127.0.1.1``. A name that does not resolve is not."""
    import ipaddress
    import socket

    try:
        found = socket.getaddrinfo(host.strip("[]"), None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0].split("%")[0] for info in found}  # an IPv6 zone is not the address
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)
