// sketch2face canvas page: draw, undo/redo, upload, live preview, downloads, accounts, history.
"use strict";

const sketch = document.getElementById("sketch");
const overlay = document.getElementById("overlay");
const ctx = sketch.getContext("2d", { willReadFrequently: true });
const faceImg = document.getElementById("face");
const statusLine = document.getElementById("status");
const $ = (id) => document.getElementById(id);

const state = {
  tool: "pen", drawing: false, last: null, undo: [], redo: [], inked: false,
  csrf: null, user: null, previewTimer: null, requestId: 0, faceUrl: null,
  live: null,  // a LivePreview (live.js) when the page can run the small model itself
  variation: 0,  // with "Real face parts": 0 the nearest parts, N the N-th next nearest ("Another face")
  // the bank face of the last composite (X-Base-Face): sent back while the drawing goes on, so the
  // person stays the same from stroke to stroke; forgotten for a new drawing, model or "Another face"
  baseFace: null,
  // the canvas holds a photo of a drawing whose grey paper the server whitened (/api/clean): sent with
  // every request so the drawing is still judged as photographed
  photographed: false,
  liveNote: null,  // what the page says about the in-browser preview, when it has one
};
const HISTORY_LIMIT = 50;

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

function clearCanvas() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, sketch.width, sketch.height);
}

function snapshot() {
  state.undo.push(ctx.getImageData(0, 0, sketch.width, sketch.height));
  if (state.undo.length > HISTORY_LIMIT) state.undo.shift();
  state.redo = [];
}

function restore(from, to) {
  if (!from.length) return;
  to.push(ctx.getImageData(0, 0, sketch.width, sketch.height));
  ctx.putImageData(from.pop(), 0, 0);
  state.inked = !isBlank();
  schedulePreview();
}

function isBlank() {
  const pixels = ctx.getImageData(0, 0, sketch.width, sketch.height).data;
  for (let i = 0; i < pixels.length; i += 4) if (pixels[i] < 245) return false;
  return true;
}

// Face guide: where the models expect eyes, nose and mouth (the canonical alignment geometry,
// CUFS framing: eyes at 51% of the height, nose base at 66%, mouth at 78%).
// Over it, optionally, a faint shadow of the face the live preview made from the drawing (as
// DeepFaceDrawing's shadow guide): draw over the face you are getting.
function drawGuide() {
  const g = overlay.getContext("2d");
  g.clearRect(0, 0, overlay.width, overlay.height);
  const live = state.live;
  if ($("shadow").checked && live && live.region && live.times.length) {
    g.globalAlpha = 0.3;
    g.drawImage(live.output, live.region.left, live.region.top, live.region.side, live.region.side);
    g.globalAlpha = 1;
  }
  if (!$("guide").checked) return;
  const w = overlay.width, h = overlay.height;
  g.strokeStyle = "rgba(30, 120, 255, 0.35)";
  g.setLineDash([6, 6]);
  g.lineWidth = 2;
  g.beginPath();
  g.ellipse(w * 0.5, h * 0.55, w * 0.27, h * 0.38, 0, 0, 2 * Math.PI);
  g.stroke();
  for (const [y, x0, x1] of [[0.51, 0.3, 0.7], [0.66, 0.44, 0.56], [0.78, 0.38, 0.62]]) {
    g.beginPath();
    g.moveTo(w * x0, h * y);
    g.lineTo(w * x1, h * y);
    g.stroke();
  }
}

function canvasPoint(event) {
  const rect = sketch.getBoundingClientRect();
  return { x: (event.clientX - rect.left) * sketch.width / rect.width,
           y: (event.clientY - rect.top) * sketch.height / rect.height };
}

function strokeTo(point) {
  const size = Number($("brush").value);
  ctx.strokeStyle = state.tool === "pen" ? "#111" : "#fff";
  ctx.lineWidth = state.tool === "pen" ? size : size * 4;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(state.last.x, state.last.y);
  ctx.lineTo(point.x, point.y);
  ctx.stroke();
  state.last = point;
}

sketch.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  sketch.setPointerCapture(event.pointerId);
  snapshot();
  state.drawing = true;
  state.last = canvasPoint(event);
  strokeTo({ x: state.last.x + 0.01, y: state.last.y });  // a click leaves a dot
});
sketch.addEventListener("pointermove", (event) => {
  if (!state.drawing) return;
  for (const e of event.getCoalescedEvents ? event.getCoalescedEvents() : [event]) strokeTo(canvasPoint(e));
  if (state.live && $("live").checked && !$("compose").checked) previewInPage();  // the face follows the pen
});
function endStroke() {
  if (!state.drawing) return;
  state.drawing = false;
  state.inked = state.tool === "pen" ? true : !isBlank();
  schedulePreview();
}
sketch.addEventListener("pointerup", endStroke);
sketch.addEventListener("pointercancel", endStroke);

function selectTool(tool) {
  state.tool = tool;
  $("pen").classList.toggle("active", tool === "pen");
  $("eraser").classList.toggle("active", tool === "eraser");
}
$("pen").onclick = () => selectTool("pen");
$("eraser").onclick = () => selectTool("eraser");
$("undo").onclick = () => restore(state.undo, state.redo);
$("redo").onclick = () => restore(state.redo, state.undo);
$("clear").onclick = () => {
  snapshot(); clearCanvas(); state.inked = false; state.baseFace = null; state.photographed = false;
  setStatus("Canvas cleared.");
};
$("guide").onchange = drawGuide;
$("shadow").onchange = drawGuide;
$("generate").onclick = () => generate();

document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "INPUT" || event.target.tagName === "SELECT") return;
  const mod = event.ctrlKey || event.metaKey;
  if (mod && event.key.toLowerCase() === "z" && !event.shiftKey) { event.preventDefault(); restore(state.undo, state.redo); }
  else if (mod && (event.key.toLowerCase() === "y" || (event.key.toLowerCase() === "z" && event.shiftKey))) {
    event.preventDefault(); restore(state.redo, state.undo);
  } else if (!mod && event.key.toLowerCase() === "p") selectTool("pen");
  else if (!mod && event.key.toLowerCase() === "e") selectTool("eraser");
});

// an image replaces the drawing (undoable), fitted to the canvas without stretching
function drawOnCanvas(bitmap, photographed = false) {
  snapshot();
  clearCanvas();
  const scale = Math.min(sketch.width / bitmap.width, sketch.height / bitmap.height);
  const w = bitmap.width * scale, h = bitmap.height * scale;
  ctx.drawImage(bitmap, (sketch.width - w) / 2, (sketch.height - h) / 2, w, h);
  state.inked = !isBlank();
  state.baseFace = null;
  state.photographed = photographed;
}

// example line drawings to start from (the freehand training procedure on CUFS training photos)
$("example").onchange = async (event) => {
  const choice = event.target.value;
  if (!choice) { $("clear").onclick(); return; }
  try {
    const reply = await fetch(`/static/examples/drawing-${choice}.png`);
    if (!reply.ok) throw new Error(reply.statusText);
    drawOnCanvas(await createImageBitmap(await reply.blob()));
    setStatus(`Example ${choice}: draw over it, erase parts, or press Generate.`);
    schedulePreview();
  } catch (error) {
    setStatus(`Could not load example ${choice} (${error.message}).`, true);
  }
};

// a 4xx/5xx answer becomes an Error carrying the server's JSON message ({"error": ...})
async function failOnError(response) {
  if (response.ok) return;
  const problem = await response.json().catch(() => ({ error: response.statusText }));
  throw new Error(problem.error || response.statusText);
}

// an upload goes onto the canvas as the server reads it (paper whitened, a notebook's rules erased), so
// the live preview and strokes drawn over it start from the drawing, not from a grey photo of it
$("upload").onchange = async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  event.target.value = "";
  setStatus(`Reading ${file.name}...`);
  try {
    const form = new FormData();
    form.append("image", file, file.name);
    const response = await fetch("/api/clean", { method: "POST", body: form, credentials: "same-origin" });
    await failOnError(response);
    const photographed = response.headers.get("X-Photographed") === "true";
    drawOnCanvas(await createImageBitmap(await response.blob()), photographed);
  } catch (error) {
    setStatus(`Could not use ${file.name}: ${error.message}`, true);
    return;
  }
  generate();
};

function schedulePreview() {
  if (!$("live").checked) return;
  // composing needs the server's bank of face parts, so those previews go through the server
  if (state.live && !$("compose").checked) { previewInPage(); return; }
  clearTimeout(state.previewTimer);  // no in-page model: preview through the server, once drawing pauses
  state.previewTimer = setTimeout(generate, 350);
}

async function previewInPage() {
  const id = state.requestId;
  try {
    const url = await state.live.run(sketch);
    if (!url || id !== state.requestId) return;  // blank, superseded, or a server result came meanwhile
    faceImg.src = url;
    drawGuide();  // the shadow follows the preview
    $("download-png").classList.add("disabled");  // downloads are of server results (with provenance)
    $("download-jpeg").classList.add("disabled");
    const ms = Math.round(state.live.times[state.live.times.length - 1]);
    setStatus(`Live preview in your browser (${state.live.info.model}, ${ms} ms). Generate for the full model.`);
  } catch (error) {
    state.live = null;  // no WebAssembly or the model would not load: preview through the server
    setStatus(`In-browser preview unavailable (${error.message}); previews go through the server.`, true);
  }
}

function canvasBlob() {
  return new Promise((resolve) => sketch.toBlob(resolve, "image/png"));
}

async function requestFace(format) {
  const form = new FormData();
  form.append("image", await canvasBlob(), "sketch.png");
  form.append("format", format);
  form.append("model", $("model").value);
  form.append("watermark", $("watermark").checked ? "true" : "false");
  form.append("fidelity", (Number($("fidelity").value) / 100).toFixed(2));
  form.append("compose", $("compose").checked ? "true" : "false");
  form.append("variation", String(state.variation));
  form.append("photographed", state.photographed ? "true" : "false");
  if (state.baseFace !== null) form.append("keep_base", String(state.baseFace));
  const headers = state.csrf ? { "X-CSRF-Token": state.csrf } : {};
  const response = await fetch("/api/generate", { method: "POST", body: form, headers, credentials: "same-origin" });
  await failOnError(response);
  const base = response.headers.get("X-Base-Face");
  state.baseFace = base === null || base === "" ? null : Number(base);
  return { blob: await response.blob(), composed: response.headers.get("X-Composed") === "true" };
}

async function generate() {
  if (!state.inked) { setStatus("The canvas is empty: draw a face first.", true); return; }
  const id = ++state.requestId;
  setStatus("Generating…");
  const started = performance.now();
  try {
    const { blob, composed } = await requestFace("png");
    if (id !== state.requestId) return;  // a newer stroke already asked again
    if (state.faceUrl) URL.revokeObjectURL(state.faceUrl);
    state.faceUrl = URL.createObjectURL(blob);
    faceImg.src = state.faceUrl;
    $("download-png").href = state.faceUrl;
    $("download-png").classList.remove("disabled");
    $("download-jpeg").classList.remove("disabled");
    const how = composed ? `; composed from real face parts, variation ${state.variation}` : "";
    setStatus(`Done in ${Math.round(performance.now() - started)} ms (${$("model").value}${how}). AI-generated likeness.`);
    if (state.user) loadHistory();
  } catch (error) {
    if (id === state.requestId) setStatus(error.message, true);
  }
}

$("download-jpeg").onclick = async (event) => {
  event.preventDefault();
  try {
    const url = URL.createObjectURL((await requestFace("jpeg")).blob);
    const link = document.createElement("a");
    link.href = url; link.download = "face.jpg";
    document.body.appendChild(link); link.click(); link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 5000);
  } catch (error) { setStatus(error.message, true); }
};

async function loadModels() {
  const response = await fetch("/api/models");
  const info = await response.json();
  const select = $("model");
  select.innerHTML = "";
  for (const name of info.models) {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name === info.default ? `${name} (default)` : name;
    option.selected = name === info.default;
    select.appendChild(option);
  }
  const composing = new Set(info.composing || []);
  const followModel = () => {  // each model's own default for "Real face parts"
    $("compose").checked = composing.has(select.value);
    $("another").hidden = !$("compose").checked;
    state.variation = 0;
    state.baseFace = null;
    showLiveNote();
  };
  followModel();
  select.onchange = () => { followModel(); schedulePreview(); };
}

// ------------------------------------------------------------------ accounts and history
async function account(path, body) {
  const response = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", ...(state.csrf ? { "X-CSRF-Token": state.csrf } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const reply = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(reply.error || response.statusText);
  return reply;
}

function showUser(name, csrf) {
  state.user = name; state.csrf = csrf || null;
  $("whoami").textContent = name ? `Logged in as ${name}` : "";
  $("login-form").hidden = !!name;
  $("logout").hidden = !name;
  $("delete-account").hidden = !name;
  $("history-panel").hidden = !name;
  if (name) loadHistory(); else $("history").innerHTML = "";
}

async function credentialsFrom(path) {
  try {
    const reply = await account(path, { username: $("username").value, password: $("password").value });
    $("password").value = "";
    showUser(reply.username, reply.csrf_token);
    setStatus(path.endsWith("signup") ? "Account created; your generations are now saved." : "Logged in.");
  } catch (error) { setStatus(error.message, true); }
}
$("login-form").onsubmit = (event) => { event.preventDefault(); credentialsFrom("/api/login"); };
$("signup").onclick = () => credentialsFrom("/api/signup");
$("logout").onclick = async () => {
  try { await account("/api/logout"); } catch (error) { /* already logged out */ }
  showUser(null);
  setStatus("Logged out.");
};

$("delete-account").onclick = async () => {
  const password = window.prompt("Delete your account and all its history? Enter your password to confirm.");
  if (!password) return;
  const response = await fetch("/api/account", {
    method: "DELETE", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": state.csrf },
    body: JSON.stringify({ password }),
  });
  if (response.ok) { showUser(null); setStatus("Account deleted."); }
  else setStatus((await response.json().catch(() => ({}))).error || "Could not delete the account.", true);
};

async function loadHistory() {
  const response = await fetch("/api/history", { credentials: "same-origin" });
  if (!response.ok) return;
  const { items } = await response.json();
  const list = $("history");
  list.innerHTML = "";
  for (const item of items) {
    const li = document.createElement("li");
    li.innerHTML = `<img alt="sketch" src="${item.sketch_url}"><img alt="face" src="${item.face_url}">`;
    const caption = document.createElement("span");
    caption.textContent = `${new Date(item.created).toLocaleString()} · ${item.model}`;
    const remove = document.createElement("button");
    remove.textContent = "Delete";
    remove.onclick = async () => {
      const reply = await fetch(`/api/history/${item.id}`, { method: "DELETE", credentials: "same-origin",
                                                             headers: { "X-CSRF-Token": state.csrf } });
      if (reply.ok) li.remove(); else setStatus("Could not delete that item.", true);
    };
    li.append(caption, remove);
    list.appendChild(li);
  }
}

async function init() {
  clearCanvas();
  drawGuide();
  await loadModels();
  const live = await (await fetch("/api/live")).json();
  if (live.available && typeof WebAssembly === "object") {
    const { LivePreview } = await import("/static/live.js");
    state.live = window.sketch2faceLive = new LivePreview(live);
    $("shadow-label").hidden = false;
    state.liveNote = `Live preview runs ${live.model} in this browser: what you draw stays on this page. ` +
      "Generate sends the drawing to the server for the full model.";
    showLiveNote();
  }
  const me = await (await fetch("/api/me", { credentials: "same-origin" })).json();
  showUser(me.username, me.csrf_token);
}
init();

$("fidelity").addEventListener("input", () => {
  $("fidelity-value").textContent = (Number($("fidelity").value) / 100).toFixed(2);
});
$("fidelity").addEventListener("change", () => { if (state.inked) schedulePreview(); });

function showLiveNote() {
  const note = $("live-note");
  if (!state.liveNote) return;  // no in-page preview: the page's own note (previews through the server) holds
  note.textContent = $("compose").checked
    ? "With Real face parts, previews go through the server, which holds the bank of face parts; " +
      "untick it for a live preview in this browser that never sends your drawing."
    : state.liveNote;
}

$("compose").addEventListener("change", () => {
  $("another").hidden = !$("compose").checked;
  showLiveNote();
  state.variation = 0;
  state.baseFace = null;
  if (state.inked) schedulePreview();
});
$("another").onclick = () => {
  state.variation += 1;
  state.baseFace = null;
  generate();
};
