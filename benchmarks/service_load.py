"""Load test of `mien serve` on loopback: N concurrent clients posting real photos.

Usage: python benchmarks/service_load.py [--requests 96] [--clients 1 4 16] [--workers 2]

Starts `mien serve` in a subprocess, then for each client count sends ``--requests`` POSTs of
photos from ``../shared/media/faces`` (each client waits for its answer before the next) and
prints requests/s, p50/p99 latency, errors and the server's RSS before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run_level(
    url: str, photos: list[bytes], clients: int, total: int
) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        for i in counter:
            t = time.perf_counter()
            r = await http.post(
                f"{url}/v1/analyze",
                files={"file": ("p.jpg", photos[i % len(photos)], "image/jpeg")},
            )
            latencies.append(time.perf_counter() - t)
            errors += r.status_code != 200

    async with httpx.AsyncClient(timeout=120) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return total / (time.perf_counter() - t0), latencies, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=96)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    photos = [
        p.read_bytes() for p in sorted((ROOT.parent / "shared/media/faces").glob("*.jpg"))[:50]
    ]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mien",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--max-inflight",
            str(max(args.clients) * 2),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        asyncio.run(run_level(url, photos, 2, 10))  # warm-up
        before = rss_mb(server.pid)
        table = Table(
            title=f"mien serve, {args.workers} worker(s), {args.requests} requests per level"
        )
        for col in ("clients", "requests/s", "p50 ms", "p99 ms", "errors", "RSS after MiB"):
            table.add_column(col, justify="right")
        p50_single = None
        for clients in args.clients:
            rps, lat, errors = asyncio.run(run_level(url, photos, clients, args.requests))
            p50, p99 = np.percentile(np.array(lat) * 1000, [50, 99])
            p50_single = p50_single or p50
            table.add_row(
                str(clients),
                f"{rps:.1f}",
                f"{p50:.1f}",
                f"{p99:.1f}",
                str(errors),
                f"{rss_mb(server.pid):.0f}",
            )
        Console(width=120).print(table)
        print(
            f"server RSS before {before:.0f} MiB; p99 at {args.clients[-1]} clients = "
            f"{p99 / p50_single:.1f}× the single-client p50"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
