"""The request-header deadline, on a real uvicorn server and raw sockets."""

from __future__ import annotations

import contextlib
import socket
import time

import pytest

from mien.service.protocol import header_deadline_protocol
from tests.helpers import uvicorn_in_thread


async def echo(scope, receive, send):
    """Answers each POST with the length of its body, a GET at once without reading its body,
    and echoes WebSocket text messages."""
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] == "websocket":
        await receive()  # connect
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"]})
        return
    body = b""
    while scope["method"] == "POST":
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    text = str(len(body)).encode()
    headers = [(b"content-length", str(len(text)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": text})


@pytest.fixture(scope="module")
def port():
    with uvicorn_in_thread(echo, http=header_deadline_protocol(0.6), timeout_keep_alive=5) as p:
        yield p


def closed_within(conn: socket.socket, seconds: float) -> bool:
    conn.settimeout(seconds)
    try:
        return conn.recv(1024) == b""
    except TimeoutError:
        return False


REQUEST = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"


def answer(conn: socket.socket) -> bytes:
    """The body of the next response (the echo's one-digit answer)."""
    conn.settimeout(5.0)
    data = b""
    while not (b"\r\n\r\n" in data and len(data.split(b"\r\n\r\n", 1)[1]) >= 1):
        chunk = conn.recv(1024)
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data.split(b"\r\n\r\n", 1)[1]


def test_headers_never_finished_are_closed_at_the_deadline(port):
    """A connection that sent a first line and nothing more was held for ever."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        assert closed_within(conn, 5.0)
        assert 0.5 < time.monotonic() - t0 < 2.0
    with socket.create_connection(("127.0.0.1", port)) as conn:  # trickled: the same
        t0 = time.monotonic()
        for byte in b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40:
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.05)
        assert closed_within(conn, 5.0) and time.monotonic() - t0 < 2.5


def test_complete_requests_and_a_slow_body_are_not_cut(port):
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(REQUEST)
        assert answer(conn) == b"3"
        time.sleep(0.4)  # idle between requests, under the deadline: kept
        conn.sendall(REQUEST)
        assert answer(conn) == b"3"
        # headers at once, then a body slower than the header deadline: the app's to time
        conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
        time.sleep(1.0)
        conn.sendall(b"cd")
        assert answer(conn) == b"4"
        # the next request's headers have their own deadline, counted from the response
        conn.sendall(b"POST / HTTP/1.1\r\n")
        assert closed_within(conn, 5.0)


def test_a_body_sent_after_an_early_answer_has_the_deadline_too(port):
    """A GET with a body is answered without reading it; its late body, or a chunked one
    trickled for ever, kept the connection without any deadline."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n")
        assert answer(conn) == b"0"
        time.sleep(0.3)
        conn.sendall(b"x")  # the body ends; then nothing
        assert closed_within(conn, 5.0)
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        assert answer(conn) == b"0"
        t0 = time.monotonic()
        with pytest.raises(OSError):
            while time.monotonic() - t0 < 5.0:
                conn.sendall(b"1\r\nx\r\n")  # a chunk every 0.2 s, never the last
                time.sleep(0.2)
                conn.settimeout(0.01)
                with contextlib.suppress(TimeoutError):
                    if conn.recv(16) == b"":
                        raise ConnectionResetError("closed")
        assert time.monotonic() - t0 < 2.5


def test_a_websocket_is_not_timed(port):
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}/") as ws:
        time.sleep(1.5)  # well past the deadline
        ws.send("still here")
        assert ws.recv(timeout=5) == "still here"


def test_the_deadline_must_be_positive():
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="deadline_s must be > 0"):
            header_deadline_protocol(bad)
