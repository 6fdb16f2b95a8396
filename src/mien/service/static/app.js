// mien web page: upload a photo or stream the camera; draw boxes, labels and probability bars.
"use strict";
const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const statusEl = document.getElementById("status");
const resultsEl = document.getElementById("results");
const notice = document.getElementById("notice");
const video = document.getElementById("video");
const cameraBtn = document.getElementById("camera");
const stopBtn = document.getElementById("stop");
let socket = null;
let stream = null;
let waiting = false;
let lastResult = null;
let sentAt = 0;  // when the frame awaiting its answer was sent (ms)

function overlay(result) {
  if (result) drawFaces(result.faces, canvas.width / result.image_width, canvas.height / result.image_height);
}

function setStatus(text) { statusEl.textContent = text; }

function drawFaces(faces, scaleX, scaleY) {
  ctx.lineWidth = 2;
  ctx.font = "14px system-ui, sans-serif";
  for (const f of faces) {
    const x = f.x1 * scaleX, y = f.y1 * scaleY, w = (f.x2 - f.x1) * scaleX, h = (f.y2 - f.y1) * scaleY;
    ctx.strokeStyle = f.abstained ? "#999" : "#f0a000";
    ctx.strokeRect(x, y, w, h);
    const probs = f.smoothed || f.probabilities;
    const top = Object.entries(probs).sort((a, b) => b[1] - a[1])[0];
    const text = faceTag(f) + " " + top[0] + " " + top[1].toFixed(2) + (f.abstained ? " ?" : "");
    ctx.fillStyle = "rgba(0,0,0,0.65)";
    ctx.fillRect(x, Math.max(0, y - 18), ctx.measureText(text).width + 8, 18);
    ctx.fillStyle = "white";
    ctx.fillText(text, x + 4, Math.max(13, y - 5));
    const place = barPanel(x, y, w, Object.keys(probs).length);
    let row = 0;
    for (const [label, p] of place ? Object.entries(probs) : []) {
      const [px, py] = place;
      const bx = px, by = py + row * 10;
      ctx.fillStyle = "rgba(40,40,40,0.6)"; ctx.fillRect(bx, by, 60, 8);
      ctx.fillStyle = "#f0a000"; ctx.fillRect(bx, by, 60 * p, 8);
      ctx.fillStyle = "white"; ctx.font = "9px system-ui"; ctx.fillText(label.slice(0, 4), bx + 62, by + 8);
      row += 1;
    }
    ctx.font = "14px system-ui, sans-serif";
  }
}

// where a face's bars go: right of its box, else left of it, else inside it; always on the
// canvas (a face at the right edge had its bars drawn off it); null on a canvas too small to
// hold them (a 48 px crop: the table below still lists every value)
const PANEL_W = 92;
function barPanel(x, y, w, rows) {
  const h = rows * 10;
  if (canvas.width < PANEL_W || canvas.height < h) return null;
  let px = x + w + 4;
  if (px + PANEL_W > canvas.width) px = x - PANEL_W - 4;
  if (px < 0) px = Math.min(x + 2, canvas.width - PANEL_W);
  const py = Math.min(Math.max(0, y), Math.max(0, canvas.height - h));
  return [Math.max(0, px), py];
}

// the whole factor bringing a photo to 320 px wide, as far as its longer side stays within 2048
// px (the annotator's rule): on a 48 px crop the label read "1 happ"
function enlargement(width, height) {
  const wanted = Math.ceil(320 / Math.max(1, width));
  const allowed = Math.floor(2048 / Math.max(1, width, height));
  return Math.max(1, Math.min(wanted, allowed));
}

// the face's name on the canvas and in the table: its track in live mode, else its number
function faceTag(f) { return f.track_id != null ? "#" + f.track_id : String(f.face + 1); }

function showTable(faces) {
  if (!faces.length) { resultsEl.innerHTML = "<p>No face found.</p>"; return; }
  // live answers carry probabilities smoothed per track: the table shows what the canvas shows
  const live = faces.some(f => f.smoothed);
  const rows = faces.map(f => {
    const probs = f.smoothed || f.probabilities;
    const [label, p] = Object.entries(probs).sort((a, b) => b[1] - a[1])[0];
    const bars = Object.entries(probs).map(([l, q]) =>
      `<span title="${l} ${q.toFixed(3)}">${l} <span class="bar" style="width:${Math.round(60 * q)}px"></span></span>`).join(" ");
    return `<tr><td>${faceTag(f)}</td><td class="label">${label}</td><td>${p.toFixed(2)}</td>` +
      `<td>${f.abstained ? "abstained" : ""}</td><td>${f.quality_ok === false ? "low quality" : ""}</td><td>${bars}</td></tr>`;
  }).join("");
  resultsEl.innerHTML = `<p><span id="face-count">${faces.length}</span> face(s) — perceived expression` +
    (live ? ", smoothed per track (time constant 0.5 s)" : "") + `</p>` +
    `<table><tr><th>${live ? "track" : "face"}</th><th>label</th><th>p</th><th></th><th></th><th>probabilities</th></tr>${rows}</table>`;
}

let fileRun = 0;  // the newest upload; answers to older ones are dropped
let fileAbort = null;

async function analyseFile(file) {
  const run = ++fileRun;
  if (fileAbort) fileAbort.abort();  // a newer photo: the older request is not wanted
  fileAbort = new AbortController();
  const signal = fileAbort.signal;
  setStatus("Analysing…");
  resultsEl.innerHTML = "";  // never leave the previous file's results under this one's name
  canvas.width = 0; canvas.height = 0;
  delete document.body.dataset.analysed;
  const img = new Image();
  img.src = URL.createObjectURL(file);
  let shown = true;
  try { await img.decode(); } catch { shown = false; }  // e.g. TIFF: the server still reads it
  if (run !== fileRun) return;
  if (shown) {  // a small photo is drawn enlarged (whole pixels) so its labels and bars fit
    const k = enlargement(img.naturalWidth, img.naturalHeight);
    canvas.width = img.naturalWidth * k; canvas.height = img.naturalHeight * k;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  }
  const body = new FormData();
  body.append("file", file);
  const response = await fetch("/v1/analyze", { method: "POST", body, signal });
  const result = await response.json();
  if (run !== fileRun) return;  // a newer photo was chosen meanwhile: its answer is the one
  if (!response.ok) { setStatus("Error: " + result.detail); return; }
  if (shown) drawFaces(result.faces, canvas.width / result.image_width, canvas.height / result.image_height);
  showTable(result.faces);
  setStatus(`Done: ${result.faces.length} face(s).` + (shown ? "" : " This browser cannot display the image; the results are in the table."));
  document.body.dataset.analysed = String(result.faces.length);
}

document.getElementById("file").addEventListener("change", e => {
  if (!e.target.files.length) return;
  if (socket || stream) stopCamera();  // the live view would draw over the photo's results
  analyseFile(e.target.files[0]).catch(err => {
    if (err.name !== "AbortError") setStatus("Error: " + err);  // aborted: a newer photo
  });
});

// the next camera frame: only a new one is worth sending (a 10 fps camera was sent 44 a second)
function nextVideoFrame(callback) {
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => callback());
  else requestAnimationFrame(callback);
}

function sendFrame() {
  if (!socket || socket.readyState !== WebSocket.OPEN || waiting || !video.videoWidth) return;
  canvas.width = video.videoWidth; canvas.height = video.videoHeight;
  ctx.drawImage(video, 0, 0);
  waiting = true; sentAt = Date.now();
  canvas.toBlob(blob => { if (socket && blob) socket.send(blob); else waiting = false; }, "image/jpeg", 0.8);
  overlay(lastResult);  // keep the last answer on screen until the next one arrives
}

async function startCamera() {
  fileRun += 1;  // a photo still being analysed must not draw over the live view
  if (fileAbort) fileAbort.abort();
  stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  video.srcObject = stream;
  await video.play();
  notice.hidden = false;
  cameraBtn.hidden = true; stopBtn.hidden = false;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/v1/stream`);
  socket.binaryType = "arraybuffer";
  let frames = 0;
  socket.onmessage = event => {
    waiting = false;
    const result = JSON.parse(event.data);
    if (result.error) {  // e.g. busy: say so, and try again shortly rather than stop
      setStatus("Error: " + result.detail + " (retrying)");
      setTimeout(sendFrame, 1000);
      return;
    }
    frames += 1;
    lastResult = result;
    ctx.drawImage(video, 0, 0);
    overlay(result);
    showTable(result.faces);
    setStatus(`Live: frame ${result.frame_index}, ${result.faces.length} face(s).`);
    document.body.dataset.liveFrames = String(frames);
    nextVideoFrame(sendFrame);
  };
  socket.onopen = () => { setStatus("Live."); sendFrame(); };
  const mine = socket;
  socket.onclose = event => {
    if (socket !== mine) return;  // closed by stopCamera
    stopCamera();  // the server went away: stop the camera and take the notice down
    setStatus("The connection to the server closed" + (event.reason ? ` (${event.reason})` : "") +
      "; camera stopped.");
  };
}

// an answer that never comes (a lost message, a stalled server): send again after 10 s
setInterval(() => {
  if (waiting && socket && Date.now() - sentAt > 10000) {
    waiting = false;
    setStatus("No answer for 10 s (retrying)");
    sendFrame();
  }
}, 2000);

function stopCamera() {
  lastResult = null;
  const closing = socket;
  socket = null;
  if (closing) closing.close();
  setStatus("Camera stopped.");
  if (stream) stream.getTracks().forEach(t => t.stop());
  stream = null;
  notice.hidden = true;
  cameraBtn.hidden = false; stopBtn.hidden = true;
}

cameraBtn.addEventListener("click", () => startCamera().catch(err => setStatus("Camera error: " + err)));
stopBtn.addEventListener("click", stopCamera);
fetch("/v1/model").then(r => r.json()).then(m => {
  document.getElementById("model").textContent = `model ${m.name}, mien ${m.version}`;
}).catch(() => {});
