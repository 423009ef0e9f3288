// percepta serve: the page's behaviour. Plain JavaScript, no build step, no dependencies.
// It lists the models (GET /api/models), sends the chosen image to POST /api/stylize or /api/upscale as
// multipart form data, and shows the result beside the original with the time the server took.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { file: null, originalUrl: null, resultUrl: null, limits: {}, busy: false };

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function task() {
  return document.querySelector('input[name="task"]:checked').value;
}

function updateButton() {
  const chosen = task() === "sr" || document.querySelector('input[name="style"]:checked');
  $("go").disabled = state.busy || !state.file || !chosen;
  $("go").textContent = state.busy ? "Working…" : task() === "sr" ? "Upscale" : "Stylize";
}

function showTask() {
  const sr = task() === "sr";
  $("style-options").hidden = sr;
  $("sr-options").hidden = !sr;
  const limits = state.limits;
  if (sr) {
    $("max-size").value = Math.min(256, Number($("max-size").value) || 256);
    $("max-size-note").textContent = `(of the input; results up to ${(limits.max_output_pixels / 1e6).toFixed(1)} MP)`;
  } else {
    $("max-size").value = Math.min(limits.max_side || 1024, Math.max(Number($("max-size").value) || 512, 512));
    $("max-size-note").textContent = `(at most ${limits.max_side})`;
  }
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

async function loadModels() {
  let listing;
  try {
    const response = await fetch("/api/models");
    listing = await response.json();
    if (!response.ok) throw new Error(listing.error || response.statusText);
  } catch (err) {
    $("styles").textContent = `cannot list the models: ${err.message}`;
    return;
  }
  state.limits = listing.limits;
  $("max-size").max = listing.limits.max_side;
  const styles = $("styles");
  styles.replaceChildren();
  const all = listing.models.filter((m) => m.task === "style");
  const names = new Set(all.map((m) => m.name));
  // each painting once: a model whose slim twin NAME-fast exists carries it (the "Fast model" switch picks it)
  const styleModels = all.filter((m) => !(m.name.endsWith("-fast") && names.has(m.name.slice(0, -5))));
  styleModels.forEach((m, i) => {
    const label = document.createElement("label");
    label.className = "style";
    label.title = m.style_image ? `${m.name} (${m.style_image})` : m.name;
    const input = Object.assign(document.createElement("input"), { type: "radio", name: "style", value: m.name });
    input.dataset.model = m.name;
    if (names.has(`${m.name}-fast`)) input.dataset.fast = `${m.name}-fast`;
    if (i === 0) input.checked = true;
    const img = Object.assign(document.createElement("img"), { src: m.thumbnail, alt: m.name, loading: "lazy" });
    img.onerror = () => img.replaceWith(Object.assign(document.createElement("span"), { className: "noimg" }));
    const name = Object.assign(document.createElement("span"), { textContent: m.name.replaceAll("_", " ") });
    label.append(input, img, name);
    styles.append(label);
  });
  if (!styleModels.length) styles.textContent = "no style models installed";
  fillSrModels(listing.models);
  for (const radio of document.querySelectorAll('input[name="scale"]')) {
    radio.addEventListener("change", () => fillSrModels(listing.models));
  }
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
  if (state.originalUrl) URL.revokeObjectURL(state.originalUrl);
  state.originalUrl = URL.createObjectURL(file);
  const original = $("original");
  original.onload = () => {
    $("original-info").textContent = `${original.naturalWidth}×${original.naturalHeight}`;
  };
  original.src = state.originalUrl;
  original.hidden = false;
  $("drop-text").textContent = `${file.name} (${(file.size / 1024).toFixed(0)} KiB); drop or click to change`;
  setStatus("");
  updateButton();
}

async function submit(event) {
  event.preventDefault();
  if (!state.file || state.busy) return;
  const form = new FormData();
  form.append("image", state.file, state.file.name);
  form.append("format", $("format").value);
  const maxSize = Number($("max-size").value);
  if (maxSize > 0) form.append("max_size", String(Math.round(maxSize)));
  let url;
  if (task() === "sr") {
    url = "/api/upscale";
    form.append("scale", document.querySelector('input[name="scale"]:checked').value);
    if ($("sr-model").value) form.append("model", $("sr-model").value);
  } else {
    url = "/api/stylize";
    const chosen = document.querySelector('input[name="style"]:checked');
    form.append("model", $("fast").checked && chosen.dataset.fast ? chosen.dataset.fast : chosen.value);
    form.append("strength", $("strength").value);
    form.append("style_scale", $("style-scale").value);
    form.append("preserve_color", $("preserve").checked ? "true" : "false");
  }
  state.busy = true;
  updateButton();
  setStatus("Processing…");
  $("result").dataset.ready = "false"; // until the new result has loaded
  const started = performance.now();
  try {
    const response = await fetch(url, { method: "POST", body: form });
    if (!response.ok) {
      let message = response.statusText;
      try {
        message = (await response.json()).error || message;
      } catch (_) { /* not JSON: keep the status text */ }
      const retry = response.headers.get("Retry-After");
      throw new Error(`${response.status}: ${message}${retry ? ` (retry in ${retry} s)` : ""}`);
    }
    const blob = await response.blob();
    if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
    state.resultUrl = URL.createObjectURL(blob);
    const result = $("result");
    const serverMs = Number(response.headers.get("X-Processing-Ms"));
    const totalMs = performance.now() - started;
    result.onload = () => {
      $("result-info").textContent = `${result.naturalWidth}×${result.naturalHeight}`;
      setStatus(`Done in ${serverMs.toFixed(0)} ms on the server (${totalMs.toFixed(0)} ms with the transfer).`);
      result.dataset.ready = "true";
    };
    result.dataset.ready = "false";
    result.src = state.resultUrl;
    result.hidden = false;
    const download = $("download");
    const stem = state.file.name.replace(/\.[^.]*$/, "") || "image";
    const what = task() === "sr" ? `x${form.get("scale")}` : form.get("model");
    download.href = state.resultUrl;
    download.download = `${stem}_${what}.${$("format").value === "jpeg" ? "jpg" : "png"}`;
    download.hidden = false;
  } catch (err) {
    setStatus(err.message, true);
  } finally {
    state.busy = false;
    updateButton();
  }
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
  for (const radio of document.querySelectorAll('input[name="task"]')) radio.addEventListener("change", showTask);
  $("styles").addEventListener("change", updateButton);
  $("strength").addEventListener("input", () => {
    $("strength-value").textContent = Number($("strength").value).toFixed(2);
  });
  $("style-scale").addEventListener("input", () => {
    $("style-scale-value").textContent = `${Number($("style-scale").value).toFixed(2)}x`;
  });
  $("form").addEventListener("submit", submit);
  fetch("/healthz").then((r) => r.json()).then((h) => { $("version").textContent = h.version; }, () => {});
  loadModels();
}

document.addEventListener("DOMContentLoaded", init);
