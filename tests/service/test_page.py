"""The web page end to end in a real browser (Debian's Chromium driven by Playwright).

Skipped where /usr/bin/chromium is absent; `.ci/run` installs it. The browser is never
downloaded. A photo upload and a fake camera (a .y4m file made here from a sample photo) are
both checked; screenshots are kept in test-artifacts/ at the repository root.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from mien.io import read_image
from tests.helpers import ROOT, SAMPLES, uvicorn_in_thread

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium)"
)


@pytest.fixture(scope="module")
def server():
    from mien.service import ServiceSettings, create_app

    with uvicorn_in_thread(create_app(ServiceSettings(pose=False))) as port:
        yield f"http://127.0.0.1:{port}"


def y4m_camera(path: Path, frames: int = 12) -> Path:
    """A 320×240 .y4m "camera" showing Grace Hopper (Chromium's fake-camera file format)."""
    img = cv2.resize(read_image(SAMPLES / "grace_hopper.jpg")[60:420, 80:440], (240, 240))
    scene = np.full((240, 320, 3), 90, np.uint8)
    scene[:, 40:280] = img
    yuv = cv2.cvtColor(scene, cv2.COLOR_BGR2YUV_I420).tobytes()
    with open(path, "wb") as f:
        f.write(b"YUV4MPEG2 W320 H240 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(frames):
            f.write(b"FRAME\n" + yuv)
    return path


def camera_args(tmp_path: Path) -> list[str]:
    """Chromium's arguments with a fake camera showing Grace Hopper (:func:`y4m_camera`) and
    its permission granted."""
    camera = y4m_camera(tmp_path / "camera.y4m")
    return [
        *ARGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}",
    ]


def test_upload_a_photo_and_see_the_result(server):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.goto(server)
        assert "Nothing is stored on the server" in page.inner_text("#privacy")
        page.set_input_files("#file", str(SAMPLES / "grace_hopper.jpg"))
        page.wait_for_selector("body[data-analysed='1']", timeout=30_000)
        assert page.inner_text("#face-count") == "1"
        assert page.inner_text("#results tr:nth-child(2) td:first-child") == "1"  # face number
        assert page.inner_text("#results td.label") in {
            "neutral",
            "happiness",
            "sadness",
            "surprise",
            "anger",
            "disgust",
            "fear",
            "contempt",
        }
        # the overlay was drawn: the canvas holds the photo size and orange box pixels
        assert page.evaluate(
            "[document.getElementById('canvas').width, document.getElementById('canvas').height]"
        ) == [512, 600]
        orange = page.evaluate(
            """() => { const c = document.getElementById('canvas').getContext('2d');
                 const d = c.getImageData(0, 0, 512, 600).data; let n = 0;
                 for (let i = 0; i < d.length; i += 4)
                   if (d[i] > 230 && d[i+1] > 150 && d[i+1] < 180 && d[i+2] < 20) n++;
                 return n; }"""
        )
        assert orange > 200
        page.screenshot(path=str(ARTIFACTS / "page_upload.png"), full_page=True)
        browser.close()


def test_live_camera_streams_results(server, tmp_path):
    from playwright.sync_api import sync_playwright

    args = camera_args(tmp_path)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        page = browser.new_page()
        blocked: list[str] = []  # the page's Content-Security-Policy must not block itself
        page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else 0)
        page.goto(server)
        assert page.is_hidden("#notice")
        page.focus("#camera")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "() => Number(document.body.dataset.liveFrames || 0) >= 3", timeout=60_000
        )
        assert page.evaluate("document.activeElement.id") == "stop"  # focus follows the button
        assert page.is_visible("#notice") and "analysis active" in page.inner_text("#notice")
        assert int(page.inner_text("#face-count")) >= 1
        # live: the table shows each face's track and its smoothed label, as the canvas does
        assert "smoothed per track" in page.inner_text("#results")
        assert page.inner_text("#results tr:nth-child(2) td:first-child").startswith("#")
        # a table every frame is not read aloud; the status says the faces and their labels,
        # and changes only when they do (it had said each frame's number, 10 times a second)
        assert page.get_attribute("#results", "aria-live") == "off"
        assert page.inner_text("#status").startswith("Live: 1 face(s): #1 ")
        page.evaluate(
            """window.changes = 0; new MutationObserver(() => window.changes++).observe(
                 document.getElementById('status'), {childList: true, subtree: true,
                 characterData: true});"""
        )
        start = int(page.evaluate("document.body.dataset.liveFrames"))
        page.wait_for_function(f"() => Number(document.body.dataset.liveFrames) >= {start + 10}")
        assert page.evaluate("window.changes") <= 2  # the still photo's label may settle once
        page.screenshot(path=str(ARTIFACTS / "page_camera.png"), full_page=True)
        page.keyboard.press("Enter")  # on "Stop camera", which has the focus
        assert page.is_hidden("#notice")
        assert page.evaluate("document.activeElement.id") == "camera"
        assert page.get_attribute("#results", "aria-live") == "polite"
        assert blocked == []
        browser.close()


@contextlib.contextmanager
def opened(server):
    """The page at ``server`` in headless Chromium (no camera); closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.goto(server)
        yield page
        browser.close()


def test_the_page_shows_values_as_the_server_rounds_them_and_never_as_markup(server):
    with opened(server) as page:
        page.wait_for_function("() => abstainBelow === 0.5")  # from /v1/model
        # rounded down, as the server's values are: 0.498 never shows 0.50 beside "abstained"
        assert page.evaluate("[shown(0.49808), shown(0.57), shown(1), shown(0.999999)]") == [
            "0.49",
            "0.57",
            "1.00",
            "0.99",
        ]
        # live mode shows the smoothed label: abstained is judged by it, not by the frame's
        face = {
            "face": 0,
            "track_id": 1,
            "abstained": False,
            "quality_ok": True,
            "probabilities": {"happiness": 0.9, "neutral": 0.1},
            "smoothed": {"happiness": 0.45, "<b>odd</b>": 0.55},
        }
        page.evaluate("f => showTable([f])", face)
        assert page.inner_text("#results tr:nth-child(2) td:nth-child(2)") == "<b>odd</b>"
        assert page.inner_text("#results tr:nth-child(2) td:nth-child(4)") == "no"
        face["smoothed"] = {"happiness": 0.45, "neutral": 0.3, "sadness": 0.25}
        page.evaluate("f => showTable([f])", face)
        assert page.inner_text("#results tr:nth-child(2) td:nth-child(3)") == "0.45"
        assert page.inner_text("#results tr:nth-child(2) td:nth-child(4)") == "abstained"


def test_the_page_says_plainly_when_the_server_is_gone_or_answers_plain_text(server):
    with opened(server) as page:
        page.route("**/v1/analyze", lambda route: route.abort())  # the server went away
        page.set_input_files("#file", str(SAMPLES / "grace_hopper.jpg"))
        page.wait_for_function(
            "() => document.getElementById('status').innerText.startsWith('Error')"
        )
        assert "the server cannot be reached" in page.inner_text("#status")
        page.unroute("**/v1/analyze")
        page.route(  # uvicorn's own refusal is plain text, not JSON
            "**/v1/analyze",
            lambda route: route.fulfill(status=400, body="Invalid HTTP request received."),
        )
        page.set_input_files("#file", str(SAMPLES / "grace_hopper.jpg"))
        page.wait_for_function(
            "() => document.getElementById('status').innerText.includes('Invalid')"
        )
        assert page.inner_text("#status") == "Error: Invalid HTTP request received."


def test_a_format_the_browser_cannot_show_is_still_analysed_and_errors_clear_old_results(
    server, tmp_path
):
    from PIL import Image
    from playwright.sync_api import sync_playwright

    tiff = tmp_path / "hopper.tif"
    Image.open(SAMPLES / "grace_hopper.jpg").save(tiff)  # Chromium cannot decode TIFF
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.goto(server)
        page.set_input_files("#file", str(tiff))
        page.wait_for_selector("body[data-analysed='1']", timeout=30_000)
        assert page.inner_text("#face-count") == "1"
        assert "cannot display the image" in page.inner_text("#status")
        page.set_input_files("#file", str(broken))
        page.wait_for_function(
            "() => document.getElementById('status').innerText.startsWith('Error')"
        )
        assert page.inner_text("#results") == ""  # the TIFF's results are gone
        assert page.evaluate("document.body.dataset.analysed") is None
        browser.close()


def test_the_api_docs_render_with_no_request_to_another_host(server):
    """Swagger UI came from a CDN (a blank page offline, and a visit told the CDN); now it
    renders from the package and every request the browser makes stays here. ReDoc is off:
    even with its script served here it fetched its logo from cdn.redoc.ly."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        page.goto(f"{server}/docs")
        page.wait_for_selector('[data-path="/v1/analyze"]', timeout=30_000)
        paths = page.evaluate(
            "Array.from(document.querySelectorAll('.opblock-summary-path'))"
            ".map(e => e.getAttribute('data-path'))"
        )
        assert page.goto(f"{server}/redoc").status == 404
        browser.close()
    assert sorted(paths) == ["/v1/analyze", "/v1/health", "/v1/model"]
    assert requested and all(u.startswith(server) for u in requested), requested


def test_bars_stay_on_the_canvas_and_off_the_other_faces(server):
    """A face at the right edge had its probability bars drawn off the canvas (x + w + 4); in
    a crowd each face's bars covered its neighbours. Placed as the annotator's bar_panels."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.goto(server)
        placed = page.evaluate(
            """() => { canvas.width = 300; canvas.height = 200;
                 const out = [barPanels([[20, 10, 70, 60]], 8), barPanels([[250, 10, 300, 60]], 8),
                              barPanels([[0, 10, 300, 60]], 8), barPanels([[10, 190, 30, 200]], 8)];
                 canvas.width = 640; canvas.height = 360;
                 out.push(barPanels([[100, 100, 200, 200], [210, 100, 310, 200]], 8));
                 canvas.width = 48; canvas.height = 48;
                 out.push(barPanels([[0, 0, 48, 48]], 8));
                 return out; }"""
        )
        browser.close()
    assert placed[:4] == [[[74, 10]], [[154, 10]], [[0, 64]], [[34, 120]]]  # below a wide face
    assert placed[4] == [[4, 100], [314, 100]]  # the left face's bars not over its neighbour
    assert placed[5] == [None]  # no room on 48 px
    # the same places as the annotator's rule (label band 18 px)
    from mien.annotate.draw import bar_panels

    boxes = np.array([[100, 100, 200, 200], [210, 100, 310, 200]], float)
    assert bar_panels(boxes, (92, 80), 640, 360, label_h=18) == [(4, 100), (314, 100)]


def test_only_the_newest_photo_answers_and_a_photo_stops_the_camera(server, tmp_path):
    """A slow photo's answer arriving after a newer photo's drew the old faces and table over
    the new photo; a photo chosen while the camera ran was drawn over by the next frame."""
    from playwright.sync_api import sync_playwright

    args = camera_args(tmp_path)
    blank = tmp_path / "blank.png"  # no face: the newer photo
    cv2.imwrite(str(blank), np.full((120, 160, 3), 128, np.uint8))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        page = browser.new_page()
        # the first analysis answers 2 s late, as a large photo's would
        page.add_init_script(
            """(() => { const real = window.fetch; let calls = 0;
                 window.fetch = async (...a) => {
                   const first = a[0] === "/v1/analyze" && ++calls === 1;
                   const r = await real(...a);
                   if (first) await new Promise(s => setTimeout(s, 2000));
                   return r; }; })();"""
        )
        page.goto(server)
        page.set_input_files("#file", str(SAMPLES / "grace_hopper.jpg"))
        page.set_input_files("#file", str(blank))
        page.wait_for_selector("body[data-analysed='0']", timeout=30_000)
        page.wait_for_timeout(3000)  # past the late answer
        assert page.evaluate("document.body.dataset.analysed") == "0"
        assert page.inner_text("#results") == "No face found."
        assert "0 face(s)" in page.inner_text("#status")
        assert page.evaluate("[canvas.width, canvas.height]") == [320, 240]  # drawn 2x
        page.click("#camera")
        page.wait_for_function(
            "() => Number(document.body.dataset.liveFrames || 0) >= 1", timeout=60_000
        )
        page.set_input_files("#file", str(SAMPLES / "grace_hopper.jpg"))
        page.wait_for_selector("body[data-analysed='1']", timeout=30_000)
        assert page.is_hidden("#notice") and page.is_visible("#camera")  # the camera stopped
        page.wait_for_timeout(500)
        assert page.evaluate("[canvas.width, canvas.height]") == [512, 600]  # still the photo
        browser.close()


def test_a_small_photo_is_drawn_enlarged_so_its_label_fits(server, tmp_path):
    """On a 48 px crop the canvas label read "1 happ" and no bars fitted."""
    from playwright.sync_api import sync_playwright

    face = cv2.resize(read_image(SAMPLES / "grace_hopper.jpg")[40:480, 40:480], (64, 64))
    crop = tmp_path / "crop.png"
    cv2.imwrite(str(crop), face)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.goto(server)
        assert page.evaluate(
            "[enlargement(48, 48), enlargement(320, 200), enlargement(16, 1200)]"
        ) == [
            7,
            1,
            1,
        ]
        page.set_input_files("#file", str(crop))
        page.wait_for_function("() => document.body.dataset.analysed !== undefined", timeout=30_000)
        assert page.evaluate("[canvas.width, canvas.height]") == [320, 320]  # 64 px, 5 times
        browser.close()


def test_a_photo_chosen_while_the_camera_starts_cancels_the_camera(server, tmp_path):
    """With the camera's permission prompt still open, a photo chosen meanwhile was analysed
    and then the camera started anyway, its live view taking over the photo's results."""
    from playwright.sync_api import sync_playwright

    args = camera_args(tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        page = browser.new_page()
        page.add_init_script(  # the permission prompt: the camera answers 2.5 s late
            """(() => { const md = navigator.mediaDevices, real = md.getUserMedia.bind(md);
                 md.getUserMedia = async c => {
                   await new Promise(s => setTimeout(s, 2500)); return real(c); }; })();"""
        )
        page.goto(server)
        page.click("#camera")
        page.wait_for_timeout(300)
        page.set_input_files("#file", str(SAMPLES / "grace_hopper.jpg"))
        page.wait_for_selector("body[data-analysed='1']", timeout=30_000)
        page.wait_for_timeout(4000)  # past the camera's late answer
        assert page.is_hidden("#notice") and page.is_visible("#camera") and page.is_hidden("#stop")
        assert page.evaluate("document.body.dataset.liveFrames") is None  # no frame was sent
        assert page.evaluate("[canvas.width, canvas.height]") == [512, 600]
        browser.close()


def test_two_camera_clicks_then_stop_leave_no_camera_running(server, tmp_path):
    """A second click while the first camera's video was starting orphaned the first camera:
    after Stop its light stayed on (a live track) until the page was reloaded."""
    from playwright.sync_api import sync_playwright

    args = camera_args(tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        page = browser.new_page()
        page.add_init_script(  # every camera stream kept for the check; play() starts slowly
            """(() => { window.__streams = [];
                 const md = navigator.mediaDevices, real = md.getUserMedia.bind(md);
                 md.getUserMedia = async c => { const s = await real(c);
                   window.__streams.push(s); return s; };
                 const play = HTMLMediaElement.prototype.play;
                 HTMLMediaElement.prototype.play = async function () {
                   await new Promise(r => setTimeout(r, 1500)); return play.call(this); };
               })();"""
        )
        page.goto(server)
        page.evaluate("document.getElementById('camera').click()")
        page.wait_for_function("() => window.__streams.length === 1", timeout=30_000)
        page.evaluate("document.getElementById('camera').click()")  # while the video starts
        page.wait_for_function(
            "() => Number(document.body.dataset.liveFrames || 0) >= 1", timeout=60_000
        )
        page.click("#stop")
        live = page.evaluate(
            "window.__streams.flatMap(s => s.getTracks()).filter(t => t.readyState === 'live')"
            ".length"
        )
        assert page.evaluate("window.__streams.length") == 2 and live == 0
        browser.close()


def test_a_camera_refused_after_a_photo_was_chosen_leaves_the_photos_status(server):
    """Denying the prompt of a camera start the photo had cancelled replaced "Done: 1
    face(s)." with "Camera error: NotAllowedError"."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.add_init_script(  # the user denies the prompt 1.5 s after the click
            """navigator.mediaDevices.getUserMedia = () => new Promise((_, no) => setTimeout(
                 () => no(new DOMException("denied", "NotAllowedError")), 1500));"""
        )
        page.goto(server)
        page.click("#camera")
        page.set_input_files("#file", str(SAMPLES / "grace_hopper.jpg"))
        page.wait_for_selector("body[data-analysed='1']", timeout=30_000)
        page.wait_for_timeout(2500)
        assert page.inner_text("#status").startswith("Done: 1 face(s)")
        browser.close()


def test_the_photo_button_works_from_the_keyboard_and_every_value_is_text(server):
    """The file input was display:none: Tab skipped "Analyse a photo" and screen readers saw
    plain text; the table gave the probabilities only as bar widths; and choosing the same
    photo again (a retry after "busy") sent nothing."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.add_init_script(
            """(() => { const real = window.fetch; window.analyses = 0;
                 window.fetch = (...a) => {
                   if (a[0] === "/v1/analyze") window.analyses += 1;
                   return real(...a); }; })();"""
        )
        page.goto(server)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "file"
        assert page.get_by_role("button", name="Analyse a photo").count() == 1
        # (Enter on it opens the picker; headless Chromium does not always report the picker
        # to Playwright, so the file is set directly)
        page.set_input_files("#file", str(SAMPLES / "grace_hopper.jpg"))
        page.wait_for_selector("body[data-analysed='1']", timeout=30_000)
        headers = page.eval_on_selector_all("#results th", "hs => hs.map(h => h.textContent)")
        assert headers == ["face", "label", "p", "abstained", "quality", "probabilities"]
        values = page.eval_on_selector_all(
            "#results .probability", "ps => ps.map(p => p.textContent.trim())"
        )
        assert len(values) == 8 and values[6].startswith("neutral ")
        probs = {v.split()[0]: float(v.split()[-1]) for v in values}
        top = page.inner_text("#results tr:nth-child(2) td:nth-child(3)")
        assert probs["neutral"] == float(top)
        assert 1 - 8 * 0.01 <= sum(probs.values()) <= 1  # 8 values rounded down to 0.01
        page.evaluate("delete document.body.dataset.analysed")
        page.set_input_files("#file", str(SAMPLES / "grace_hopper.jpg"))  # the same photo again
        page.wait_for_selector("body[data-analysed='1']", timeout=30_000)
        assert page.evaluate("window.analyses") == 2
        assert page.get_by_role("img", name="image with the analysis drawn over it").count() == 1
        browser.close()
