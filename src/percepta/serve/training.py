"""Training a style model from the web page, one job at a time, in a child process (issue 24, item 5).

``POST /api/train`` (a painting, a name, minutes) starts a job, ``GET /api/train`` and ``GET /api/train/{id}``
report it, ``DELETE /api/train/{id}`` cancels it, ``GET /api/train/{id}/preview`` is its preview picture.

A job is what ``percepta train style --style PAINTING --install`` does (the ``quick`` recipe: a warm start from
the shipped base model on the shipped photos, for a time budget; docs/adapt_base.md), run as a child process,
``python -m percepta.train.job`` (:mod:`percepta.train.job`), so that the server stays responsive: the event
loop and the inference workers never wait for it, the child runs at a lower priority (``os.nice``) with
``train_threads`` PyTorch threads, and one job runs at a time (another gets 409). The child reports through
a JSON status file and its loss log (``losses.csv``, written every :data:`LOG_EVERY` iterations); once it has
made the model, the server installs it under the job's name in the user models folder
(:func:`percepta.modelfile.install_model`), where ``GET /api/models`` finds it at once. On shutdown the child
is stopped (SIGTERM: the training loop ends cleanly). Without PyTorch (the light install) or with
``--no-train`` the routes answer 501, and ``GET /api/train`` says why, for the page to hide or disable its
panel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from ..errors import ImageError, ImageTooLargeError, ModelFileError, PerceptaError
from .config import ApiError, ServeConfig, errors_doc, log
from .work import client_name, safe_stem

#: a model's name: a safe file name (no folders, dots or spaces), as ``-m NAME`` takes it
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
#: a job's length when the client gives none: the quick recipe's (:mod:`percepta.train.recipes`)
DEFAULT_MINUTES = 10.0
#: iterations between the writes of the loss log, from which the server learns the iteration reached
LOG_EVERY = 10
#: about what the preview and its scores take after the training, for the ETA (seconds, on a 2-core CPU)
FINISH_SECONDS = 15.0
#: the painting is kept at most this long (the quick recipe looks at it at 256 px, the preview at 384 px)
PAINTING_SIDE = 1024
#: what a SIGTERM'd child gets to end cleanly before it is killed (seconds)
STOP_WAIT = 15.0
#: what training imports beyond the light install (``percepta[train]``)
NEEDS = ("torch", "torchvision", "matplotlib")
RUNNING = ("queued", "running")


def unavailable(config: ServeConfig) -> str | None:
    """Why this server cannot train (one line), or None."""
    if not config.train:
        return "training is turned off on this server (percepta serve --no-train)"
    missing = [name for name in NEEDS if find_spec(name) is None]
    if missing:
        return (f"training needs PyTorch, which this install lacks ({', '.join(missing)}): "
                "pip install 'percepta[train]'")  # fmt: skip
    return None


@dataclass
class Job:
    """One training job: what was asked, the child process, and how it ended."""

    id: str
    name: str
    minutes: float
    replace: bool
    folder: Path
    started: float = field(default_factory=time.monotonic)
    state: str = "queued"  # queued, running, done, failed, cancelled
    process: subprocess.Popen | None = None
    watcher: threading.Thread | None = None
    cancelled: bool = False
    ended: float | None = None
    last: dict[str, Any] = field(default_factory=dict)  # the final status (done: its numbers) and progress
    error: str | None = None
    preview: bytes | None = None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _last_logged(path: Path) -> tuple[int, float]:
    """The last iteration in a loss log (``losses.csv``) and its seconds of training; (0, 0) before any."""
    try:
        lines = path.read_text().splitlines()
        row = dict(zip(lines[0].split(","), lines[-1].split(","), strict=True)) if len(lines) > 1 else {}
        return int(row.get("iteration", 0)), float(row.get("seconds", 0.0))
    except (OSError, ValueError):
        return 0, 0.0


def _last_line(path: Path) -> str | None:
    """The last line of the child's output that says something (its error, when it ended without a status)."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    return lines[-1][:300] if lines else None


class TrainingJobs:
    """The server's training: at most one job running, the latest one remembered (its view, its preview)."""

    def __init__(self, config: ServeConfig, models: Any) -> None:
        self.config, self.models = config, models
        self.why_not = unavailable(config)
        self.job: Job | None = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self.why_not is None

    def describe(self) -> dict[str, Any]:
        """``GET /api/train``: whether this server trains (and why not), its limits, and the latest job."""
        return {"enabled": self.config.train, "available": self.available, "reason": self.why_not,
                "minutes_max": self.config.train_minutes_max, "minutes_default": self.default_minutes,
                "job": self.view(self.job) if self.job else None}  # fmt: skip

    @property
    def default_minutes(self) -> float:
        return min(DEFAULT_MINUTES, self.config.train_minutes_max)

    def find(self, job_id: str) -> Job:
        job = self.job
        if job is None or job.id != job_id:
            raise ApiError(404, f"no training job {job_id[:40]!r}; GET /api/train shows the latest")
        return job

    # --- what a client asks for ------------------------------------------------------------------------------
    def check(self, name: str, minutes: float | None, replace: bool) -> tuple[str, float]:
        """The request's name and minutes, or a 501, 409 or 400 answer before the upload is looked at."""
        if self.why_not:
            raise ApiError(501, self.why_not)
        self.check_free()
        if not NAME.fullmatch(name):
            raise ApiError(400, f"name must be 1 to 64 letters, digits, '_' or '-', starting with a letter or digit, "
                           f"not {name[:80]!r}")  # fmt: skip
        minutes = self.default_minutes if minutes is None else minutes
        if not (math.isfinite(minutes) and minutes > 0):
            raise ApiError(400, f"minutes must be a positive number, not {minutes}")
        if minutes > self.config.train_minutes_max:
            raise ApiError(400, f"minutes must be at most {self.config.train_minutes_max:g} on this server "
                           f"(percepta serve --train-minutes-max), not {minutes:g}")  # fmt: skip
        self.check_name_free(name, replace)
        return name, minutes

    def check_free(self) -> None:
        job = self.job
        if job is not None and job.state in RUNNING:
            left = self.view(job)["eta_seconds"]
            raise ApiError(409, f"a training job is running already ({job.name}, about {left} s left); one at a "
                           f"time: wait for it, or cancel it (DELETE /api/train/{job.id})",
                           {"Retry-After": str(max(1, left))})  # fmt: skip

    def check_name_free(self, name: str, replace: bool) -> None:
        """A model of that name may only be replaced when asked, and only if it is a user model (400 if not)."""
        from ..modelfile import check_installable

        try:
            check_installable(name, replace, to_replace="choose another name, or send replace=true to replace it")
        except ModelFileError as exc:
            raise ApiError(400, str(exc)) from None

    # --- a job's life --------------------------------------------------------------------------------------
    async def start(self, upload: UploadFile, name: str, minutes: float, replace: bool) -> Job:
        """Check the painting, keep it in a job folder, start the child; 400/413 for a bad upload, 409 if busy."""
        from ..modelfile import cache_dir

        data, shown = await upload.read(), client_name(upload)
        root = cache_dir() / "serve-train"
        root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="job-", dir=root))
        try:
            painting = await asyncio.to_thread(self._keep_painting, data, shown, folder)
            with self._lock:
                self.check_free()  # another request may have started one meanwhile
                job = Job(uuid.uuid4().hex[:12], name, minutes, replace, folder)
                job.process = self._spawn(job, painting)
                self.job = job
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        job.watcher = threading.Thread(target=self._watch, args=(job,), daemon=True, name="percepta-train")
        job.watcher.start()
        log.info("percepta serve: training job %s started: %s, %g min", job.id, name, minutes)
        return job

    def _keep_painting(self, data: bytes, shown: str, folder: Path) -> Path:
        """The upload decoded (a corrupt one: 400), at most :data:`PAINTING_SIDE` long, as a PNG in ``folder``."""
        from ..image import decode_image, resize_long_side

        try:
            rgb = decode_image(data, shown, self.config.max_pixels).rgb
        except ImageTooLargeError as exc:
            raise ApiError(413, str(exc)) from None
        except ImageError as exc:
            raise ApiError(400, str(exc)) from None
        path = folder / f"{safe_stem(shown)}.png"
        resize_long_side(rgb, PAINTING_SIDE).save(path)
        return path

    def _spawn(self, job: Job, painting: Path) -> subprocess.Popen:
        """``python -m percepta.train.job``, in its own session (a Ctrl-C on the server is for the server to
        pass on), with ``train_threads`` threads, on the server's device where torch has it (else the CPU: an
        ONNX Runtime provider such as coreml is none of torch's); its output goes to ``run.log``."""
        threads = str(self.config.train_threads)
        device = self.config.device if self.config.device.split(":")[0] in ("cpu", "cuda", "mps") else "cpu"
        spec = {"painting": str(painting), "output": str(job.folder / f"{job.name}.safetensors"),
                "minutes": job.minutes, "threads": self.config.train_threads, "device": device,
                "status": str(job.folder / "status.json"), "logs": str(job.folder / "log"),
                "checkpoint": str(job.folder / "run.ckpt"), "checkpoint_every": LOG_EVERY}  # fmt: skip
        (job.folder / "job.json").write_text(json.dumps(spec))
        src = str(Path(__file__).resolve().parents[2])  # the folder holding the percepta package
        path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "PYTHONPATH": path}
        with open(job.folder / "run.log", "wb") as out:
            return subprocess.Popen([sys.executable, "-m", "percepta.train.job", str(job.folder / "job.json")],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    cwd=job.folder, start_new_session=True)  # fmt: skip

    def _watch(self, job: Job) -> None:
        """Wait for the child; then install its model (or note why there is none) and remove the job folder."""
        assert job.process is not None
        code = job.process.wait()
        status = _read_json(job.folder / "status.json")
        state, error, preview = "failed", None, None
        try:
            if job.cancelled:
                state = "cancelled"
            elif code == 0 and status.get("phase") == "done":
                self._install(job, status)
                state = "done"
                with contextlib.suppress(OSError):
                    preview = Path(status["preview"]).read_bytes()
            else:
                error = status.get("error") or _last_line(job.folder / "run.log") or f"the training ended ({code})"
        except PerceptaError as exc:
            error = f"the model could not be installed: {exc}"
        except Exception as exc:  # noqa: BLE001 -- whatever it was, the job must not look as if it still ran
            log.exception("percepta serve: training job %s", job.id)
            error = f"{type(exc).__name__}: {exc}"
        last = self._progress(job)
        with self._lock:
            job.last, job.preview, job.error = last, preview, error and " ".join(error.split())
            job.state, job.ended = state, time.monotonic()
        shutil.rmtree(job.folder, ignore_errors=True)
        log.info("percepta serve: training job %s %s%s", job.id, state, f": {job.error}" if job.error else "")

    def _install(self, job: Job, status: dict[str, Any]) -> None:
        from ..modelfile import install_model

        install_model(status["model"], name=job.name, overwrite=job.replace)
        self.models.forget(job.name)  # a replaced model: the next request loads the new file

    def cancel(self, job: Job) -> None:
        """Stop ``job``'s child (SIGTERM: the loop saves a checkpoint and ends; SIGKILL after :data:`STOP_WAIT`)
        and wait until the job has ended; 409 if it has already."""
        with self._lock:
            if job.state not in RUNNING:
                raise ApiError(409, f"training job {job.id} has {job.state} already; there is nothing to cancel")
            job.cancelled = True
        _stop(job.process)
        if job.watcher is not None:
            job.watcher.join()

    def shutdown(self) -> None:
        """The server stops: so does a job's child."""
        job = self.job
        if job is not None and job.state in RUNNING:
            with contextlib.suppress(ApiError):
                self.cancel(job)

    # --- what a client sees --------------------------------------------------------------------------------
    def _progress(self, job: Job) -> dict[str, Any]:
        """The child's status and the iteration its loss log reached, with the time its phase began."""
        status = _read_json(job.folder / "status.json")
        iteration, seconds = _last_logged(job.folder / "log" / "losses.csv")
        return {**status, "iteration": iteration, "seconds": seconds}

    def view(self, job: Job) -> dict[str, Any]:
        """A job as ``GET /api/train/{id}`` shows it: state, phase, iteration, progress, elapsed time, ETA and, when
        done, the model's name, its preview's scores and the preview's URL."""
        running = job.state in RUNNING
        now = self._progress(job) if running else job.last
        phase = now.get("phase") if running else job.state
        if running and phase in ("done", "failed", "cancelled"):  # the child has ended; the server is finishing
            phase = "installing" if phase == "done" else phase
        budget = job.minutes * 60
        if running:
            fraction, eta = _estimate(phase, now, budget)
        else:
            fraction, eta = (1.0 if job.state == "done" else 0.0), 0.0
        done = job.state == "done"
        elapsed = (job.ended or time.monotonic()) - job.started
        return {
            "id": job.id, "name": job.name, "state": ("running" if phase else "queued") if running else job.state,
            "phase": phase or "starting", "minutes": job.minutes, "budget_seconds": budget,
            "iteration": (now.get("trained") or {}).get("iterations") or now.get("iteration", 0),
            "iterations": now.get("iterations"), "progress": round(fraction, 4), "elapsed_seconds": round(elapsed, 1),
            "eta_seconds": math.ceil(eta), "error": job.error, "model": job.name if done else None,
            "numbers": now.get("numbers") if done else None,
            "preview": f"/api/train/{job.id}/preview" if job.preview else None,
        }  # fmt: skip


def _estimate(phase: str | None, now: dict[str, Any], budget: float) -> tuple[float, float]:
    """How far a running job has come (0..1) and the seconds it has left, from its phase: while it trains, the
    time budget spent (or the iterations, if they run out first), then about :data:`FINISH_SECONDS` more."""
    since = now.get("since", time.time())
    if phase == "training":
        spent, iteration, iterations = time.time() - since, now.get("iteration", 0), now.get("iterations")
        fraction = max(min(1.0, spent / budget), iteration / iterations if iterations else 0.0)
        left = max(0.0, budget - spent)
        if iteration and iterations:
            left = min(left, now.get("seconds", 0.0) / iteration * (iterations - iteration))
        return fraction, left + FINISH_SECONDS
    if phase == "preview":
        return 1.0, max(1.0, FINISH_SECONDS - (time.time() - since))
    if phase in ("installing", "failed", "cancelled"):
        return 1.0, 1.0
    return 0.0, budget + FINISH_SECONDS  # starting, preparing


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(OSError):
        process.terminate()
    try:
        process.wait(STOP_WAIT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            process.kill()
        process.wait()


# --- the routes -------------------------------------------------------------------------------------------
router = APIRouter()


@router.get("/api/train", tags=["training"])
async def api_train_state(request: Request) -> dict[str, Any]:
    """Whether this server trains style models (``available``; ``reason`` when not), the longest job it takes in
    minutes, and the latest job (or null)."""
    return request.app.state.training.describe()


START_ERRORS = errors_doc(409, 413, 501, described={400: "a bad painting, name or minutes"})
MINUTES_DOC = "the training's length (default 10, at most the server's --train-minutes-max)"


@router.post("/api/train", tags=["training"], status_code=202, responses=START_ERRORS)
async def api_train_start(
    request: Request,
    image: Annotated[UploadFile, File(description="the painting: JPEG, PNG, WebP, BMP, TIFF or GIF")],
    name: Annotated[str, Form(description="the new model's name: letters, digits, _ and -", max_length=200)],
    minutes: Annotated[float | None, Form(description=MINUTES_DOC)] = None,
    replace: Annotated[bool, Form(description="replace a user model of that name")] = False,
) -> JSONResponse:
    """Train a model of a painting (the quick recipe, in the background, one job at a time); poll the job with
    ``GET /api/train/{id}``. When done, the model is installed under ``name``."""
    training = request.app.state.training
    name, minutes = training.check(name, minutes, replace)
    job = await training.start(image, name, minutes, replace)
    return JSONResponse(training.view(job), status_code=202, headers={"Location": f"/api/train/{job.id}"})


@router.get("/api/train/{job_id}", tags=["training"], responses=errors_doc(described={404: "no such job"}))
async def api_train_job(request: Request, job_id: str) -> dict[str, Any]:
    """A job: ``state`` (queued, running, done, failed, cancelled), ``phase``, ``iteration``, ``progress`` (0..1),
    ``elapsed_seconds``, ``eta_seconds``, and when done the ``model``'s name and its preview's ``numbers``."""
    training = request.app.state.training
    return training.view(training.find(job_id))


@router.delete("/api/train/{job_id}", tags=["training"],
               responses=errors_doc(described={404: "no such job", 409: "the job has ended already"}))  # fmt: skip
async def api_train_cancel(request: Request, job_id: str) -> dict[str, Any]:
    """Cancel a job: its training stops (no model is installed); answers once it has."""
    training = request.app.state.training
    job = training.find(job_id)
    await asyncio.to_thread(training.cancel, job)
    return training.view(job)


PREVIEW_ANSWERS = {200: {"content": {"image/jpeg": {}}, "description": "the preview"},
                   **errors_doc(described={404: "no such job, or no preview (yet)"})}  # fmt: skip


@router.get("/api/train/{job_id}/preview", tags=["training"], response_class=Response, responses=PREVIEW_ANSWERS)
async def api_train_preview(request: Request, job_id: str) -> Response:
    """A finished job's preview: the painting, a held-out photo, and the photo in the new style."""
    job = request.app.state.training.find(job_id)
    if job.preview is None:
        raise ApiError(404, f"training job {job.id} has no preview ({job.state})")
    return Response(job.preview, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
