"""``mien serve``: the HTTP API and web page (FastAPI + uvicorn)."""

from __future__ import annotations

from typing import Annotated

import typer

from mien.cli.common import ModelName, Weights, check_weights, err, quiet_native_stderr
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
) -> None:
    """Serve the API (OpenAPI at /docs) and the web page at /. Nothing is stored."""
    import uvicorn

    from mien.service import ServiceSettings, create_app

    check_weights(model, weights)
    loopback = host in ("127.0.0.1", "localhost", "::1")
    if not loopback:
        err.print(f"binding to {host}: other machines can reach this service", style="yellow")
    settings = ServiceSettings(
        model=model,
        weights=weights,
        workers=workers,
        max_inflight=max_inflight,
        max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        timeout_s=timeout,
        max_pixels=max_pixels,
        # on loopback, only loopback names: a DNS-rebinding page's own name is refused
        allowed_hosts=("127.0.0.1", "localhost", "::1", "[::1]") if loopback else None,
    )
    with quiet_native_stderr():
        app = create_app(settings)
    uvicorn.run(app, host=host, port=port, log_level="info")
