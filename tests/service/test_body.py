"""BodyGuard: uploads over the cap or stalled mid-way are answered before the app runs."""

from __future__ import annotations

import asyncio
import json

from mien.service.body import BodyGuard


async def _echo(scope, receive, send):
    """An app that answers the length of the body it was given."""
    size = 0
    while True:
        m = await receive()
        size += len(m.get("body", b""))
        if not m.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def _run(scope, messages, *, stall=False, max_bytes=100, timeout_s=0.2):
    """Drive the guard with ``messages``; then, if ``stall``, a client that sends nothing."""
    sent, asked = [], []
    queue = list(messages)

    async def receive():
        asked.append(1)
        if queue:
            return queue.pop(0)
        if stall:
            await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(m):
        sent.append(m)

    guard = BodyGuard(_echo, max_bytes=max_bytes, timeout_s=timeout_s)
    asyncio.run(guard(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, len(asked)


def _post(length=None):
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    return {"type": "http", "method": "POST", "headers": headers}


def chunk(n, more):
    return {"type": "http.request", "body": b"x" * n, "more_body": more}


def test_a_body_in_chunks_reaches_the_app_whole():
    status, body, _ = _run(_post(90), [chunk(40, True), chunk(50, False)])
    assert (status, body) == (200, b"90")


def test_a_declared_length_over_the_cap_is_refused_before_reading():
    status, body, asked = _run(_post(10**9), [chunk(40, True)])
    assert status == 413 and json.loads(body)["error"] == "too_large" and asked == 0


def test_a_body_that_grows_past_the_cap_is_refused():
    status, body, _ = _run(_post(), [chunk(60, True), chunk(60, True), chunk(1, False)])
    assert status == 413 and json.loads(body)["error"] == "too_large"


def test_a_client_that_stalls_gets_408():
    status, body, _ = _run(_post(90), [chunk(40, True)], stall=True)
    assert status == 408 and json.loads(body) == {
        "error": "timeout",
        "detail": "no upload data for 0.2 s",
    }


def test_other_requests_pass_untouched():
    status, body, _ = _run({"type": "http", "method": "GET", "headers": []}, [chunk(500, False)])
    assert (status, body) == (200, b"500")  # no cap on a GET


def test_a_trickling_upload_meets_the_overall_deadline():
    """A chunk every 0.05 s never trips the per-chunk wait (0.2 s), but four times it in all
    (0.8 s) ends the upload."""
    sent = []

    async def receive():
        await asyncio.sleep(0.05)
        return chunk(1, True)

    async def send(m):
        sent.append(m)

    guard = BodyGuard(_echo, max_bytes=10**6, timeout_s=0.2)
    asyncio.run(guard(_post(), receive, send))
    body = json.loads(sent[-1]["body"])
    assert sent[0]["status"] == 408 and body["detail"] == "the upload took more than 0.8 s"


def test_uploads_beyond_the_concurrency_cap_get_503():
    async def main():
        guard = BodyGuard(_echo, max_bytes=100, timeout_s=5.0, max_concurrent=1)
        release = asyncio.Event()
        first_sent, second_sent = [], []

        async def slow_receive():
            await release.wait()
            return chunk(3, False)

        async def fast_receive():
            return chunk(3, False)

        async def collect(box, m):
            box.append(m)

        first = asyncio.create_task(guard(_post(), slow_receive, lambda m: collect(first_sent, m)))
        await asyncio.sleep(0.05)  # the first is reading its body
        await guard(_post(), fast_receive, lambda m: collect(second_sent, m))
        release.set()
        await first
        await guard(_post(), fast_receive, lambda m: collect(second_sent, m))  # a free slot
        return first_sent, second_sent

    first_sent, second_sent = asyncio.run(main())
    assert first_sent[0]["status"] == 200
    assert [m["status"] for m in second_sent if "status" in m] == [503, 200]
    assert (b"retry-after", b"1") in second_sent[0]["headers"]


def test_a_busy_upload_is_read_before_its_503_and_a_client_gone_gets_none():
    """The 503 went out while the client was still sending; closing on its unread data reset
    the connection, and 12 of 20 clients in a burst saw no answer."""

    async def main():
        guard = BodyGuard(_echo, max_bytes=100, timeout_s=5.0, max_concurrent=1)
        release = asyncio.Event()
        events: list[str] = []

        async def slow_receive():
            await release.wait()
            return chunk(3, False)

        async def ignore(m):
            return None

        def sender(tag):
            async def send(m):
                events.append(f"{tag} {m.get('status', 'body')}")

            return send

        def receiver(parts, tag):
            async def receive():
                events.append(f"{tag} read")
                return parts.pop(0) if parts else {"type": "http.disconnect"}

            return receive

        first = asyncio.create_task(guard(_post(), slow_receive, ignore))
        await asyncio.sleep(0.05)
        parts = [chunk(40, True), chunk(40, True), chunk(10, False)]
        await guard(_post(), receiver(parts, "busy"), sender("busy"))
        gone = [chunk(40, True), {"type": "http.disconnect"}]
        await guard(_post(), receiver(gone, "gone"), sender("gone"))
        release.set()
        await first
        return events

    events = asyncio.run(main())
    assert events[:5] == ["busy read", "busy read", "busy read", "busy 503", "busy body"]
    assert events[5:] == ["gone read", "gone read"]  # went away: nothing sent


def test_a_busy_upload_that_trickles_gets_its_503_after_the_drain_limit(monkeypatch):
    """A refused upload sending a byte every 2.5 s held its connection for 4 x timeout."""
    import time

    import mien.service.body

    monkeypatch.setattr(mien.service.body, "DRAIN_S", 0.3)

    async def main():
        guard = BodyGuard(_echo, max_bytes=10**6, timeout_s=5.0, max_concurrent=1)
        release = asyncio.Event()
        sent = []

        async def slow_receive():
            await release.wait()
            return chunk(3, False)

        async def trickle():
            await asyncio.sleep(0.05)
            return chunk(1, True)

        async def ignore(m):
            return None

        async def collect(m):
            sent.append(m)

        first = asyncio.create_task(guard(_post(), slow_receive, ignore))
        await asyncio.sleep(0.05)
        t0 = time.monotonic()
        await guard(_post(), trickle, collect)
        took = time.monotonic() - t0
        release.set()
        await first
        return sent, took

    sent, took = asyncio.run(main())
    assert sent[0]["status"] == 503 and 0.25 < took < 3.0  # not 4 x 5 s


def test_the_uploads_being_read_are_counted_where_health_sees_them():
    """Three stalled uploads shut every other one out (503 busy) while /v1/health said
    busy 0: bodies being received were counted nowhere it looked."""
    counts: dict = {}
    seen: list[int] = []

    async def app(scope, receive, send):
        seen.append(counts["uploading"])  # the body has been read: no longer counted
        await _echo(scope, receive, send)

    async def main():
        guard = BodyGuard(app, max_bytes=100, timeout_s=5, max_concurrent=2, counts=counts)
        gate = asyncio.Event()

        async def slow_receive():
            await gate.wait()
            return chunk(10, False)

        async def send(m):
            pass

        tasks = [asyncio.create_task(guard(_post(10), slow_receive, send)) for _ in range(2)]
        await asyncio.sleep(0.05)
        during = counts["uploading"]  # both bodies arriving
        gate.set()
        await asyncio.gather(*tasks)
        return during

    assert asyncio.run(main()) == 2
    # each read body leaves the count before the app runs; none is left at the end
    assert counts["uploading"] == 0 and len(seen) == 2 and max(seen) <= 1
