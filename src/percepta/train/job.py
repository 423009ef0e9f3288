"""A style training run in a process of its own, reporting to a status file: ``percepta serve``'s training jobs.

For the web page's training panel (issue 24, item 5), ``python -m percepta.train.job JOB.json`` trains a model
of one painting (paper section 4.1) with the ``quick`` recipe for a time budget
(:func:`percepta.train.painting.train_painting`: a warm start from the shipped base model, the shipped photos),
scores its preview (:func:`percepta.train.painting.preview`), and says what it is doing in a small JSON status
file, rewritten atomically at each step, which the server reads (:mod:`percepta.serve.training`). It only makes
the model file; the server installs it.

So that the server stays responsive, the run lowers its own priority (``os.nice``) and keeps to ``threads``
PyTorch threads. It stops cleanly on SIGTERM (the training loop's own handling: a checkpoint, then
:class:`~percepta.train.loop.TrainingInterrupted`), and by itself once the server that started it is gone.

The job file (JSON): ``painting``, ``output`` (the model file to write), ``minutes``, ``threads``, ``device``,
``status`` (the status file's path), ``logs`` and ``checkpoint`` (where the loss log, ``losses.csv``, and the
checkpoints go) and ``checkpoint_every`` (how often the log is written, so how often the server learns the
iteration). The status file: ``phase`` (``preparing``, ``training``, ``preview``, ``done``, ``failed`` or
``cancelled``), ``since`` (the Unix time the phase began), ``iterations`` (the most the run may take), and at
the end ``model``, ``preview`` (the picture), ``numbers`` (the preview's ``eval style`` scores), ``trained``
(iterations and seconds), or ``error`` (one line).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: how much lower the run's priority is than the server's (``os.nice``): stylising requests come first
NICE = 10


def write_status(path: str | os.PathLike, **fields: Any) -> None:
    """Replace the status file with ``fields`` and the time (``since``), atomically: a reader never sees half."""
    from ..fsutil import atomic_write

    data = json.dumps({**fields, "since": time.time()}).encode()
    with atomic_write(path) as fh:
        fh.write(data)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _watch_parent(parent: int) -> None:
    """Once the server that started the run is gone (this process is re-parented), stop as SIGTERM does."""
    while os.getppid() == parent:
        time.sleep(2)
    os.kill(os.getpid(), signal.SIGTERM)


def run(spec: dict[str, Any], say: Callable[..., None]) -> dict[str, Any]:
    """Train the ``quick`` recipe as ``spec`` says, then score the preview; ``say(**fields)`` reports each phase.
    Returns the final status' fields."""
    import torch

    torch.set_num_threads(int(spec["threads"]))
    with contextlib.suppress(RuntimeError):  # only possible before any parallel work, which there was none of
        torch.set_num_interop_threads(1)
    from ..modelfile import read_meta
    from .painting import PREVIEW_PHOTO, PREVIEW_SIZE, preview, train_painting
    from .recipes import recipe

    iterations = recipe("quick").iters
    say(phase="training", iterations=iterations)
    path = train_painting(spec["painting"], spec["output"], recipe="quick", minutes=float(spec["minutes"]),
                          device=spec["device"], show_preview=False, progress=False, checkpoint=spec["checkpoint"],
                          logs=spec["logs"], checkpoint_every=int(spec["checkpoint_every"]))  # fmt: skip
    say(phase="preview", iterations=iterations)
    shown = preview(path, spec["painting"], overwrite=True)
    meta = read_meta(path)[1]
    numbers = {"content_loss": _finite(shown.content), "style_ratio": _finite(shown.style_ratio),
               "change": _finite(shown.change), "motif_scale": _finite(shown.motif_scale),
               "photo": PREVIEW_PHOTO.name, "size": PREVIEW_SIZE}  # fmt: skip
    trained = {"iterations": meta.get("iterations"), "seconds": meta.get("train_seconds")}
    return {"phase": "done", "iterations": iterations, "model": str(path), "preview": str(shown.image),
            "numbers": numbers, "trained": trained}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """``python -m percepta.train.job JOB.json``: 0 when the model is made (or the run was stopped), else 1."""
    from ..errors import PerceptaError

    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(args[0]).read_text())
    status = spec["status"]
    with contextlib.suppress(OSError):  # a priority that cannot be lowered is no reason not to train
        os.nice(NICE)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True, name="percepta-parent").start()
    write_status(status, phase="preparing")
    try:
        write_status(status, **run(spec, lambda **fields: write_status(status, **fields)))
    except KeyboardInterrupt:
        write_status(status, phase="cancelled")
    except PerceptaError as exc:
        from .loop import TrainingInterrupted

        cancelled = isinstance(exc, TrainingInterrupted)
        write_status(status, phase="cancelled" if cancelled else "failed", error=None if cancelled else str(exc))
        return 0 if cancelled else 1
    except Exception as exc:  # noqa: BLE001 -- anything else: its traceback in the run's log, one line in the status
        traceback.print_exc()
        write_status(status, phase="failed", error=" ".join(f"{type(exc).__name__}: {exc}".split()))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
