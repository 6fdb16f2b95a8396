"""The FastAPI app: analyse uploads (``POST /v1/analyze``), a live stream over a WebSocket
(``/v1/stream``), health and model info, and the web page at ``/``.

The analyzers are created once in the app's lifespan. Requests are bounded: at most
``max_inflight`` at a time (more get ``503`` with ``Retry-After``), each with a timeout, each
upload capped in bytes (refused by its declared length before it is read) and pixels, and a
client that stalls mid-upload is answered 408 (:mod:`mien.service.body`). Nothing is stored:
images live in memory for one request (Starlette's multipart parser, which would spool an
upload over 1 MiB to a temporary file, is told to keep up to the upload cap in memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from fastapi import FastAPI, File, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartParser

from mien.detection.mediapipe import check_detector_model
from mien.errors import ImageError, ImageTooLargeError
from mien.export.rows import SCHEMA_VERSION, probability_shown, upright_shown
from mien.io.image import looks_like_video
from mien.logs import quiet_native_stderr
from mien.quality import QualityThresholds
from mien.service.body import BODY_KEY, MULTIPART_SLACK, BodyGuard, too_large_text
from mien.service.headers import SecurityHeaders
from mien.service.hosts import TrustedHosts
from mien.service.schemas import AnalyzeOut, ErrorOut, FaceOut, FrameOut, HealthOut, ModelOut
from mien.types import FrameResult
from mien.weights import DEFAULT_MODEL, sha256_of

if TYPE_CHECKING:
    from mien.detection.mediapipe import DetectorModel

log = logging.getLogger("mien.service")

MAX_TIMESTAMP_S = 1e10
"""Largest capture time a live client may send, in seconds: Unix time fits (until 2286); a
time in milliseconds or microseconds since 1970 does not, and is refused rather than read as
centuries."""


def cross_origin(origin: str | None, host: str | None) -> bool:
    """Whether a browser request comes from a page of another origin: its ``Origin`` header
    names another host:port than the ``Host`` it was sent to. Programs outside a browser send
    no ``Origin`` (not cross-origin)."""
    return origin is not None and urlsplit(origin).netloc != (host or "")


def _multipart_cut_short(request: Request) -> bool:
    """Whether a multipart request's body lacks its closing ``--boundary--`` (Starlette reads
    such a body as a form without the field)."""
    kind = request.headers.get("content-type", "")
    if not kind.lower().startswith("multipart/"):
        return False
    boundary = next(
        (p.split("=", 1)[1].strip().strip('"') for p in kind.split(";") if "boundary=" in p), ""
    )
    if not boundary:
        return False
    body = request.scope.get(BODY_KEY, b"")  # the stream itself was consumed by the form
    return bool(body) and f"--{boundary}--".encode() not in body


@dataclass(frozen=True)
class ServiceSettings:
    """Service limits and set-up.

    Attributes:
        model: bundled expression model name.
        weights: your own export (``.onnx`` with its spec ``.json`` beside it) instead of the
            bundled weights; ``None`` for the bundled ones.
        workers: analyzers (each with its own MediaPipe graphs) serving requests in parallel;
            each gets ``cpu_count // workers`` onnxruntime threads.
        max_inflight: requests admitted at once (working or waiting for an analyzer); more get
            503 with ``Retry-After``.
        max_streams: live stream (WebSocket) connections open at once; one more is answered
            ``busy`` and closed with code 1013 (try again later). Each holds up to about three
            frames in memory.
        stream_idle_s: a stream connection that sends no frame the server takes for this
            long is closed (code 1001), so idle connections cannot hold every place of
            ``max_streams``; a frame refused before decoding (too large, without its capture
            time) does not count.
        max_upload_bytes: largest accepted upload.
        max_pixels: largest accepted image (decompression-bomb guard).
        timeout_s: per-request analysis timeout (504 when exceeded), and the longest wait
            for the next chunk of an upload (408).
        pose: measure head pose (FaceMesh) for the quality flags.
        detector: the face detector mode, one of
            :data:`~mien.detection.mediapipe.DETECTOR_MODELS` (``auto``: the first BlazeFace
            range that finds a face; ``multi`` or ``tiled`` for group photos and crowds, at
            more time per image).
        min_upright: faces whose upright check is below this abstain (``0``: the check off;
            :attr:`mien.quality.QualityThresholds.min_upright`).
        allowed_hosts: the ``Host`` names accepted (Starlette's ``TrustedHostMiddleware`` rule,
            answered in JSON by :class:`~mien.service.hosts.TrustedHosts`;
            others get 400), or ``None`` for any. ``mien serve`` on a loopback address allows
            only loopback names, so a DNS-rebinding page cannot reach it under its own name.
    """

    model: str = DEFAULT_MODEL
    weights: Path | None = None
    workers: int = 1
    max_inflight: int = 8
    max_streams: int = 8
    stream_idle_s: float = 60.0
    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    timeout_s: float = 30.0
    pose: bool = True
    detector: str = "auto"
    min_upright: float = 0.5
    allowed_hosts: tuple[str, ...] | None = None


def _version() -> str:
    try:
        return version("mien")
    except PackageNotFoundError:
        return "0.0.0"


def _num(v: Any) -> float | None:
    v = float(v)
    return None if v != v else round(v, 2)  # as the rows give quality values


def _upright(value: Any) -> float | None:
    v = float(value)
    return None if v != v else upright_shown(v)  # as the rows show it: rounded down


def faces_out(result: FrameResult) -> list[FaceOut]:
    """The result's faces as API objects (field names as in the export schema)."""
    f = result.faces
    names = result.expression_names
    out = []
    for i in range(len(f)):
        p = f.expression[i]  # type: ignore[index]
        top = int(p.argmax())
        d = f.data
        out.append(
            FaceOut(
                face=i,
                track_id=None if f.track_id is None else int(f.track_id[i]),
                x1=round(float(f.xyxy[i, 0]), 2),
                y1=round(float(f.xyxy[i, 1]), 2),
                x2=round(float(f.xyxy[i, 2]), 2),
                y2=round(float(f.xyxy[i, 3]), 2),
                det_confidence=round(float(f.confidence[i]), 4),
                probabilities={n: probability_shown(v) for n, v in zip(names, p, strict=True)},
                label=names[top],
                label_probability=probability_shown(p[top]),
                abstained=bool(f.abstained[i]) if f.abstained is not None else False,
                face_size_px=_num(d["face_size_px"][i]) if "face_size_px" in d else None,
                sharpness=_num(d["sharpness"][i]) if "sharpness" in d else None,
                yaw=_num(d["yaw"][i]) if "yaw" in d else None,
                pitch=_num(d["pitch"][i]) if "pitch" in d else None,
                roll=_num(d["roll"][i]) if "roll" in d else None,
                truncated=bool(d["truncated"][i]) if "truncated" in d else None,
                upright=_upright(d["upright"][i]) if "upright" in d else None,
                quality_ok=bool(d["quality_ok"][i]) if "quality_ok" in d else None,
                smoothed=None
                if f.smoothed is None
                else {n: probability_shown(v) for n, v in zip(names, f.smoothed[i], strict=True)},
            )
        )
    return out


def analysis_fields(result: FrameResult) -> dict[str, Any]:
    """The fields an :class:`AnalyzeOut` (or a stream's :class:`FrameOut`) takes from a result."""
    return {
        "schema_version": SCHEMA_VERSION,
        "model": result.model,
        "image_width": result.image_wh[0],
        "image_height": result.image_wh[1],
        "faces": faces_out(result),
        "expression_names": list(result.expression_names),
        "timings_ms": {k: round(v, 2) for k, v in result.timings_ms.items()},
    }


class ServiceError(Exception):
    """An error answered as JSON ``{"error", "detail"}`` with ``status``."""

    def __init__(
        self, status: int, error: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        self.status, self.error, self.detail, self.headers = status, error, detail, headers
        super().__init__(detail)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The mien web app. Use ``with TestClient(create_app()) as client`` in tests.

    Raises:
        UnknownDetectorError: ``settings.detector`` is not a detector mode (before any model
            loads).
        ValueError: ``settings.min_upright`` is not a probability (before any model loads).
    """
    settings = settings or ServiceSettings()
    check_detector_model(settings.detector)
    QualityThresholds(min_upright=settings.min_upright)  # raises for 1.5 or NaN, at once
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from mien.pipeline import Analyzer

        pool: asyncio.Queue[Analyzer] = asyncio.Queue()
        analyzers = []
        workers = max(1, settings.workers)
        threads = max(1, (os.cpu_count() or 1) // workers)  # no oversubscription across workers
        with quiet_native_stderr():  # MediaPipe's and TF Lite's start-up lines, per worker
            for _ in range(workers):
                a = Analyzer(
                    settings.model,
                    weights=settings.weights,
                    max_pixels=settings.max_pixels,
                    pose=settings.pose,
                    detector=cast("DetectorModel", settings.detector),  # checked by Analyzer
                    threads=threads,
                    thresholds={"min_upright": settings.min_upright},
                )
                a.warm_up()
                analyzers.append(a)
                pool.put_nowait(a)
        spec = analyzers[0].expression.spec
        state.update(
            pool=pool,
            inflight=0,
            streams=0,
            spec=spec,
            sha256=spec.sha256 or sha256_of(analyzers[0].expression.path),  # checked on load
            still_working=set(),
        )
        try:
            yield
        finally:
            for a in analyzers:
                a.close()

    app = FastAPIOffline(  # FastAPI whose /docs loads nothing from a CDN
        redoc_url=None,  # ReDoc fetches its logo from cdn.redoc.ly
        title="mien",
        version=_version(),
        description="Perceived facial expression of the faces in an image: what a face looks "
        "like, with calibrated probabilities. Not a reading of anyone's inner emotion. "
        "Nothing is stored.\n\n"
        "Live video: the WebSocket `/v1/stream` (not listed below: OpenAPI describes HTTP "
        "only) takes each frame as a binary JPEG/PNG message, optionally after a text message "
        '`{"timestamp_s": t}` giving its capture time in seconds. Each answer is one frame\'s '
        "analysis as JSON: the fields of `/v1/analyze` plus `frame_index` and `timestamp_s`, "
        "its faces with `track_id` and `smoothed` probabilities. A client sending frames faster "
        "than they are analysed gets the newest analysed, the ones between dropped without an "
        "answer (send the next after each answer to have every frame analysed). Errors are "
        'JSON `{"error", "detail"}`; one '
        "connection more than `--max-streams` is closed with code 1013. The README's "
        '"HTTP service and web page" section has the details.',
        lifespan=lifespan,
        swagger_ui_parameters={"validatorUrl": None},  # no badge from validator.swagger.io
    )

    # Starlette spools each uploaded file to a temporary file past spool_max_size (1 MiB): keep
    # every accepted upload in memory instead (BodyGuard already caps the body at this size).
    # A class attribute, so this holds for every app in the process; it is only ever raised.
    MultiPartParser.spool_max_size = max(
        MultiPartParser.spool_max_size, settings.max_upload_bytes + MULTIPART_SLACK
    )
    if settings.allowed_hosts is not None:
        app.add_middleware(TrustedHosts, allowed_hosts=list(settings.allowed_hosts))
    app.add_middleware(
        BodyGuard,
        max_bytes=settings.max_upload_bytes + MULTIPART_SLACK,
        timeout_s=settings.timeout_s,
        max_concurrent=settings.max_inflight,
        counts=state,
    )
    app.add_middleware(SecurityHeaders)  # added last: outermost, so every answer has them

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(
            tuple(e.get("loc", ())) == ("body", "file") and isinstance(e.get("input"), str)
            for e in errors
        ):  # a text field named file, or a file part whose filename is empty
            detail = (
                "the form field 'file' holds text, not a file: send the image as a file part "
                "with a filename (curl -F file=@photo.jpg; a part with an empty filename "
                "arrives as text)"
            )
        elif any(tuple(e.get("loc", ())) == ("body", "file") for e in errors):
            detail = "no form field 'file': send the image as multipart/form-data, field 'file'"
            if _multipart_cut_short(request):
                detail = (
                    "the multipart body ends before its closing boundary (cut short?): "
                    "send the whole form, field 'file'"
                )
        else:
            fields = ", ".join(".".join(str(x) for x in e.get("loc", ())) for e in errors)
            detail = f"missing or invalid: {fields}"
        return JSONResponse({"error": "invalid_request", "detail": detail}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kinds = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}
        detail = str(exc.detail)
        if exc.status_code == 400:  # Starlette's form parser: no boundary, a garbled body
            detail = (
                f"{detail.rstrip('.')}: send the image as multipart/form-data, field 'file' "
                "(curl -F file=@photo.jpg)"
            )
        return JSONResponse(
            {"error": kinds.get(exc.status_code, "http_error"), "detail": detail},
            exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(
            {"error": exc.error, "detail": exc.detail}, exc.status, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # A bug of ours: JSON like every other answer, without the traceback (that goes to the
        # server's log, as uvicorn logs it).
        return JSONResponse(
            {"error": "internal", "detail": f"the server failed ({type(exc).__name__})"}, 500
        )

    @contextlib.asynccontextmanager
    async def admitted() -> AsyncIterator[Any]:
        if state["inflight"] >= settings.max_inflight:
            raise ServiceError(
                503,
                "busy",
                f"{settings.max_inflight} requests in progress; retry shortly",
                {"Retry-After": "1"},
            )
        state["inflight"] += 1
        try:
            analyzer = await asyncio.wait_for(state["pool"].get(), timeout=settings.timeout_s)
        except TimeoutError as err:
            state["inflight"] -= 1
            raise ServiceError(
                503, "busy", "no analyzer became free in time", {"Retry-After": "1"}
            ) from err
        try:
            yield analyzer
        finally:
            if id(analyzer) not in state["still_working"]:
                state["pool"].put_nowait(analyzer)
            state["inflight"] -= 1

    async def run(analyzer: Any, fn: Any, *args: Any) -> Any:
        """Run ``fn`` in a thread with the timeout. On timeout the analyzer is not handed to the
        next request until its thread has really finished (an Analyzer is not thread-safe)."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, fn, *args)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout=settings.timeout_s)
        except TimeoutError as err:
            state["still_working"].add(id(analyzer))

            def release(_: Any) -> None:
                state["still_working"].discard(id(analyzer))
                state["pool"].put_nowait(analyzer)

            future.add_done_callback(lambda f: loop.call_soon_threadsafe(release, f))
            raise ServiceError(
                504, "timeout", f"analysis took longer than {settings.timeout_s} s"
            ) from err

    error_responses: dict[int | str, dict[str, Any]] = {
        c: {"model": ErrorOut} for c in (400, 403, 408, 413, 422, 500, 503, 504)
    }

    @app.post("/v1/analyze", response_model=AnalyzeOut, responses=error_responses)
    async def analyze(
        request: Request,
        file: UploadFile = File(..., description="an image file"),  # noqa: B008
    ) -> AnalyzeOut:
        """Analyse one uploaded image; every face with its perceived-expression probabilities.
        A browser page of another origin is refused (403)."""
        if cross_origin(request.headers.get("origin"), request.headers.get("host")):
            raise ServiceError(
                403, "cross_origin", "requests from pages of another origin are refused"
            )
        parts = len((await request.form()).getlist("file"))  # the form FastAPI already parsed
        if parts > 1:
            raise ServiceError(
                400, "several_files", f"send one image per request; got {parts} 'file' parts"
            )
        data = await file.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise ServiceError(413, "too_large", too_large_text(settings.max_upload_bytes))
        if not data:
            raise ServiceError(400, "empty", "the uploaded file is empty (0 bytes)")
        name = file.filename or "<upload>"
        async with admitted() as analyzer:
            try:
                result = await run(analyzer, lambda: analyzer.analyze(data, source=name))
            except ImageTooLargeError as err:
                raise ServiceError(413, "too_large", str(err)) from err
            except ImageError as err:
                problem = (
                    f"{name}: a video, not an image: run `mien analyze` on the file (or send "
                    "its frames to WS /v1/stream)"
                    if looks_like_video(data[:400])
                    else str(err)
                )
                raise ServiceError(400, "bad_image", problem) from err
        return AnalyzeOut(**analysis_fields(result))

    # HEAD too, for uptime probes (``curl -I``): the headers without the body
    @app.head("/v1/health", include_in_schema=False)
    @app.get("/v1/health", response_model=HealthOut)
    async def health() -> HealthOut:
        return HealthOut(
            status="ok",
            version=_version(),
            busy=state.get("inflight", 0),
            capacity=settings.max_inflight,
            free_analyzers=state["pool"].qsize() if "pool" in state else 0,
            uploading=state.get("uploading", 0),
            streams=state.get("streams", 0),
            stream_capacity=settings.max_streams,
        )

    @app.get("/v1/model", response_model=ModelOut)
    async def model() -> ModelOut:
        spec = state["spec"]
        opening = ""
        if settings.weights is None:  # the bundled card describes the bundled weights only
            card = resources.files("mien.expression.weights").joinpath("MODEL_CARD.md")
            opening = card.read_text().split("\n## ")[0] if card.is_file() else ""
        return ModelOut(
            name=spec.name,
            sha256=state["sha256"],
            labels=list(spec.names),
            input_size=spec.input_size,
            temperature=spec.temperature,
            abstain_threshold=spec.abstain_threshold,
            metrics=spec.metrics,
            version=_version(),
            detector=settings.detector,
            min_upright=settings.min_upright,
            card=opening,
        )

    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket) -> None:
        """Send JPEG frames as binary messages; each answer is one frame's faces (JSON), with
        track ids across the connection. A slow client gets the newest frame analysed; older
        unanswered frames are dropped, never queued without bound. A browser page of another
        origin than the server's is refused (close code 1008)."""
        from mien.tracking import ExpressionSmoother, FaceTracker
        from mien.types import Frame

        origin = ws.headers.get("origin")
        if cross_origin(origin, ws.headers.get("host")):
            # accepted, then closed with a reason: refused at the handshake, a browser sees
            # only 1006 and no reason
            await ws.accept()
            await ws.close(code=1008, reason="cross-origin connections are refused")
            return
        await ws.accept()
        if state["streams"] >= settings.max_streams:  # each holds frames in memory: bounded
            await ws.send_json(
                {
                    "error": "busy",
                    "detail": f"{settings.max_streams} live streams are open (--max-streams); "
                    "try again later",
                }
            )
            await ws.close(code=1013, reason="too many live streams; try again later")
            return
        latest: dict[str, Any] = {"data": None, "index": -1}
        received = {"frames": 0}  # binary messages so far
        arrived = asyncio.Event()
        closed = False
        t0 = time.monotonic()
        # a client's frames come live: a long step between them is an outage, not a frame
        # held on screen
        tracker, smoother = FaceTracker(hold_s=0.0), ExpressionSmoother()
        poses: dict[int, Any] = {}  # head pose per track, measured every pose_interval_s
        # one frame at a time: after a 504 the abandoned frame's thread may still be updating
        # the tracker; until it ends, new frames are answered "busy" without taking an analyzer
        idle = threading.Event()
        idle.set()

        # the client's capture times: once it sends one, every frame needs one
        clock: dict[str, Any] = {"client": False, "next": None}

        def take_timestamp(text: str) -> str | None:
            """Take ``{"timestamp_s": seconds}`` as the next frame's time; else the problem."""
            usage = (
                "send each frame as a binary JPEG/PNG message, optionally after a text "
                f'message {{"timestamp_s": seconds}} giving its capture time (0 to '
                f"{MAX_TIMESTAMP_S:.0e})"
            )
            try:  # an integer past Python's 4,300-digit limit is JSON, just too long
                message = json.loads(text, parse_int=lambda d: int(d) if len(d) <= 4000 else d)
            except (ValueError, RecursionError):
                return f"a text message that is not JSON; {usage}"
            if not isinstance(message, dict) or "timestamp_s" not in message:
                return f'a text message without "timestamp_s"; {usage}'
            value = message["timestamp_s"]
            t = math.nan
            if isinstance(value, int | float) and not isinstance(value, bool):
                try:
                    t = float(value)
                except OverflowError:  # an integer too large for a float
                    t = math.inf
            if not (math.isfinite(t) and 0 <= t <= MAX_TIMESTAMP_S):
                long_int = isinstance(value, str) and value.lstrip("-").isdigit()
                shown = value if long_int and len(value) > 4000 else json.dumps(value)
                shown = shown if len(shown) <= 40 else shown[:37] + "..."
                return (
                    f"timestamp_s must be a number of seconds from 0 to {MAX_TIMESTAMP_S:.0e}, "
                    f"got {shown}"
                )
            # an earlier time than the last frame's ends the tracks, as a video's clock going
            # back does
            clock.update(client=True, next=t + 0.0)  # -0.0 is 0.0
            return None

        async def receive() -> None:
            nonlocal closed
            try:
                while True:
                    event = await ws.receive()
                    if event["type"] == "websocket.disconnect":
                        break
                    message = event.get("bytes")
                    if message is None:  # text: the next frame's capture time, or a mistake
                        if (problem := take_timestamp(event.get("text") or "")) is not None:
                            # a capture time given before it no longer stands: the frame that
                            # follows is refused, not stamped with the earlier time
                            clock["next"] = None
                            await ws.send_json({"error": "bad_request", "detail": problem})
                        continue
                    # every frame takes an index, a refused one too: its answer names it
                    received["frames"] += 1
                    index = received["frames"] - 1
                    if len(message) > settings.max_upload_bytes:
                        await ws.send_json(
                            {
                                "error": "too_large",
                                "detail": f"a frame of {len(message)} bytes; the limit is "
                                f"{settings.max_upload_bytes} (--max-upload-mb)",
                                "frame_index": index,
                            }
                        )
                        clock["next"] = None
                        continue
                    if clock["client"] and clock["next"] is None:
                        await ws.send_json(
                            {
                                "error": "bad_request",
                                "detail": 'this connection sends capture times: send {"timestamp_s"'
                                ": …} before each frame",
                                "frame_index": index,
                            }
                        )
                        continue
                    latest["data"], latest["index"] = message, index
                    latest["t"] = time.monotonic() - t0 if clock["next"] is None else clock["next"]
                    clock["next"] = None
                    arrived.set()
            except Exception:
                pass
            finally:
                closed = True
                arrived.set()

        state["streams"] += 1
        receiver = asyncio.create_task(receive())
        try:
            while not closed:
                try:
                    await asyncio.wait_for(arrived.wait(), timeout=settings.stream_idle_s)
                except TimeoutError:  # an idle connection would hold a --max-streams place
                    idle_for = f"no frame for {settings.stream_idle_s:g} s"
                    await ws.close(code=1001, reason=f"{idle_for}; connect again to go on")
                    break
                arrived.clear()
                if closed or latest["data"] is None:
                    break
                data, index, t = latest["data"], latest["index"], latest["t"]
                latest["data"] = None
                if not idle.is_set():
                    await ws.send_json(
                        {
                            "error": "busy",
                            "detail": "the previous frame is still being analysed; send the next",
                            "frame_index": index,
                        }
                    )
                    continue
                idle.clear()
                submitted = False
                try:
                    async with admitted() as analyzer:

                        def work(
                            a: Any = analyzer, data: bytes = data, index: int = index, t: float = t
                        ) -> FrameResult:
                            from mien.io import read_image

                            try:
                                img = read_image(
                                    data, max_pixels=settings.max_pixels, name=f"frame {index}"
                                )
                                frame = Frame(img, index, t, "stream")
                                frames = a.run(
                                    [frame], tracker=tracker, smoother=smoother, poses=poses
                                )
                                return next(frames)
                            finally:
                                idle.set()

                        submitted = True
                        result = await run(analyzer, work)
                except ServiceError as err:
                    await ws.send_json(
                        {"error": err.error, "detail": err.detail, "frame_index": index}
                    )
                    continue
                except ImageError as err:
                    kind = "too_large" if isinstance(err, ImageTooLargeError) else "bad_image"
                    detail = (
                        f"frame {index}: a video, not an image: send each frame as a JPEG or "
                        "PNG message"
                        if looks_like_video(data[:400])
                        else str(err)
                    )
                    await ws.send_json({"error": kind, "detail": detail, "frame_index": index})
                    continue
                except Exception as err:  # a bug of ours: log it, answer it, keep the connection
                    log.exception("stream frame %d failed", index)
                    await ws.send_json(
                        {
                            "error": "internal",
                            "detail": f"the server failed on this frame ({type(err).__name__})",
                            "frame_index": index,
                        }
                    )
                    continue
                finally:
                    if not submitted:  # refused before its work began: the next frame may go
                        idle.set()
                out = FrameOut(
                    **analysis_fields(result), frame_index=index, timestamp_s=round(t, 6)
                )
                await ws.send_text(out.model_dump_json())
        except WebSocketDisconnect:
            pass
        finally:
            receiver.cancel()
            state["streams"] -= 1

    static = resources.files("mien.service").joinpath("static")

    @app.head("/", response_class=HTMLResponse, include_in_schema=False)
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(static.joinpath("index.html").read_text())

    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app


__all__ = ["ServiceSettings", "create_app", "faces_out"]
