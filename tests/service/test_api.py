"""The HTTP API through FastAPI's TestClient: real photos, every error class, limits."""

from __future__ import annotations

import io
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from mien.export import SCHEMA_VERSION
from mien.registry import get_spec
from mien.service import ServiceSettings, create_app
from mien.weights import DEFAULT_MODEL
from tests.helpers import SAMPLES, encode, make_export, png_with_size


@pytest.fixture(scope="module")
def client():
    with TestClient(
        create_app(ServiceSettings(max_upload_bytes=2_000_000, max_pixels=20_000_000))
    ) as c:
        yield c


def post(client, data: bytes, name: str = "photo.jpg"):
    return client.post(
        "/v1/analyze", files={"file": (name, io.BytesIO(data), "application/octet-stream")}
    )


def test_analyze_a_real_photo(client):
    r = post(client, (SAMPLES / "grace_hopper.jpg").read_bytes())
    assert r.status_code == 200
    body = r.json()
    assert (body["image_width"], body["image_height"]) == (512, 600)
    (face,) = body["faces"]
    assert face["label"] == max(face["probabilities"], key=face["probabilities"].get)
    assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    assert 150 < face["x1"] < 200 and {"abstained", "quality_ok", "yaw", "det_confidence"} <= set(
        face
    )
    assert "perceived" in body["note"]
    assert body["model"] == DEFAULT_MODEL and body["schema_version"] == SCHEMA_VERSION
    # the export schema's values, as `mien analyze` writes them (quality had 4 decimals)
    from mien import Analyzer
    from mien.export import result_rows

    with Analyzer() as analyzer:
        (row,) = result_rows(analyzer.analyze(SAMPLES / "grace_hopper.jpg"))
    shared = ["x1", "y2", "det_confidence", "label_probability", "sharpness", "yaw", "upright"]
    assert {k: face[k] for k in shared} == {k: row[k] for k in shared}


def test_your_own_weights_are_named_and_get_no_bundled_card(tmp_path):
    settings = ServiceSettings(weights=make_export(tmp_path, "mine"), pose=False)
    with TestClient(create_app(settings)) as c:
        body = post(c, (SAMPLES / "grace_hopper.jpg").read_bytes()).json()
        info = c.get("/v1/model").json()
    assert body["model"] == info["name"] == "mine"
    assert info["card"] == ""  # the bundled card does not describe these weights


def test_the_detector_mode_is_a_setting():
    """serve had no --detector: a group photo or a strip of small faces got `auto` only.
    A strip of four 120 px faces 180 px high: auto finds none, tiled all four."""
    from mien.errors import UnknownDetectorError
    from tests.helpers import compose, face_patch

    strip = compose(
        (2400, 180), [(face_patch("grace_hopper.jpg", 120), 100 + 600 * i, 30) for i in range(4)]
    )
    data = encode(Image.fromarray(strip[:, :, ::-1]))
    found = {}
    for mode in ("auto", "tiled"):
        with TestClient(create_app(ServiceSettings(detector=mode, workers=1, pose=False))) as c:
            found[mode] = len(post(c, data, "strip.png").json()["faces"])
            assert c.get("/v1/model").json()["detector"] == mode
    assert found == {"auto": 0, "tiled": 4}
    with pytest.raises(UnknownDetectorError, match="'crowd'"):
        create_app(ServiceSettings(detector="crowd"))  # at once, not when the models load


def test_serve_min_upright_turns_the_upright_check_off_for_its_answers():
    import cv2

    turned = cv2.rotate(cv2.imread(str(SAMPLES / "grace_hopper.jpg")), cv2.ROTATE_180)
    data = encode(Image.fromarray(turned[:, :, ::-1]))
    got = {}
    for value in (0.5, 0.0):
        settings = ServiceSettings(min_upright=value, workers=1, pose=False)
        with TestClient(create_app(settings)) as c:
            face = post(c, data, "turned.png").json()["faces"][0]
            got[value] = (face["upright"] < 0.5, face["quality_ok"])
            assert c.get("/v1/model").json()["min_upright"] == value
    assert got == {0.5: (True, False), 0.0: (True, True)}
    for wrong in (1.5, float("nan")):  # at once, not when the models load
        with pytest.raises(ValueError, match="min_upright"):
            create_app(ServiceSettings(min_upright=wrong))
    from mien.service.body import too_large_text

    assert too_large_text(1000 * 1024 * 1024).startswith("upload exceeds 1000 MB (")
    assert too_large_text(10 * 1024 * 1024).startswith("upload exceeds 10 MB (")


@pytest.mark.shared
def test_photos_from_the_shared_set(client, shared):
    for path in sorted((shared / "media" / "faces").glob("*.jpg"))[:5]:
        r = post(client, path.read_bytes(), path.name)
        assert r.status_code == 200 and len(r.json()["faces"]) >= 1


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        (b"", 400, "empty"),  # a file, but no image: like an unreadable one
        (b"hello, not an image", 400, "bad_image"),
        (encode(Image.new("RGB", (64, 64)), "JPEG")[:150], 400, "bad_image"),
        (png_with_size(6000, 6000), 413, "too_large"),  # 36 MP > the 20 MP cap
        (b"\xff" * 2_000_001, 413, "too_large"),  # bytes over the upload cap
    ],
)
def test_bad_uploads_are_typed_4xx(client, data, status, error):
    r = post(client, data)
    assert r.status_code == status
    assert r.json()["error"] == error and r.json()["detail"]


def test_two_files_in_one_request_are_refused(client):
    jpg = (SAMPLES / "grace_hopper.jpg").read_bytes()
    r = client.post("/v1/analyze", files=[("file", ("a.jpg", jpg)), ("file", ("b.jpg", jpg))])
    assert r.status_code == 400 and r.json()["error"] == "several_files"
    assert "got 2" in r.json()["detail"]


def test_a_multipart_body_cut_short_is_told_so(client):
    """It was told "no form field 'file'", though the field was sent."""
    jpg = (SAMPLES / "grace_hopper.jpg").read_bytes()
    head = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n"
    )
    kind = {"content-type": "multipart/form-data; boundary=XyZ"}
    r = client.post("/v1/analyze", content=head + jpg[:5000], headers=kind)
    assert r.status_code == 422 and "ends before its closing boundary" in r.json()["detail"]
    whole = client.post("/v1/analyze", content=head + jpg + b"\r\n--XyZ--\r\n", headers=kind)
    assert whole.status_code == 200
    r = client.post("/v1/analyze", files={"other": ("a.jpg", jpg)})  # whole, wrong field
    assert r.json()["detail"].startswith("no form field 'file'")


def test_a_garbled_multipart_body_is_an_invalid_request_with_a_hint(client):
    """Starlette's own 400s were answered as the generic kind 'http_error', with no hint."""
    cases = {
        "multipart/form-data": b"--XyZ\r\n",  # no boundary
        "multipart/form-data; boundary=XyZ": b"--Abc\r\ngarbage\r\n",  # another boundary
    }
    for kind, body in cases.items():
        r = client.post("/v1/analyze", content=body, headers={"content-type": kind})
        assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.json()
        assert r.json()["detail"].endswith(
            ": send the image as multipart/form-data, field 'file' (curl -F file=@photo.jpg)"
        )
    assert client.get("/v1/health").json()["status"] == "ok"


def test_the_api_rounds_upright_down_as_the_rows_do():
    """0.49996 (a face that failed min_upright 0.5) was answered 0.5 beside quality_ok false;
    the rows said 0.49."""
    from mien.export import result_rows
    from mien.service.app import faces_out
    from mien.types import FrameResult
    from tests.helpers import make_faces

    names = get_spec(DEFAULT_MODEL).names
    faces = make_faces(
        [[0, 0, 10, 10], [20, 20, 30, 30]],
        expression=np.full((2, len(names)), 1 / len(names), np.float32),
        abstained=np.array([True, True]),
        data={"upright": np.array([0.49996, 0.99996]), "quality_ok": np.array([False, True])},
    )
    result = FrameResult(faces, 0, 0.0, (100, 100), "x.jpg", tuple(names), 0.5)
    api = [f.upright for f in faces_out(result)]
    assert api == [r["upright"] for r in result_rows(result)] == [0.49, 0.99]


def test_the_api_docs_name_the_live_stream(client):
    """/docs and /openapi.json never mentioned WS /v1/stream."""
    description = client.get("/openapi.json").json()["info"]["description"]
    assert "`/v1/stream`" in description and '`{"timestamp_s": t}`' in description


def test_no_face_missing_field_and_server_survives(client):
    r = post(client, encode(Image.new("RGB", (200, 150), (90, 90, 90)), "PNG"))
    assert r.status_code == 200 and r.json()["faces"] == []
    missing = client.post("/v1/analyze")
    assert missing.status_code == 422 and missing.json()["error"] == "invalid_request"
    assert missing.json()["detail"].startswith("no form field 'file'")
    # a file part with an empty filename arrives as text: it was "missing or invalid: body.file"
    jpg = (SAMPLES / "grace_hopper.jpg").read_bytes()
    for kwargs in ({"files": {"file": ("", jpg, "image/jpeg")}}, {"data": {"file": "photo"}}):
        text = client.post("/v1/analyze", **kwargs)
        assert text.status_code == 422
        assert text.json()["detail"].startswith("the form field 'file' holds text, not a file")
    assert client.get("/nope").json() == {"error": "not_found", "detail": "Not Found"}
    health = client.get("/v1/health").json()
    assert health["status"] == "ok" and health["busy"] == 0 and health["uploading"] == 0
    for path in ("/v1/health", "/"):  # uptime probes send HEAD
        head = client.head(path)
        assert head.status_code == 200 and head.content == b""
    assert client.head("/v1/model").status_code == 405


def test_the_api_docs_pages_load_nothing_from_other_hosts(client):
    """/docs took Swagger UI from cdn.jsdelivr.net and its icon from fastapi.tiangolo.com;
    /redoc also Google's fonts: a visit told those hosts. Now /docs's assets are served here
    and /redoc is off (it fetches its logo from cdn.redoc.ly whatever is served)."""
    import re

    assert client.get("/redoc").status_code == 404
    for page in ("/docs",):
        html = client.get(page)
        assert html.status_code == 200
        urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", html.text)
        assert urls and all(u.startswith("/") for u in urls), (page, urls)
        assert "://" not in html.text.replace("http://www.w3.org", "")
        for u in urls:
            assert client.get(u).status_code == 200, u


def test_every_answer_forbids_framing_and_the_page_reaches_only_its_own_origin(client):
    """A page of another site could show mien's in a frame (and trick a click on "Use
    camera"); nothing said otherwise."""
    from mien.service.headers import FRAME_POLICY, page_policy

    big = b"\xff" * 2_000_001
    page = page_policy("testserver")
    assert "connect-src 'self' ws://testserver wss://testserver;" in page
    for answer, policy in [
        (client.get("/"), page),
        (client.get("/static/index.html"), page),  # the same page under its file name
        (client.get("/docs"), FRAME_POLICY),  # Swagger UI starts from an inline script
        (client.get("/v1/health"), FRAME_POLICY),
        (client.get("/static/app.js"), FRAME_POLICY),
        (post(client, big), FRAME_POLICY),  # refused before the app: still the headers
    ]:
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["content-security-policy"] == policy
    assert "frame-ancestors 'none'" in page
    assert "ws://" not in page_policy("x; script-src *")  # no header text in the policy
    detail = post(client, big).json()["detail"]
    assert detail == "upload exceeds 1.91 MB (2000000 bytes; mien serve --max-upload-mb sets it)"


def test_model_info_and_openapi(client):
    m = client.get("/v1/model").json()
    assert m["labels"][-1] == "contempt" and m["input_size"] == 48 and "Model card" in m["card"]
    assert m["sha256"] == get_spec(DEFAULT_MODEL).sha256
    assert "/v1/analyze" in client.get("/openapi.json").json()["paths"]
    page = client.get("/")
    assert page.status_code == 200 and "Nothing is stored" in page.text
    assert 'rel="icon"' in page.text  # no /favicon.ico request that 404s in the log
    assert client.get("/static/app.js").status_code == 200


def test_saturation_gives_503_and_timeout_gives_504(monkeypatch):
    from mien.pipeline import Analyzer

    original = Analyzer.analyze

    def slow(self, *a, **k):
        time.sleep(0.8)
        return original(self, *a, **k)

    monkeypatch.setattr(Analyzer, "analyze", slow)
    photo = (SAMPLES / "astronaut.jpg").read_bytes()
    with TestClient(create_app(ServiceSettings(max_inflight=1, pose=False))) as c:
        with ThreadPoolExecutor(3) as pool:
            codes = [f.result() for f in [pool.submit(lambda: post(c, photo)) for _ in range(3)]]
        statuses = sorted(r.status_code for r in codes)
        assert statuses[0] == 200 and 503 in statuses
        busy = next(r for r in codes if r.status_code == 503)
        assert busy.headers["retry-after"] == "1" and busy.json()["error"] == "busy"
        assert post(c, photo).status_code == 200  # recovers
    with TestClient(create_app(ServiceSettings(timeout_s=0.2, pose=False))) as c:
        assert c.get("/v1/health").json()["free_analyzers"] == 1
        r = post(c, photo)
        assert r.status_code == 504 and r.json()["error"] == "timeout"
        health = c.get("/v1/health").json()  # the abandoned analysis still holds its analyzer
        assert (health["busy"], health["free_analyzers"]) == (0, 0)  # busy 0 alone misled
        deadline = time.monotonic() + 20  # it finishes (0.8 s, more on a busy machine)
        while c.get("/v1/health").json()["free_analyzers"] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert c.get("/v1/health").json()["free_analyzers"] == 1


def test_websocket_stream_tracks_faces(client):
    frame = (SAMPLES / "grace_hopper.jpg").read_bytes()
    with client.websocket_connect("/v1/stream") as ws:
        answers = []
        for _ in range(3):
            ws.send_bytes(frame)
            answers.append(ws.receive_json())
        ws.send_bytes(b"not a jpeg")
        bad = ws.receive_json()
        ws.send_text("hello")  # a text frame is answered, and the connection keeps working
        text = ws.receive_json()
        ws.send_bytes(frame)
        after = ws.receive_json()
    assert text["error"] == "bad_request" and after["frame_index"] == 4
    assert [a["frame_index"] for a in answers] == [0, 1, 2]
    assert [a["faces"][0]["track_id"] for a in answers] == [1, 1, 1]
    assert answers[2]["faces"][0]["smoothed"] is not None
    assert bad["error"] == "bad_image" and bad["frame_index"] == 3
    np.testing.assert_allclose(answers[0]["faces"][0]["x1"], answers[1]["faces"][0]["x1"], atol=1)


def test_websocket_frames_can_carry_their_capture_times(client):
    """Frames were stamped by when the server received them: a client sending recorded video
    faster than real time got 13 s of video stamped 0.06 s apart, one track throughout."""
    frame = (SAMPLES / "grace_hopper.jpg").read_bytes()
    with client.websocket_connect("/v1/stream") as ws:
        answers = []
        for t in (10.0, 10.1, 10.2, 25.2):  # a 15 s gap: longer than a track waits for its face
            ws.send_text(json.dumps({"timestamp_s": t}))
            ws.send_bytes(frame)
            answers.append(ws.receive_json())
        ws.send_bytes(frame)  # without a time, once the connection sends them
        missing = ws.receive_json()
        ws.send_text(json.dumps({"timestamp_s": -1}))
        negative = ws.receive_json()
        details = []
        for wrong in (
            '{"timestamp_s": 1' + "0" * 400 + "}",  # too large for a float: ended the connection
            '{"timestamp_s": 1' + "0" * 5000 + "}",  # past int's digit limit: was "not JSON"
            '{"timestamp_s": "12.5"}',
            '{"timestamp_s": 1.7e12}',  # milliseconds since 1970
            "[1]",
            "12.5",
            "not json",
        ):
            ws.send_text(wrong)
            answer = ws.receive_json()
            assert answer["error"] == "bad_request"
            details.append(answer["detail"])
        ws.send_text(json.dumps({"timestamp_s": 25.3}))
        ws.send_bytes(frame)
        last = ws.receive_json()
        ws.send_text('{"timestamp_s": -0.0}')  # was echoed as -0.0
        ws.send_bytes(frame)
        zero = ws.receive_json()["timestamp_s"]
        # a bad time after a good one: the frame is refused, not stamped with the good time
        ws.send_text(json.dumps({"timestamp_s": 26.0}))
        ws.send_text('{"timestamp_s": "x"}')
        assert ws.receive_json()["error"] == "bad_request"
        ws.send_bytes(frame)
        refused = ws.receive_json()
    assert [a["timestamp_s"] for a in answers] == [10.0, 10.1, 10.2, 25.2]
    assert [a["faces"][0]["track_id"] for a in answers] == [1, 1, 1, 2]
    assert missing["error"] == "bad_request" and "before each frame" in missing["detail"]
    assert missing["frame_index"] == 4  # a refused frame takes its index too, and is named
    assert negative["error"] == "bad_request"
    assert negative["detail"] == "timestamp_s must be a number of seconds from 0 to 1e+10, got -1"
    assert details[0].endswith("got 1000000000000000000000000000000000000...")
    assert details[1] == details[0]
    assert details[2].endswith('got "12.5"') and details[3].endswith("got 1700000000000.0")
    assert [d.split(";")[0] for d in details[4:]] == [
        'a text message without "timestamp_s"',
        'a text message without "timestamp_s"',
        "a text message that is not JSON",
    ]
    assert last["timestamp_s"] == 25.3 and last["frame_index"] == 5
    assert zero == 0.0 and math.copysign(1, zero) == 1
    assert refused["error"] == "bad_request" and "before each frame" in refused["detail"]
    assert refused["frame_index"] == 7


def test_a_stream_frame_over_the_upload_cap_is_named_by_its_index(client):
    frame = (SAMPLES / "grace_hopper.jpg").read_bytes()
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_bytes(frame)
        first = ws.receive_json()
        ws.send_bytes(b"\xff" * 2_000_001)  # over this client's 2 MB cap
        large = ws.receive_json()
        ws.send_bytes(frame)
        after = ws.receive_json()
    assert (first["frame_index"], after["frame_index"]) == (0, 2)
    assert large["error"] == "too_large" and large["frame_index"] == 1


def test_a_video_upload_is_told_where_videos_go(client, tmp_path):
    from tests.helpers import write_clip

    clip = write_clip(
        tmp_path / "c.mp4", [(np.zeros((32, 32, 3), np.uint8), i / 10) for i in range(3)]
    )
    r = post(client, clip.read_bytes(), "c.mp4")
    assert r.status_code == 400 and r.json()["error"] == "bad_image"
    assert "a video, not an image: run `mien analyze` on the file" in r.json()["detail"]
    r = post(client, b"hello, not an image")
    assert "video" not in r.json()["detail"]


def test_crafted_files_and_our_own_bugs_get_json_answers(monkeypatch):
    from tests.io.test_image import DDS_HEADER

    frame = (SAMPLES / "grace_hopper.jpg").read_bytes()
    with TestClient(create_app(ServiceSettings(pose=False)), raise_server_exceptions=False) as c:
        r = post(c, DDS_HEADER)  # Pillow's DDS reader raised NotImplementedError: a text 500
        assert r.status_code == 400 and r.json()["error"] == "bad_image"
        assert "not a recognised image format" in r.json()["detail"]
        with c.websocket_connect("/v1/stream") as ws:
            ws.send_bytes(DDS_HEADER)
            assert ws.receive_json()["error"] == "bad_image"  # it closed the connection (1006)
            ws.send_bytes(frame)
            assert ws.receive_json()["frame_index"] == 1

        from mien.pipeline import Analyzer

        def bug(self, *a, **k):
            raise RuntimeError("a bug of ours")

        monkeypatch.setattr(Analyzer, "analyze", bug)
        monkeypatch.setattr(Analyzer, "run", bug)
        r = post(c, frame)
        assert r.status_code == 500
        assert r.json() == {"error": "internal", "detail": "the server failed (RuntimeError)"}
        with c.websocket_connect("/v1/stream") as ws:
            ws.send_bytes(frame)
            answer = ws.receive_json()
            assert answer["error"] == "internal" and answer["frame_index"] == 0
            ws.send_text("still there?")
            assert ws.receive_json()["error"] == "bad_request"


def test_uploads_over_a_mebibyte_stay_in_memory(monkeypatch):
    import tempfile

    from starlette.formparsers import MultiPartParser

    spooled = []
    real = tempfile.SpooledTemporaryFile

    class Spy(real):
        def rollover(self):  # moving the upload to a file on disk
            spooled.append(self._max_size)
            super().rollover()

    monkeypatch.setattr("starlette.formparsers.SpooledTemporaryFile", Spy)
    big = encode(
        Image.fromarray(np.random.default_rng(1).integers(0, 255, (700, 700, 3), np.uint8)), "PNG"
    )
    assert len(big) > 1024 * 1024
    with TestClient(create_app(ServiceSettings(pose=False))) as c:
        assert post(c, big, "big.png").status_code == 200
    assert spooled == []
    assert MultiPartParser.spool_max_size >= 10 * 1024 * 1024


def test_a_page_of_another_site_cannot_open_the_stream(client):
    from starlette.websockets import WebSocketDisconnect

    with client.websocket_connect("/v1/stream", headers={"origin": "http://evil.example"}) as ws:
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_json()
    assert info.value.code == 1008 and "cross-origin" in info.value.reason
    frame = (SAMPLES / "grace_hopper.jpg").read_bytes()
    with client.websocket_connect("/v1/stream", headers={"origin": "http://testserver"}) as ws:
        ws.send_bytes(frame)  # the server's own page
        assert ws.receive_json()["frame_index"] == 0
    # a form posted by another site's page: refused before any work
    r = client.post(
        "/v1/analyze",
        files={"file": ("a.jpg", frame)},
        headers={"origin": "http://evil.example"},
    )
    assert r.status_code == 403 and r.json()["error"] == "cross_origin"
    ok = client.post(
        "/v1/analyze", files={"file": ("a.jpg", frame)}, headers={"origin": "http://testserver"}
    )
    assert ok.status_code == 200


def test_live_streams_beyond_the_cap_are_told_busy_and_closed():
    """Stream connections were not bounded: 30 of them took the server from 0.9 to 1.6 GB."""
    from starlette.websockets import WebSocketDisconnect

    frame = (SAMPLES / "grace_hopper.jpg").read_bytes()
    with TestClient(create_app(ServiceSettings(pose=False, max_streams=1))) as c:
        with c.websocket_connect("/v1/stream") as first:
            first.send_bytes(frame)
            assert first.receive_json()["frame_index"] == 0
            health = c.get("/v1/health").json()
            assert (health["streams"], health["stream_capacity"]) == (1, 1)
            with c.websocket_connect("/v1/stream") as second:
                refused = second.receive_json()
                assert refused["error"] == "busy" and "1 live streams are open" in refused["detail"]
                with pytest.raises(WebSocketDisconnect) as info:
                    second.receive_json()
            assert info.value.code == 1013
            first.send_bytes(frame)  # the open one goes on
            assert first.receive_json()["frame_index"] == 1
        with c.websocket_connect("/v1/stream") as again:  # a closed one frees its place
            again.send_bytes(frame)
            assert again.receive_json()["frame_index"] == 0
        assert c.get("/v1/health").json()["streams"] == 0


def test_an_idle_stream_is_closed_and_frees_its_place():
    """Idle connections (a client that answers pings, sends nothing) held every place."""
    from starlette.websockets import WebSocketDisconnect

    settings = ServiceSettings(pose=False, max_streams=1, stream_idle_s=0.5)
    with TestClient(create_app(settings)) as c:
        with c.websocket_connect("/v1/stream") as ws:
            with pytest.raises(WebSocketDisconnect) as info:
                ws.receive_json()
        assert info.value.code == 1001 and "no frame for 0.5 s" in info.value.reason
        assert c.get("/v1/health").json()["streams"] == 0


def test_a_loopback_server_answers_only_to_loopback_names():
    settings = ServiceSettings(pose=False, allowed_hosts=("127.0.0.1", "localhost"))
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as c:
        assert c.get("/v1/health").status_code == 200
        rebound = c.get("/v1/health", headers={"host": "evil.example:8000"})
        assert rebound.status_code == 400  # a DNS-rebinding page, under its own name
        assert rebound.json() == {  # JSON like every other error (it was plain text)
            "error": "bad_host",
            "detail": "this server does not answer to the host name 'evil.example:8000'",
        }
        assert c.get("/v1/model", headers={"host": "localhost:8000"}).status_code == 200
        # a WebSocket too: its refusal was plain text "Invalid host header"
        from starlette.testclient import WebSocketDenialResponse

        with (
            pytest.raises(WebSocketDenialResponse) as denied,
            c.websocket_connect("/v1/stream", headers={"host": "evil.example:8000"}),
        ):
            pass
        assert denied.value.status_code == 400
        assert denied.value.json()["error"] == "bad_host"


def test_after_a_stream_timeout_the_next_frames_wait_without_taking_analyzers(monkeypatch):
    """A frame abandoned at 504 keeps running; the connection's next frames are answered busy
    at once (they took a free analyzer each and timed out behind it, emptying the pool)."""
    from mien.pipeline import Analyzer

    original = Analyzer.run
    slow = {"left": 1}

    def run(self, frames, **kw):
        if slow["left"]:
            slow["left"] -= 1
            time.sleep(1.5)
        return original(self, frames, **kw)

    monkeypatch.setattr(Analyzer, "run", run)
    frame = (SAMPLES / "grace_hopper.jpg").read_bytes()
    settings = ServiceSettings(workers=2, timeout_s=0.5, pose=False)
    with TestClient(create_app(settings)) as c:
        with c.websocket_connect("/v1/stream") as ws:
            ws.send_bytes(frame)
            assert ws.receive_json()["error"] == "timeout"
            t0 = time.monotonic()
            ws.send_bytes(frame)
            busy = ws.receive_json()
            assert busy["error"] == "busy" and busy["frame_index"] == 1
            assert time.monotonic() - t0 < 0.4  # answered at once, no analyzer taken
            assert post(c, frame).status_code == 200  # other clients still get an analyzer
            time.sleep(1.2)  # the abandoned frame ends
            ws.send_bytes(frame)
            assert ws.receive_json()["faces"][0]["track_id"] == 1
