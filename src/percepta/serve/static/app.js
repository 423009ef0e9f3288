// percepta serve: the page's behaviour. Plain JavaScript, no build step, no dependencies.
// It lists the models (GET /api/models), sends the chosen (dropped, picked or pasted) image to POST /api/stylize
// or /api/upscale as multipart form data, and shows the result over the original with a before/after slider,
// the time the server took and whether it resized the image; once there is a result, changing an option runs
// it again. The webcam mode lives in webcam.js, the "Train your own painting" panel in train.js.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  file: null, originalUrl: null, resultUrl: null, limits: {}, models: [], busy: false,
  auto: false, // true once a result was shown: an option change runs it again
  pending: false, timer: 0, fastTouched: false, fastForWebcam: false, originalBroken: false,
  fileNumber: 0, lastRun: "", // which file and settings the shown result is for: an unchanged request is not re-run
};

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function task() {
  return document.querySelector('input[name="task"]:checked').value;
}

/** The style model to run: the chosen painting's, or its -fast twin when the Fast switch is on. */
function chosenModel() {
  const chosen = document.querySelector('input[name="style"]:checked');
  if (!chosen) return null;
  return $("fast").checked && chosen.dataset.fast ? chosen.dataset.fast : chosen.value;
}

function updateButton() {
  const go = $("go");
  if (task() === "webcam") {
    go.disabled = !chosenModel();
    go.textContent = webcam.active() ? "Stop webcam" : "Start webcam";
    return;
  }
  const chosen = task() === "sr" || chosenModel();
  go.disabled = state.busy || !state.file || !chosen;
  go.textContent = state.busy ? "Working…" : task() === "sr" ? "Upscale" : "Stylize";
}

function showTask() {
  const mode = task();
  $("style-options").hidden = mode === "sr";
  $("sr-options").hidden = mode !== "sr";
  $("output-options").hidden = mode === "webcam";
  $("drop").hidden = mode === "webcam";
  const limits = state.limits;
  if (mode === "sr") {
    $("max-size").value = Math.min(256, Number($("max-size").value) || 256);
    $("max-size-note").textContent = `(of the input; results up to ${(limits.max_output_pixels / 1e6).toFixed(1)} MP)`;
  } else if (mode === "style") {
    $("max-size").value = Math.min(limits.max_side || 1024, Math.max(Number($("max-size").value) || 512, 512));
    $("max-size-note").textContent = `(at most ${limits.max_side})`;
  }
  if (mode === "webcam") {
    if (!state.fastTouched && !$("fast").checked) { // the slim networks are the ones that keep real time
      $("fast").checked = true;
      state.fastForWebcam = true; // unticked again when the image modes come back, unless touched meanwhile
    }
  } else {
    webcam.stop();
    if (state.fastForWebcam && !state.fastTouched) $("fast").checked = false;
    state.fastForWebcam = false;
  }
  webcam.showView(mode === "webcam");
  updateButton();
}

function fillSrModels(models) {
  const scale = Number(document.querySelector('input[name="scale"]:checked').value);
  const select = $("sr-model");
  select.replaceChildren();
  for (const m of models.filter((m) => m.task === "sr" && m.scale === scale)) {
    const option = new Option(`${m.name}${m.sr_loss ? ` (${m.sr_loss} loss)` : ""}`, m.name);
    option.selected = m.name === `sr_x${scale}_feat`;
    select.append(option);
  }
}

/** List the models as painting cards (the choice kept, or ``select`` chosen: a model just trained, whose
 * thumbnail is asked for afresh with ``fresh``, since a replaced model keeps its URL). */
async function loadModels({ select = null, fresh = null } = {}) {
  const before = document.querySelector('input[name="style"]:checked')?.value;
  let listing;
  try {
    listing = await fetchJSON("/api/models");
  } catch (err) {
    $("styles").textContent = `cannot list the models: ${err.message}`;
    return;
  }
  state.limits = listing.limits;
  state.models = listing.models;
  $("max-size").max = listing.limits.max_side;
  const styles = $("styles");
  styles.replaceChildren();
  const all = listing.models.filter((m) => m.task === "style");
  const names = new Set(all.map((m) => m.name));
  // each painting once: a model whose slim twin NAME-fast exists carries it (the "Fast model" switch picks it)
  const styleModels = all.filter((m) => !(m.name.endsWith("-fast") && names.has(m.name.slice(0, -5))));
  const chosen = [select, before].find((n) => styleModels.some((m) => m.name === n)) || styleModels[0]?.name;
  styleModels.forEach((m) => {
    const label = document.createElement("label");
    label.className = "style";
    label.title = m.style_image ? `${m.name} (${m.style_image})` : m.name;
    const input = Object.assign(document.createElement("input"), { type: "radio", name: "style", value: m.name });
    input.dataset.model = m.name;
    if (names.has(`${m.name}-fast`)) input.dataset.fast = `${m.name}-fast`;
    input.checked = m.name === chosen;
    const src = fresh && m.name === select ? `${m.thumbnail}?v=${fresh}` : m.thumbnail;
    const img = Object.assign(document.createElement("img"), { src, alt: m.name, loading: "lazy" });
    img.onerror = () => img.replaceWith(Object.assign(document.createElement("span"), { className: "noimg" }));
    const name = Object.assign(document.createElement("span"), { textContent: m.name.replaceAll("_", " ") });
    label.append(input, img, name);
    styles.append(label);
  });
  if (!styleModels.length) styles.textContent = "no style models installed";
  fillSrModels(listing.models);
  showTask();
}

function chooseFile(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith("image/")) {
    setStatus(`${file.name} is not an image`, true);
    return;
  }
  if (state.limits.max_upload_bytes && file.size > state.limits.max_upload_bytes) {
    const mib = (state.limits.max_upload_bytes / 2 ** 20).toFixed(0);
    setStatus(`${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MiB; this server takes up to ${mib} MiB`, true);
    return;
  }
  state.file = file;
  state.fileNumber += 1;
  if (state.originalUrl) URL.revokeObjectURL(state.originalUrl);
  state.originalUrl = URL.createObjectURL(file);
  const original = $("original");
  $("original-info").textContent = "";
  original.onload = () => {
    $("original-info").textContent = `${original.naturalWidth}×${original.naturalHeight}`;
  };
  state.originalBroken = false;
  original.onerror = () => { // the server has the last word on the file; no broken-image icon meanwhile
    state.originalBroken = true;
    original.hidden = true;
    $("original-empty").textContent = `this browser cannot show ${file.name}`;
    $("original-empty").hidden = false;
  };
  original.src = state.originalUrl;
  original.hidden = task() === "webcam";
  $("original-empty").hidden = true;
  $("drop-text").textContent = `${file.name} (${(file.size / 1024).toFixed(0)} KiB); drop, click or paste to change`;
  setStatus("");
  updateButton();
  schedule();
}

/** An image pasted anywhere on the page (a screenshot, an image copied in another program) becomes the input. */
function onPaste(event) {
  const items = [...(event.clipboardData?.items || [])];
  const item = items.find((i) => i.kind === "file" && i.type.startsWith("image/"));
  if (!item) return;
  event.preventDefault();
  const blob = item.getAsFile();
  const ext = (blob.type.split("/")[1] || "png").replace("jpeg", "jpg");
  const name = blob.name && blob.name !== "image.png" ? blob.name : `pasted.${ext}`;
  if (task() === "webcam") { // a pasted picture means the image mode
    document.querySelector('input[name="task"][value="style"]').checked = true;
    showTask();
  }
  chooseFile(new File([blob], name, { type: blob.type }));
}

/** Run again after an option changed, once there is a result (the latest settings win; one request at a time). */
function schedule() {
  if (!state.auto || !state.file || task() === "webcam") return;
  clearTimeout(state.timer);
  state.timer = setTimeout(() => {
    if (state.busy) state.pending = true;
    else run(true);
  }, 250);
}

function showProgress(text) {
  $("progress-text").textContent = text;
  $("progress").hidden = !text;
  $("result-frame").classList.toggle("working", Boolean(text));
}

/** Scroll the result pane into view when it is off the screen (on a phone it sits under the form). */
function revealResult() {
  const box = $("result-figure").getBoundingClientRect();
  if (box.top < 0 || box.top > window.innerHeight * 0.6) {
    const smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    $("result-figure").scrollIntoView({ behavior: smooth ? "smooth" : "auto", block: "start" });
  }
}

function requestForm() {
  const form = new FormData();
  form.append("image", state.file, state.file.name);
  form.append("format", $("format").value);
  const maxSize = Number($("max-size").value);
  if (maxSize > 0) form.append("max_size", String(Math.round(maxSize)));
  if (task() === "sr") {
    form.append("scale", document.querySelector('input[name="scale"]:checked').value);
    if ($("sr-model").value) form.append("model", $("sr-model").value);
  } else {
    form.append("model", chosenModel());
    form.append("strength", $("strength").value);
    form.append("style_scale", $("style-scale").value);
    form.append("preserve_color", $("preserve").checked ? "true" : "false");
  }
  return form;
}

/** The server's one-line message for an answer other than 200 (its JSON "error"), with Retry-After's wait. */
async function errorMessage(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    message = (await response.json()).error || message;
  } catch (_) { /* not JSON: keep the status line */ }
  const retry = response.headers.get("Retry-After");
  return `${message}${retry ? ` (retry in ${retry} s)` : ""}`;
}

/** A JSON answer of the API, or an Error with the server's one-line message (``status`` on it: the HTTP status). */
async function fetchJSON(url, options = {}) {
  const response = await fetch(url, options);
  if (!response.ok) throw Object.assign(new Error(await errorMessage(response)), { status: response.status });
  return response.json();
}

/** What the page says when the server shrank the image (X-Resized-From: the upload's width x height). */
function resizeNote(response, form, width, height) {
  const from = response.headers.get("X-Resized-From");
  if (!from) return "";
  const [w, h] = from.split("x");
  const asked = Number(form.get("max_size")) || 0;
  if (task() === "sr") {
    const scale = Number(form.get("scale"));
    return `input resized from ${w}×${h} to ${width / scale}×${height / scale} (maximum size), then ×${scale}`;
  }
  const limit = state.limits.max_side;
  const why = !asked || asked > limit ? `this server's limit is ${limit} px` : `maximum size ${asked} px`;
  return `resized from ${w}×${h} to ${width}×${height} (${why})`;
}

/** What a request asks for, to tell whether an option change changed anything. */
function signature(form) {
  const fields = [...form.entries()].filter(([key]) => key !== "image").map(([k, v]) => `${k}=${v}`);
  return [task(), state.fileNumber, ...fields].join("&");
}

async function run(again = false) {
  if (!state.file || state.busy || task() === "webcam") return;
  const form = requestForm();
  if (again && signature(form) === state.lastRun) return; // the result shown is already this one
  const sr = task() === "sr";
  const url = sr ? "/api/upscale" : "/api/stylize";
  state.busy = true;
  updateButton();
  setStatus(sr ? "Upscaling…" : "Stylizing…");
  showProgress(sr ? "Upscaling…" : "Stylizing…");
  $("result-empty").hidden = true;
  revealResult();
  $("result").dataset.ready = "false"; // until the new result has loaded
  const started = performance.now();
  try {
    const response = await fetch(url, { method: "POST", body: form });
    if (!response.ok) throw new Error(await errorMessage(response));
    const blob = await response.blob();
    await showResult(response, blob, form, started);
    state.auto = true;
    state.lastRun = signature(form);
  } catch (err) {
    setStatus(err.message, true);
    $("result-note").textContent = err.message;
    $("result-note").classList.add("error");
    $("result-empty").hidden = !$("result").hidden;
  } finally {
    state.busy = false;
    showProgress("");
    updateButton();
    if (state.pending) {
      state.pending = false;
      run(true);
    }
  }
}

async function showResult(response, blob, form, started) {
  if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
  state.resultUrl = URL.createObjectURL(blob);
  const result = $("result");
  const loaded = new Promise((resolve, reject) => {
    result.onload = resolve;
    result.onerror = () => reject(new Error("the browser cannot show the result"));
  });
  result.src = state.resultUrl;
  $("before").src = state.originalUrl;
  result.hidden = false;
  $("compare").hidden = false;
  $("compare-row").hidden = false;
  await loaded;
  const [w, h] = [result.naturalWidth, result.naturalHeight];
  const serverMs = Number(response.headers.get("X-Processing-Ms"));
  const totalMs = performance.now() - started;
  $("result-info").textContent = `${w}×${h}`;
  setStatus(`Done in ${serverMs.toFixed(0)} ms on the server (${totalMs.toFixed(0)} ms with the transfer).`);
  $("result-note").textContent = resizeNote(response, form, w, h);
  $("result-note").classList.remove("error");
  setZoom(task() === "sr"); // super-resolution at 1:1 pixels (scroll, or click for the whole picture)
  $("zoom").hidden = false;
  const download = $("download");
  const stem = state.file.name.replace(/\.[^.]*$/, "") || "image";
  const what = task() === "sr" ? `x${form.get("scale")}` : form.get("model");
  download.href = state.resultUrl;
  download.download = `${stem}_${what}.${$("format").value === "jpeg" ? "jpg" : "png"}`;
  download.hidden = false;
  result.dataset.ready = "true";
  revealResult();
}

/** 1:1 (one image pixel per screen pixel, scrolled in its frame) or fit (the whole picture in the frame). */
function setZoom(actual) {
  const result = $("result");
  $("result-frame").classList.toggle("actual", actual);
  result.style.width = actual ? `${result.naturalWidth / window.devicePixelRatio}px` : "";
  $("zoom").textContent = actual ? "Fit" : "1:1";
  $("zoom").setAttribute("aria-pressed", String(actual));
}

function setCompare(percent) {
  const pos = Math.max(0, Math.min(100, percent));
  $("compare").style.setProperty("--pos", `${pos}%`);
  $("compare-pos").value = String(Math.round(pos));
}

/** Drag on the result to move the before/after line; a click without a drag toggles 1:1 / fit. */
function initCompare() {
  const compare = $("compare");
  let down = null;
  const at = (e) => ((e.clientX - compare.getBoundingClientRect().left) / compare.clientWidth) * 100;
  compare.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    down = { x: e.clientX, moved: false };
    compare.setPointerCapture(e.pointerId);
  });
  compare.addEventListener("pointermove", (e) => {
    if (!down) return;
    if (Math.abs(e.clientX - down.x) > 4) down.moved = true;
    if (down.moved) setCompare(at(e));
  });
  compare.addEventListener("pointerup", () => {
    if (down && !down.moved) setZoom(!$("result-frame").classList.contains("actual"));
    down = null;
  });
  compare.addEventListener("pointercancel", () => { down = null; });
  $("compare-pos").addEventListener("input", (e) => setCompare(Number(e.target.value)));
  $("zoom").addEventListener("click", () => setZoom(!$("result-frame").classList.contains("actual")));
  setCompare(50);
}

/** An option changed: the webcam stream takes it at once; an image is run again (once it has a result). */
function optionChanged() {
  updateButton();
  if (task() === "webcam") webcam.update();
  else schedule();
}

function init() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => chooseFile(e.target.files[0]));
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => {
      e.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    chooseFile(e.dataTransfer.files[0]);
  });
  document.addEventListener("paste", onPaste);
  for (const radio of document.querySelectorAll('input[name="task"]')) {
    radio.addEventListener("change", () => {
      showTask();
      schedule();
    });
  }
  for (const radio of document.querySelectorAll('input[name="scale"]')) {
    radio.addEventListener("change", () => fillSrModels(state.models));
  }
  $("fast").addEventListener("change", () => { state.fastTouched = true; });
  $("strength").addEventListener("input", () => {
    $("strength-value").textContent = Number($("strength").value).toFixed(2);
  });
  $("style-scale").addEventListener("input", () => {
    $("style-scale-value").textContent = `${Number($("style-scale").value).toFixed(2)}x`;
  });
  // "change" fires once a slider is let go, a number is entered, a box is ticked or a style is picked
  for (const id of ["styles", "fast", "strength", "style-scale", "preserve", "sr-options", "max-size", "format"]) {
    $(id).addEventListener("change", optionChanged);
  }
  $("form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (task() === "webcam") webcam.toggle();
    else run();
  });
  initCompare();
  webcam.init();
  training.init();
  fetch("/healthz").then((r) => r.json()).then((h) => { $("version").textContent = h.version; }, () => {});
  loadModels();
}

document.addEventListener("DOMContentLoaded", init);
