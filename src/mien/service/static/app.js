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
let sentAt = 0;  // when the frame awaiting its answer was sent (ms)
let abstainBelow = 0.5;  // the model's abstain threshold (GET /v1/model says it)

// a probability to 2 decimals rounded down, as the server rounds its values down: one just
// under the 0.5 threshold never shows "0.50" beside "abstained" (the epsilon undoes binary
// fractions: 0.57 * 100 is 56.99…)
function shown(p) { return (Math.floor(p * 100 + 1e-9) / 100).toFixed(2); }

// a face's label and its probability as the page shows them: the smoothed ones in live mode
function topOf(f) {
  return Object.entries(f.smoothed || f.probabilities).sort((a, b) => b[1] - a[1])[0];
}

// abstained, as the page shows it: in live mode the smoothed label is shown, so it is judged
// by the smoothed probability (and this frame's quality); a photo's by the server's flag
function isAbstained(f) {
  return f.smoothed ? topOf(f)[1] < abstainBelow || f.quality_ok === false : f.abstained;
}

function overlay(result) {
  if (result) drawFaces(result.faces, canvas.width / result.image_width, canvas.height / result.image_height);
}

function setStatus(text) { statusEl.textContent = text; }

function drawFaces(faces, scaleX, scaleY) {
  ctx.lineWidth = 2;
  ctx.font = "14px system-ui, sans-serif";
  const boxes = faces.map(f => [f.x1 * scaleX, f.y1 * scaleY, f.x2 * scaleX, f.y2 * scaleY]);
  const rows = faces.length ? Object.keys(faces[0].smoothed || faces[0].probabilities).length : 0;
  const panels = barPanels(boxes, rows);
  faces.forEach((f, i) => {
    const [x, y, x2, y2] = boxes[i];
    ctx.strokeStyle = isAbstained(f) ? "#999" : "#f0a000";
    ctx.strokeRect(x, y, x2 - x, y2 - y);
    const probs = f.smoothed || f.probabilities;
    const top = topOf(f);
    const text = faceTag(f) + " " + top[0] + " " + shown(top[1]) + (isAbstained(f) ? " ?" : "");
    ctx.fillStyle = "rgba(0,0,0,0.65)";
    ctx.fillRect(x, Math.max(0, y - 18), ctx.measureText(text).width + 8, 18);
    ctx.fillStyle = "white";
    ctx.fillText(text, x + 4, Math.max(13, y - 5));
    let row = 0;
    for (const [label, p] of panels[i] ? Object.entries(probs) : []) {
      const [px, py] = panels[i];
      const bx = px, by = py + row * 10;
      ctx.fillStyle = "rgba(40,40,40,0.6)"; ctx.fillRect(bx, by, 60, 8);
      ctx.fillStyle = "#f0a000"; ctx.fillRect(bx, by, 60 * p, 8);
      ctx.fillStyle = "white"; ctx.font = "9px system-ui"; ctx.fillText(label.slice(0, 4), bx + 62, by + 8);
      row += 1;
    }
    ctx.font = "14px system-ui, sans-serif";
  });
}

// where each face's bars go, as the annotator's bar_panels places them: right of its box, left
// of it, below it, or inside its top-right corner, each moved onto the canvas; the first that
// overlaps no other face's box or label (18 px above it) nor bars already placed, and sits
// nearer its own face than any other; else the one overlapping them least (in a crowd the
// bars were drawn over the neighbours). null on a canvas too small to hold them (a 48 px crop:
// the table below still lists every value)
const PANEL_W = 92, LABEL_H = 18;
function barPanels(boxes, rows) {
  const w = PANEL_W, h = rows * 10;
  if (canvas.width < w || canvas.height < h) return boxes.map(() => null);
  const labelled = boxes.map(([x1, y1, x2, y2]) => [x1, y1 - LABEL_H, x2, y2]);
  const placed = [];
  const gap = (a, b) =>
    Math.hypot(Math.max(0, b[0] - a[2], a[0] - b[2]), Math.max(0, b[1] - a[3], a[1] - b[3]));
  const cost = (x, y, own) => {
    let area = 0;
    for (const o of labelled.filter((_, j) => j !== own).concat(placed))
      area += Math.max(0, Math.min(x + w, o[2]) - Math.max(x, o[0])) *
              Math.max(0, Math.min(y + h, o[3]) - Math.max(y, o[1]));
    const panel = [x, y, x + w, y + h], mine = gap(panel, boxes[own]);
    if (boxes.some((b, j) => j !== own && gap(panel, b) < mine)) area += w * h / 2;
    return area;
  };
  return boxes.map(([x1, y1, x2, y2], i) => {
    const top = Math.max(0, y1);
    const options = [[x2 + 4, top], [x1 - w - 4, top], [x1, y2 + 4], [x2 - w - 2, top + 2]];
    const inside = options.map(([x, y]) => [
      Math.min(Math.max(0, x), Math.max(0, canvas.width - w)),
      Math.min(Math.max(0, y), Math.max(0, canvas.height - h))]);
    const costs = inside.map(([x, y]) => cost(x, y, i));
    let best = costs.findIndex((c, k) =>
      c === 0 && inside[k][0] === options[k][0] && inside[k][1] === options[k][1]);
    if (best < 0) best = costs.indexOf(Math.min(...costs));
    const [x, y] = inside[best].map(Math.round);
    placed.push([x, y, x + w, y + h]);
    return [x, y];
  });
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

// an element with text (never parsed as HTML: label names come from the model's spec)
function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text != null) e.textContent = text;
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function showTable(faces) {
  if (!faces.length) { resultsEl.replaceChildren(el("p", "No face found.")); return; }
  // live answers carry probabilities smoothed per track: the table shows what the canvas shows
  const live = faces.some(f => f.smoothed);
  const count = el("p");
  count.append(el("span", String(faces.length), { id: "face-count" }),
    " face(s) — perceived expression" + (live ? ", smoothed per track (time constant 0.5 s)" : ""));
  const table = el("table");
  const head = el("tr");
  for (const h of [live ? "track" : "face", "label", "p", "abstained", "quality", "probabilities"])
    head.append(el("th", h));
  table.append(head);
  for (const f of faces) {
    const [label, p] = topOf(f);
    const quality = f.quality_ok === false ? "low quality" : f.quality_ok ? "ok" : "not measured";
    const row = el("tr");
    row.append(el("td", faceTag(f)), el("td", label, { class: "label" }), el("td", shown(p)),
      el("td", isAbstained(f) ? "abstained" : "no"), el("td", quality));
    const cell = el("td");
    // every value as text (screen readers, copying); the bar only repeats it
    Object.entries(f.smoothed || f.probabilities).forEach(([l, q], k) => {
      const bar = el("span", null, { class: "bar", "aria-hidden": "true" });
      bar.style.width = Math.round(60 * q) + "px";
      const value = el("span", l + " ", { class: "probability" });
      value.append(bar, shown(q));
      if (k) cell.append(" ");
      cell.append(value);
    });
    row.append(cell);
    table.append(row);
  }
  resultsEl.replaceChildren(count, table);
}

// what went wrong with a request, in words for the page: the server's JSON detail, or its
// plain text (uvicorn's own 400), or the status
async function failure(response) {
  const text = await response.text();
  let detail = text.trim() || `HTTP ${response.status}`;
  try { detail = JSON.parse(text).detail || detail; } catch { /* not JSON: the text itself */ }
  return detail;
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
  let response;
  try {
    response = await fetch("/v1/analyze", { method: "POST", body, signal });
  } catch (err) {  // fetch itself failed: the network, not the page (an abort: a newer photo)
    if (err.name === "AbortError") throw err;
    if (run === fileRun) setStatus("Error: the server cannot be reached (is mien serve still running?)");
    return;
  }
  if (!response.ok) {
    const detail = await failure(response);
    if (run === fileRun) setStatus("Error: " + detail);  // else a newer photo's answer counts
    return;
  }
  const result = await response.json();
  if (run !== fileRun) return;  // a newer photo was chosen meanwhile: its answer is the one
  if (shown) drawFaces(result.faces, canvas.width / result.image_width, canvas.height / result.image_height);
  showTable(result.faces);
  setStatus(`Done: ${result.faces.length} face(s).` + (shown ? "" : " This browser cannot display the image; the results are in the table."));
  document.body.dataset.analysed = String(result.faces.length);
}

document.getElementById("file").addEventListener("change", e => {
  if (!e.target.files.length) return;
  const file = e.target.files[0];
  e.target.value = "";  // choosing the same photo again (a retry after "busy") is a new change
  cameraWanted += 1;  // a camera still starting (its permission prompt open) is not wanted now
  if (socket || stream) stopCamera();  // the live view would draw over the photo's results
  analyseFile(file).catch(err => {
    if (err.name !== "AbortError") setStatus("Error: " + err);  // aborted: a newer photo
  });
});

// the next camera frame: only a new one is worth sending (a 10 fps camera was sent 44 a second)
function nextVideoFrame(callback) {
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => callback());
  else requestAnimationFrame(callback);
}

// the camera frame awaiting its answer: the answer's boxes are drawn on this frame, not on
// the newer one the video shows by then (they lagged behind a moving head)
const sent = document.createElement("canvas");

function sendFrame() {
  if (!socket || socket.readyState !== WebSocket.OPEN || waiting || !video.videoWidth) return;
  sent.width = video.videoWidth; sent.height = video.videoHeight;
  sent.getContext("2d").drawImage(video, 0, 0);
  waiting = true; sentAt = Date.now();
  sent.toBlob(blob => { if (socket && blob) socket.send(blob); else waiting = false; }, "image/jpeg", 0.8);
}

function showAnalysedFrame(result) {
  canvas.width = sent.width; canvas.height = sent.height;
  ctx.drawImage(sent, 0, 0);
  overlay(result);
}

let cameraWanted = 0;  // the newest camera start; a photo chosen meanwhile cancels it
let spoken = "";  // the live status last shown: it changes only when faces or labels do

async function startCamera() {
  const want = ++cameraWanted;
  fileRun += 1;  // a photo still being analysed must not draw over the live view
  if (fileAbort) fileAbort.abort();
  let got;
  try {
    got = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (err) {
    if (want !== cameraWanted) return;  // a start no longer wanted: its refusal says nothing
    throw err;
  }
  // a later photo or camera click wins: this start's camera is stopped, never left running
  const dropped = () => {
    got.getTracks().forEach(t => t.stop());
    if (stream === got) stream = null;
  };
  if (want !== cameraWanted) { dropped(); return; }
  stream = got;
  video.srcObject = stream;
  await video.play();
  if (want !== cameraWanted) { dropped(); return; }
  notice.hidden = false;
  const focused = document.activeElement === cameraBtn;
  cameraBtn.hidden = true; stopBtn.hidden = false;
  if (focused) stopBtn.focus();  // a hidden button loses the focus to the page
  // a frame's table every 0.1 s is not read aloud; the status says when faces or labels change
  resultsEl.setAttribute("aria-live", "off");
  spoken = "";
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/v1/stream`);
  socket.binaryType = "arraybuffer";
  let frames = 0;
  socket.onmessage = event => {
    waiting = false;
    const result = JSON.parse(event.data);
    if (result.error) {  // e.g. busy: say so, and try again shortly rather than stop
      setStatus("Error: " + result.detail + " (retrying)");
      spoken = "";  // the next frame's status replaces this one
      setTimeout(sendFrame, 1000);
      return;
    }
    frames += 1;
    showAnalysedFrame(result);
    showTable(result.faces);
    const said = `Live: ${result.faces.length} face(s)` + result.faces.map(f =>
      (f === result.faces[0] ? ": " : ", ") + faceTag(f) + " " +
      (isAbstained(f) ? "uncertain" : topOf(f)[0])).join("") + ".";
    if (said !== spoken) { spoken = said; setStatus(said); }
    document.body.dataset.liveFrames = String(frames);
    nextVideoFrame(sendFrame);
  };
  socket.onopen = () => { setStatus("Live."); sendFrame(); };
  const mine = socket;
  socket.onclose = event => {
    if (socket !== mine) return;  // closed by stopCamera
    stopCamera();  // the server went away: stop the camera and take the notice down
    const why = event.reason ? ` (${event.reason})` : "";
    setStatus(event.code === 1013  // busy: every live-stream slot is taken
      ? `The server is busy${why}; camera stopped: try again in a moment.`
      : `The connection to the server closed${why}; camera stopped.`);
  };
}

// an answer that never comes (a lost message, a stalled server): send again after 10 s
setInterval(() => {
  if (waiting && socket && Date.now() - sentAt > 10000) {
    waiting = false;
    setStatus("No answer for 10 s (retrying)");
    spoken = "";
    sendFrame();
  }
}, 2000);

function stopCamera() {
  const closing = socket;
  socket = null;
  if (closing) closing.close();
  setStatus("Camera stopped.");
  if (stream) stream.getTracks().forEach(t => t.stop());
  stream = null;
  notice.hidden = true;
  const focused = document.activeElement === stopBtn;
  cameraBtn.hidden = false; stopBtn.hidden = true;
  if (focused) cameraBtn.focus();
  resultsEl.setAttribute("aria-live", "polite");
}

cameraBtn.addEventListener("click", () => startCamera().catch(err => setStatus("Camera error: " + err)));
stopBtn.addEventListener("click", stopCamera);
fetch("/v1/model").then(r => r.json()).then(m => {
  document.getElementById("model").textContent = `model ${m.name}, mien ${m.version}`;
  if (typeof m.abstain_threshold === "number") abstainBelow = m.abstain_threshold;
}).catch(() => {});
