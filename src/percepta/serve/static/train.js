// percepta serve: the "Train your own painting" panel (issue 24). GET /api/train says whether this server trains
// (the panel stays hidden where it is turned off, and is disabled, saying why, without PyTorch); POST /api/train
// starts a job with the painting, a name and minutes; the page polls GET /api/train/{id} for its progress and,
// once it is done, lists the models again with the new one chosen and shows its preview and numbers. One job at
// a time on the server (percepta/serve/training.py). Uses app.js's helpers ($, fetchJSON, loadModels, ...).
"use strict";

const training = (() => {
  const POLL_MS = 1500;
  const job = { id: null, timer: 0, file: null, nameTouched: false, busy: false, available: false };
  const controls = ["train-file", "train-name", "train-minutes", "train-replace"];
  const phases = { starting: "Starting", preparing: "Preparing", training: "Training",
                   preview: "Scoring the preview of", installing: "Installing" };

  function clock(seconds) {
    const s = Math.max(0, Math.round(seconds));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function say(text, isError = false) {
    $("train-status").textContent = text;
    $("train-status").classList.toggle("error", isError);
  }

  /** A model name from a file name: letters, digits, _ and - (what the server takes). */
  function nameFor(fileName) {
    const stem = fileName.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_-]+/g, "_").replace(/^[_-]+|[_-]+$/g, "");
    return stem.slice(0, 64) || "my_painting";
  }

  function updateButton() {
    $("train-go").disabled = job.busy || !job.available || !job.file || !$("train-name").value.trim();
  }

  function setBusy(on) {
    job.busy = on;
    for (const id of controls) $(id).disabled = on || !job.available;
    $("train-cancel").hidden = !on;
    $("train-go").textContent = on ? "Training…" : "Start training";
    updateButton();
  }

  /** The numbers a finished job's preview got (percepta eval style on a held-out photo). */
  function numbersLine(n) {
    const g = (v, digits = 3) => (v === null || v === undefined ? "n/a" : Number(v).toPrecision(digits));
    return `On ${n.photo} (${n.size} px): content loss ${g(n.content_loss)}, style ratio ${g(n.style_ratio)}, ` +
      `change ${g(n.change)}, motif scale ${g(n.motif_scale)} px (lower content loss and style ratio are better).`;
  }

  function show(j) {
    const bar = $("train-progress");
    bar.hidden = !(j.state === "queued" || j.state === "running");
    if (!bar.hidden) {
      bar.value = j.progress;
      const iteration = j.iteration ? `, iteration ${j.iteration}` : "";
      say(`${phases[j.phase] || "Working on"} ${j.name}${iteration}: about ${clock(j.eta_seconds)} left ` +
          `(${clock(j.elapsed_seconds)} so far).`);
    } else if (j.state === "done") {
      const its = `${j.iteration} iteration${j.iteration === 1 ? "" : "s"}`;
      say(`${j.name} is ready (${its} in ${clock(j.elapsed_seconds)}) and chosen in Style above.`);
    } else if (j.state === "failed") {
      say(j.error || "the training failed", true);
    } else {
      say(`Training ${j.name} was cancelled.`);
    }
  }

  async function finished(j) {
    setBusy(false);
    job.id = null;
    if (j.state !== "done") return;
    $("train-numbers").textContent = j.numbers ? numbersLine(j.numbers) : "";
    $("train-numbers").hidden = !j.numbers;
    if (j.preview) {
      $("train-preview").src = j.preview;
      $("train-preview").hidden = false;
    }
    const style = document.querySelector('input[name="task"][value="style"]');
    if (!style.checked) {
      style.checked = true;
      showTask();
    }
    await loadModels({ select: j.model, fresh: j.id });
    optionChanged(); // with a result shown, it is made again in the new style
    $("train-panel").dataset.done = j.model;
  }

  async function poll() {
    if (!job.id) return;
    let j;
    try {
      j = await fetchJSON(`/api/train/${job.id}`);
    } catch (err) {
      say(err.message, true);
      if (err.status === 404) finished({ state: "failed" }); // the server forgot the job (restarted)
      else job.timer = setTimeout(poll, POLL_MS * 2); // the server may be busy: try again
      return;
    }
    show(j);
    if (j.state === "queued" || j.state === "running") job.timer = setTimeout(poll, POLL_MS);
    else await finished(j);
  }

  function follow(j) {
    job.id = j.id;
    setBusy(true);
    show(j);
    clearTimeout(job.timer);
    job.timer = setTimeout(poll, POLL_MS);
  }

  async function start(event) {
    event.preventDefault();
    if (job.busy || !job.file) return;
    const form = new FormData();
    form.append("image", job.file, job.file.name);
    form.append("name", $("train-name").value.trim());
    form.append("minutes", $("train-minutes").value);
    form.append("replace", $("train-replace").checked ? "true" : "false");
    $("train-numbers").hidden = true;
    $("train-preview").hidden = true;
    setBusy(true);
    say("Uploading the painting…");
    try {
      follow(await fetchJSON("/api/train", { method: "POST", body: form }));
    } catch (err) {
      setBusy(false);
      say(err.message, true);
    }
  }

  async function cancel() {
    if (!job.id) return;
    clearTimeout(job.timer);
    $("train-cancel").disabled = true;
    say("Stopping…");
    try {
      const answer = await fetchJSON(`/api/train/${job.id}`, { method: "DELETE" });
      show(answer);
      await finished(answer);
    } catch (err) {
      say(err.message, true);
      job.timer = setTimeout(poll, POLL_MS);
    } finally {
      $("train-cancel").disabled = false;
    }
  }

  function chooseFile(file) {
    if (!file) return;
    const limit = state.limits.max_upload_bytes;
    if (limit && file.size > limit) {
      say(`${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MiB; this server takes up to ` +
          `${(limit / 2 ** 20).toFixed(0)} MiB`, true);
      job.file = null;
    } else {
      job.file = file;
      if (!job.nameTouched) $("train-name").value = nameFor(file.name);
      say("");
    }
    updateButton();
  }

  async function init() {
    $("train-file").addEventListener("change", (e) => chooseFile(e.target.files[0]));
    $("train-name").addEventListener("input", () => { job.nameTouched = true; updateButton(); });
    $("train-form").addEventListener("submit", start);
    $("train-cancel").addEventListener("click", cancel);
    let info;
    try {
      info = await fetchJSON("/api/train");
    } catch (_) {
      return; // an older server, or none: no panel
    }
    const panel = $("train-panel");
    panel.hidden = !info.enabled; // turned off on this server (--no-train): not offered at all
    $("train-minutes").max = String(info.minutes_max);
    $("train-minutes").value = String(info.minutes_default);
    $("train-minutes-note").textContent = `(at most ${info.minutes_max})`;
    job.available = info.available;
    setBusy(false);
    if (!info.available) {
      say(info.reason);
      panel.dataset.unavailable = "true";
      return;
    }
    if (info.job && (info.job.state === "queued" || info.job.state === "running")) { // started earlier, or elsewhere
      panel.open = true;
      follow(info.job);
    }
  }

  return { init };
})();
