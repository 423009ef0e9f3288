// percepta serve: the page's webcam mode. The camera (getUserMedia) shows in the left pane; its frames are drawn
// on a canvas at the size the server asks for, sent as JPEG over a WebSocket (/ws/webcam, see
// percepta/serve/webcam.py), and each stylised frame that comes back is drawn in the result pane with the frames
// per second measured here. Two frames are kept in flight, so that the camera, the network and the server
// overlap; every frame gets one answer (a picture, or a JSON message with "frame": true). Uses app.js's helpers.
"use strict";

const webcam = (() => {
  const IN_FLIGHT = 2;
  const cam = { ws: null, stream: null, ready: false, sending: 0, frames: 0, arrivals: [], side: 320,
                lastError: "", waiting: false };
  const capture = document.createElement("canvas");

  const active = () => cam.ws !== null || cam.stream !== null;

  function options() {
    return { model: chosenModel(), strength: $("strength").value, style_scale: $("style-scale").value,
             preserve_color: $("preserve").checked ? "true" : "false" };
  }

  /** The panes in webcam mode (the camera and the stream) or in image mode (the original and the result). */
  function showView(on) {
    const hasResult = !$("result").hidden;
    $("camera").hidden = !on || !cam.stream;
    const original = $("original");
    original.hidden = on || !state.file || state.originalBroken;
    $("original-empty").hidden = on ? Boolean(cam.stream) : original.hidden === false;
    $("original-title").textContent = on ? "Camera" : "Original";
    $("webcam-out").hidden = !on || cam.frames === 0;
    for (const id of ["compare", "compare-row", "zoom", "download"]) $(id).hidden = on || !hasResult;
    $("result-empty").hidden = on ? cam.frames > 0 : hasResult;
    $("result-empty").textContent = on ? "Start the webcam: the stylised stream appears here." : "The result appears here.";
    const broken = state.file && state.originalBroken ? `this browser cannot show ${state.file.name}` : "";
    $("original-empty").textContent = on ? "The camera appears here." : broken || "Your image appears here.";
    if (on) {
      $("result-info").textContent = "";
      $("result-note").textContent = "";
      const video = $("camera");
      $("original-info").textContent = cam.stream && video.videoWidth ? `${video.videoWidth}×${video.videoHeight}` : "";
    } else {
      const result = $("result");
      $("result-info").textContent = hasResult ? `${result.naturalWidth}×${result.naturalHeight}` : "";
      $("original-info").textContent = original.hidden ? "" : `${original.naturalWidth}×${original.naturalHeight}`;
    }
  }

  async function start() {
    if (active()) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      setStatus("this browser gives the page no camera here: it needs https, or the server on localhost", true);
      return;
    }
    setStatus("Asking for the camera…");
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } } });
    } catch (err) {
      setStatus(`no camera: ${err.message || err.name}`, true);
      return;
    }
    if (task() !== "webcam" || active()) { // the mode changed while the browser asked
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    cam.stream = stream;
    const video = $("camera");
    video.srcObject = stream;
    video.onloadedmetadata = () => { $("original-info").textContent = `${video.videoWidth}×${video.videoHeight}`; };
    video.play().catch(() => {});
    Object.assign(cam, { ready: false, sending: 0, frames: 0, arrivals: [], lastError: "" });
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/webcam?${new URLSearchParams(options())}`);
    ws.binaryType = "blob";
    ws.onmessage = (e) => (typeof e.data === "string" ? onText(JSON.parse(e.data)) : onFrame(e.data));
    ws.onclose = (e) => onClose(ws, e);
    cam.ws = ws;
    showView(true);
    showProgress("Connecting…");
    setStatus("Connecting…");
    updateButton();
  }

  function release() {
    if (cam.ws) {
      const ws = cam.ws;
      cam.ws = null; // its onclose, when it comes, is for a stream already let go
      if (ws.readyState <= WebSocket.OPEN) ws.close(1000);
    }
    if (cam.stream) cam.stream.getTracks().forEach((t) => t.stop());
    cam.stream = null;
    cam.ready = false;
    $("camera").srcObject = null;
    showProgress("");
  }

  function stop() {
    if (!active()) return;
    release();
    setStatus(cam.frames ? `Webcam stopped after ${cam.frames} frames.` : "Webcam stopped.");
    showView(task() === "webcam");
    updateButton();
  }

  function onClose(ws, event) {
    if (cam.ws !== ws) return;
    const why = cam.lastError
      || (event.code === 1000 ? "" : `the server did not keep the stream (WebSocket code ${event.code})`);
    release();
    setStatus(why || "Webcam stopped.", Boolean(why));
    showView(task() === "webcam");
    updateButton();
  }

  function onText(message) {
    if (message.type === "ready") {
      cam.side = message.side;
      cam.lastError = "";
      setStatus(`Webcam: ${message.model}, frames of up to ${message.side} px.`);
      cam.ready = true;
      pump();
    } else if (message.type === "side") {
      cam.side = message.side; // the server's frames took too long (or are quick again): another size
    } else if (message.type === "error" || message.type === "busy") {
      setStatus(message.error, true);
      if (message.frame) {
        cam.sending -= 1;
        pump();
      } else {
        cam.lastError = message.error; // shown when the server closes the stream next
      }
    }
  }

  async function onFrame(blob) {
    cam.sending -= 1;
    pump();
    let bitmap;
    try {
      bitmap = await createImageBitmap(blob);
    } catch (_) {
      return;
    }
    const out = $("webcam-out");
    if (out.width !== bitmap.width || out.height !== bitmap.height) [out.width, out.height] = [bitmap.width, bitmap.height];
    out.getContext("2d").drawImage(bitmap, 0, 0);
    bitmap.close();
    cam.frames += 1;
    const now = performance.now();
    cam.arrivals.push(now);
    while (cam.arrivals.length > 2 && now - cam.arrivals[0] > 2000) cam.arrivals.shift();
    const span = (now - cam.arrivals[0]) / 1000;
    const fps = span > 0 ? (cam.arrivals.length - 1) / span : 0;
    out.dataset.frames = String(cam.frames);
    out.dataset.fps = fps.toFixed(1);
    $("result-info").textContent = `${fps.toFixed(1)} frames/s · ${out.width}×${out.height}`;
    if (cam.frames === 1) {
      showProgress("");
      showView(true);
      revealResult();
    }
  }

  /** Keep IN_FLIGHT frames on their way to the server. */
  function pump() {
    while (cam.ready && cam.ws && cam.ws.readyState === WebSocket.OPEN && cam.sending < IN_FLIGHT) {
      if (!sendFrame()) break;
    }
  }

  function sendFrame() {
    const video = $("camera");
    const [w, h] = [video.videoWidth, video.videoHeight];
    if (!w || !h) { // no picture from the camera yet: look again shortly
      if (!cam.waiting) {
        cam.waiting = true;
        setTimeout(() => { cam.waiting = false; pump(); }, 50);
      }
      return false;
    }
    const k = Math.min(1, cam.side / Math.max(w, h));
    [capture.width, capture.height] = [Math.max(1, Math.round(w * k)), Math.max(1, Math.round(h * k))];
    capture.getContext("2d").drawImage(video, 0, 0, capture.width, capture.height);
    cam.sending += 1;
    const ws = cam.ws;
    capture.toBlob((blob) => {
      if (blob && ws === cam.ws && ws.readyState === WebSocket.OPEN) ws.send(blob);
      else cam.sending -= 1;
    }, "image/jpeg", 0.8);
    return true;
  }

  /** The style or its options changed: the stream takes them from its next frame. */
  function update() {
    if (cam.ws && cam.ready && chosenModel()) cam.ws.send(JSON.stringify(options()));
  }

  function init() {
    window.addEventListener("pagehide", stop);
  }

  return { init, start, stop, toggle: () => (active() ? stop() : start()), update, active, showView };
})();
