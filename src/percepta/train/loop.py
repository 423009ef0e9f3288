"""The training loop, one for both tasks (paper section 4): style transfer and super-resolution.

Adam on the transformation network's weights, minimising the perceptual loss of its outputs. The loop
checks its output paths before any work, checkpoints atomically every ``checkpoint_every`` iterations
(model, optimiser, RNG, iteration; see :mod:`.checkpoint`), resumes exactly, saves a checkpoint and exits
cleanly on Ctrl-C or SIGTERM, stops with the last good checkpoint kept when the loss stops being finite,
logs losses and validation images (:mod:`.log`), and runs data-parallel under ``torchrun``
(:mod:`.distributed`; rank 0 alone writes files). Batches depend only on (seed, iteration), so a resumed
or multi-process run sees the same data as one uninterrupted single-process run.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import io
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..data import Batch, PhotoBatches, sr_batch, style_batch
from ..errors import PerceptaError
from ..fsutil import check_writable
from ..image import load_rgb, resize_long_side, to_tensor
from ..losses import LossTerms, PerceptualLoss
from ..modelfile import SUFFIX, load_model, save_model
from ..nets import TransformNet
from ..runtime import check_device, mixed_precision, tune_allocator
from .checkpoint import load_checkpoint, options_from_checkpoint, save_checkpoint
from .distributed import Distributed
from .log import LossLog, save_validation, validation_inputs
from .options import TrainOptions


class TrainingInterrupted(PerceptaError):
    """Training stopped on Ctrl-C / SIGTERM after saving a checkpoint."""


class TrainingDiverged(PerceptaError):
    """The loss or the weights stopped being finite; the last good checkpoint is kept."""


def train(opts: TrainOptions, resume: str | os.PathLike | None = None) -> Path | None:
    """Train a transformation network; returns the model file's path (on rank 0; others get None)."""
    tune_allocator()
    check_device(opts.device)
    check_paths(opts, resume)
    ctx = Distributed.from_env(opts.device)
    if opts.batch_size % ctx.world:
        raise PerceptaError(f"batch size {opts.batch_size} is not divisible by {ctx.world} processes")
    net, loss, optimizer, start, elapsed, grams = _setup(opts, ctx.device, resume)
    step = _Step(ctx.wrap(net), loss, optimizer, opts.amp, ctx.device)
    teacher = _Teacher(opts.teacher, ctx.device, opts.teacher_margin) if opts.teacher else None
    short_side = (opts.photo_size or opts.size) if opts.task == "style" else None
    photos = PhotoBatches(opts.data, opts.size, short_side, frozenset(opts.exclude), opts.seed,
                          opts.photo_size_min if short_side else None)  # fmt: skip
    log = LossLog(opts.log_dir, start) if ctx.main else None
    val_inputs = validation_inputs(opts, photos) if ctx.main and opts.val_every else []
    if ctx.device.type == "cuda":
        photos.to(ctx.device)
    if ctx.main and photos.skipped:
        tqdm.write(f"percepta: skipped {len(photos.skipped)} unreadable image(s) in {opts.data}", file=sys.stderr)
    t0 = time.perf_counter() - elapsed
    saved = {"iteration": start if resume else None}

    def checkpoint(iteration: int) -> None:
        if not all(bool(torch.isfinite(p).all()) for p in net.parameters()):
            raise TrainingDiverged(_diverged("the weights are no longer finite", iteration, opts, saved["iteration"]))
        save_checkpoint(opts.checkpoint_path, iteration, net, optimizer, opts, time.perf_counter() - t0)
        saved["iteration"] = iteration

    iteration = start
    bar = _Progress(opts, start, elapsed, enabled=opts.progress and ctx.main)
    try:
        with bar, _stop_requests() as stop_requested:
            for it in range(start, opts.iters):
                if opts.lr_decay != "none":  # the elapsed time counts only with a budget (one all-reduce, then)
                    elapsed = ctx.mean({"s": time.perf_counter() - t0})["s"] if opts.time_budget else 0.0
                    _decay(optimizer, opts, it, elapsed)
                batch = _batch(opts, photos, it, ctx)
                if len(grams) > 1:  # several paintings: each iteration the next one's targets
                    loss.style_grams = grams[it % len(grams)]
                terms = step.forward(teacher(batch) if teacher else batch)
                values = ctx.mean(terms.as_floats())
                if not math.isfinite(values["total"]):
                    raise TrainingDiverged(_diverged(f"the loss is {values['total']}", it, opts, saved["iteration"]))
                step.backward(terms)
                iteration = it + 1
                last = iteration == opts.iters or (
                    opts.time_budget is not None and ctx.main_decides(time.perf_counter() - t0 >= opts.time_budget)
                )
                if log is not None:
                    log.add(iteration, values, time.perf_counter() - t0)
                    bar.update(iteration, time.perf_counter() - t0, values)
                    if iteration % opts.checkpoint_every == 0 or last:
                        checkpoint(iteration)
                        log.write()
                    if opts.val_every and (iteration % opts.val_every == 0 or last):
                        save_validation(net, val_inputs, opts.log_dir, iteration, ctx.device)
                if last:
                    break
                if ctx.main_decides(stop_requested()):
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        if log is not None:
            checkpoint(iteration)
            log.write_best_effort()  # the checkpoint is what matters
        raise TrainingInterrupted(
            f"interrupted at iteration {iteration}; checkpoint saved to "
            f"{opts.checkpoint_path}; continue with --resume {opts.checkpoint_path}"
        ) from None
    if log is None:
        return None
    if iteration < opts.iters:
        tqdm.write(
            f"percepta: time budget of {opts.time_budget:g} s spent after {iteration} iterations", file=sys.stderr
        )
    return _save_final(net, opts, log, time.perf_counter() - t0, iteration)


def _decay(optimizer: torch.optim.Optimizer, opts: TrainOptions, iteration: int, elapsed: float) -> None:
    """``TrainOptions.lr_decay="linear"``: the learning rate at this point of the run, falling to zero where the
    run ends (its iterations or its time budget, whichever comes first; ``elapsed`` is the same on every
    process, so that data-parallel replicas take the same steps)."""
    done = iteration / opts.iters
    if opts.time_budget:
        done = max(done, elapsed / opts.time_budget)
    for group in optimizer.param_groups:
        group["lr"] = opts.lr * max(1.0 - done, 0.0)


class _Progress:
    """The progress bar: iterations, or with a time budget the budget's seconds (so that its ETA is the run's),
    and once, after the first iterations, the speed and the time the whole run would take."""

    SPEED_AFTER = 5  # iterations timed before the expected time is printed

    def __init__(self, opts: TrainOptions, start: int, elapsed: float, enabled: bool) -> None:
        self.opts, self.start, self.elapsed0 = opts, start, elapsed
        budget = opts.time_budget
        self.by_time = budget is not None
        seconds_bar = "{l_bar}{bar}| {n:.0f}/{total:.0f} s{postfix}"
        self.bar = tqdm(total=round(budget) if self.by_time else opts.iters, initial=round(elapsed) if self.by_time
                        else start, unit="s" if self.by_time else "it", desc=f"train {opts.task}", disable=not enabled,
                        dynamic_ncols=True, bar_format=seconds_bar if self.by_time else None)  # fmt: skip

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()

    def update(self, iteration: int, elapsed: float, values: dict[str, float]) -> None:
        shown = {k: f"{v:.4g}" for k, v in values.items()}
        if self.by_time:  # the budget's seconds: what is left is the budget's rest (or the iterations', if sooner)
            left = min(self.opts.time_budget - elapsed, self._per(iteration, elapsed) * (self.opts.iters - iteration))
            shown = {"left": _clock(max(left, 0)), "it": iteration, **shown}
            self.bar.n = min(round(elapsed), self.bar.total)
            self.bar.set_postfix(shown, refresh=False)
            self.bar.refresh()
        else:
            self.bar.update()
            self.bar.set_postfix(shown)
        if not self.bar.disable and iteration == self.start + self.SPEED_AFTER:
            tqdm.write(self.expected(iteration, elapsed), file=sys.stderr)

    def _per(self, iteration: int, elapsed: float) -> float:
        """Seconds per iteration of this call so far."""
        return (elapsed - self.elapsed0) / max(iteration - self.start, 1)

    def expected(self, iteration: int, elapsed: float) -> str:
        """One line: seconds per iteration so far and what the whole run takes at that speed."""
        per = self._per(iteration, elapsed)
        total = per * self.opts.iters
        line = f"percepta: {per:.2f} s per iteration: {self.opts.iters:,} iterations take {_hours(total)}"
        budget = self.opts.time_budget
        if budget is not None and budget < total:
            line += f"; the {_hours(budget)} budget stops it after about {int(budget / per):,}"
        return line


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes:02d}:{secs:02d}"


def _hours(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 172800 else f"{seconds / 86400:.1f} days"


class _Step:
    """One optimisation step, in fp32 or mixed precision (autocast; fp16 with a gradient scaler; ``auto``:
    :func:`percepta.runtime.mixed_precision`).

    On CUDA, and in bf16 on a CPU, the network and the loss network run channels-last, the layout cuDNN's and
    oneDNN's fastest kernels use (on a CPU in fp32 it gains 0-17%: ``benchmarks/train_step.py``).
    """

    def __init__(self, model: torch.nn.Module, loss: PerceptualLoss, optimizer: torch.optim.Optimizer, amp: str,
                 device: torch.device) -> None:  # fmt: skip
        self.model, self.loss, self.optimizer, self.device = model, loss, optimizer, device
        amp = mixed_precision(amp, device.type)
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
        self.scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
        self.channels_last = device.type == "cuda" or self.dtype is torch.bfloat16
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
            loss.to(memory_format=torch.channels_last)

    def forward(self, batch: Batch) -> LossTerms:
        x, target = batch.input, batch.target
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            return self.loss(self.model(x), target)

    def backward(self, terms: LossTerms) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            terms.total.backward()
            self.optimizer.step()
        else:  # fp16: scale the loss so small gradients survive; steps with inf/NaN gradients are skipped
            self.scaler.scale(terms.total).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()


def check_paths(opts: TrainOptions, resume: str | os.PathLike | None = None) -> None:
    """Before any work: the files a run writes are writable and clobber nothing they must not."""
    out, ckpt = Path(opts.output), opts.checkpoint_path
    if out.suffix != SUFFIX:
        raise PerceptaError(f"{out}: the model file's name must end in {SUFFIX}")
    if opts.task == "style" and not opts.style:
        raise PerceptaError("style training needs a style image (--style)")
    if out.exists() and not opts.overwrite:
        raise PerceptaError(f"{out} already exists; pass --overwrite to replace it")
    named = {"the model": out, "the checkpoint": ckpt, "the resumed checkpoint": resume,
             **{f"the style image {s}": s for s in opts.style_images}}  # fmt: skip
    seen: dict[Path, str] = {}
    for what, path in named.items():
        if path is None:
            continue
        key = Path(path).expanduser().resolve()
        if key in seen and {seen[key], what} != {"the checkpoint", "the resumed checkpoint"}:
            raise PerceptaError(f"{path}: {what} would overwrite {seen[key]}; choose another name")
        seen.setdefault(key, what)
    for style in opts.style_images:
        if Path(style).resolve().is_relative_to(opts.log_dir.resolve()):
            raise PerceptaError(f"{style}: the style image is inside the training log folder {opts.log_dir}")
    for path in (out, ckpt, opts.log_dir / "losses.csv"):
        check_writable(path)


def style_targets(loss: PerceptualLoss, paintings: Sequence[str | os.PathLike], size: int,
                  device: torch.device | str = "cpu") -> list[dict[str, torch.Tensor]]:  # fmt: skip
    """Each painting's target Grams for ``loss``, the painting resized (bicubic) so that its long side is
    ``size``; ``loss`` is left holding the last painting's."""
    grams = []
    for path in paintings:
        style = resize_long_side(load_rgb(path), size, upscale=True, resample=3)  # bicubic
        loss.set_style(to_tensor(style).to(device))
        grams.append(loss.style_grams)
    return grams


def _setup(opts: TrainOptions, device: torch.device, resume: str | os.PathLike | None):
    """The network (warm-started or resumed), its loss with the style targets set, the optimiser, where it
    starts (iteration, seconds) and each painting's target Grams."""
    torch.manual_seed(opts.seed)
    net = TransformNet(opts.net)
    if opts.init_from:
        try:
            net.load_state_dict(load_model(opts.init_from).net.state_dict())
        except RuntimeError:
            raise PerceptaError(f"{opts.init_from}: its architecture differs from this run's") from None
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed training sizes: let cuDNN pick the fastest kernels
    net.to(device).train()
    loss = PerceptualLoss(opts.loss).to(device)
    grams = (
        style_targets(loss, opts.style_images, opts.style_size, device)
        if opts.task == "style" and opts.loss.style
        else []
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=opts.lr)
    start, elapsed = 0, 0.0
    if resume:
        state = load_checkpoint(resume)
        net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        start, elapsed = int(state["iteration"]), float(state["elapsed"])
    return net, loss, optimizer, start, elapsed, grams


def _batch(opts: TrainOptions, photos: PhotoBatches, iteration: int, ctx: Distributed) -> Batch:
    rows = ctx.rows(opts.batch_size)
    if opts.task == "style":
        return style_batch(photos, iteration, opts.batch_size, rows, ctx.device)
    return sr_batch(photos, iteration, opts.batch_size, opts.scale, rows, ctx.device)


class _Teacher:
    """Distillation (a deviation, ``TrainOptions.teacher``): a trained style model's output replaces the photo
    as the content target, so a smaller network learns to look like the larger one; the style loss and,
    with ``LossWeights.pixel``, a per-pixel term against the teacher's output still apply. The teacher sees its
    input behind a reflection ``margin`` (``TrainOptions.teacher_margin``, at least its own): its padded convs
    draw lines along the picture's edges, which a student would otherwise learn as part of the target."""

    def __init__(self, path: str, device: torch.device, margin: int = 0) -> None:
        model = load_model(path, str(device))
        if model.task != "style":
            raise PerceptaError(f"{path}: a teacher must be a style model, not {model.task}")
        self.net = model.net.with_margin(max(margin, model.config.margin)).requires_grad_(False)

    @torch.no_grad()
    def __call__(self, batch: Batch) -> Batch:
        return Batch(batch.input, self.net(batch.input))


def _diverged(what: str, iteration: int, opts: TrainOptions, good: int | None) -> str:
    kept = (
        f"the last good checkpoint (iteration {good}) is {opts.checkpoint_path}"
        if good is not None
        else "no checkpoint was written"
    )
    return f"training diverged at iteration {iteration}: {what}; {kept}; try a lower --lr or smaller loss weights"


@contextlib.contextmanager
def _stop_requests() -> Iterator[Callable[[], bool]]:
    """Ctrl-C (SIGINT) and SIGTERM (a scheduler ending the job) ask the loop to stop after the current iteration,
    with a checkpoint; the loop polls the returned function. A flag, not an exception raised wherever the
    signal lands: a KeyboardInterrupt raised inside a finaliser or a library callback is printed and dropped
    by Python, and the run went on (seen once in the test suite). A second Ctrl-C raises at once. Outside the
    main thread (where signals cannot be caught) nothing is installed."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    requested = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested.is_set
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _device_name(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name()})"
    return device if device != "cpu" else f"cpu ({torch.get_num_threads()} threads)"


def _style_provenance(path: str) -> dict[str, str]:
    img = load_rgb(path)
    img.thumbnail((96, 96))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return {
        "style_image": Path(path).name,
        "style_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
        "style_thumbnail_jpeg_base64": base64.b64encode(buf.getvalue()).decode(),
    }


def _save_final(net: TransformNet, opts: TrainOptions, log: LossLog, seconds: float, iteration: int) -> Path:
    meta: dict[str, Any] = {
        "name": Path(opts.output).name.split(".")[0],
        "task": opts.task,
        "scale": net.config.scale,
        "iterations": iteration,
        "train_seconds": round(seconds, 1),
        "train_device": _device_name(opts.device),
        "final_losses": log.final_losses(),
        "options": opts.to_dict(),
        **opts.extra_meta,
    }
    if opts.style:
        meta.update(_style_provenance(opts.style))
    net = net.cpu().eval()
    if opts.margin and not net.config.margin:
        net = net.with_margin(opts.margin)
    return save_model(opts.output, net, meta, half=opts.half)


#: options a resumed run takes from the current call rather than from its checkpoint
WHERE_AND_HOW_LONG = (
    "data",
    "output",
    "checkpoint",
    "logs",
    "val_images",
    "device",
    "iters",
    "time_budget",
    "progress",
    "overwrite",
)


def resumed_options(
    checkpoint: str | os.PathLike, current: TrainOptions, keep: Sequence[str] = (), **given: Any
) -> TrainOptions:
    """A checkpoint's hyper-parameters with the current call's places, length and device (:data:`WHERE_AND_HOW_LONG`
    but those in ``keep``, which stay the checkpoint's), and ``given``."""
    taken = {k: getattr(current, k) for k in WHERE_AND_HOW_LONG if k not in keep}
    return options_from_checkpoint(checkpoint, **taken, **given)


def train_resumable(opts: TrainOptions) -> Path | None:
    """Train, or continue from ``opts``' checkpoint if it exists; skip if the model is already finished.

    Finished runs keep their last checkpoint as ``*.done.ckpt`` (a later call with more ``iters``
    starts from it by hand: ``--resume NAME.done.ckpt``). For recipes that are run again and again
    across sessions (see ``scripts/``).
    """
    model, ckpt = Path(opts.output), opts.checkpoint_path
    if model.is_file() and not ckpt.is_file():
        return model
    resume = ckpt if ckpt.is_file() else None
    if resume is not None:  # a stopped run may have saved its model already (time budget): it is replaced
        opts = resumed_options(resume, dataclasses.replace(opts, overwrite=True))
    path = train(opts, resume=resume)
    if path is not None and ckpt.is_file():
        os.replace(ckpt, ckpt.with_suffix(".done.ckpt"))
    return path


def train_style(options: TrainOptions, resume: str | os.PathLike | None = None) -> Path | None:
    """Train a style transfer network (``options.task == "style"``, section 4.1); returns the model file.
    (``percepta.train_style`` also takes a painting's path: :func:`percepta.train.painting.train_style`.)"""
    if options.task != "style":
        raise ValueError("train_style needs TrainOptions(task='style', ...)")
    return train(options, resume)


def train_sr(options: TrainOptions, resume: str | os.PathLike | None = None) -> Path | None:
    """Train a super-resolution network (``options.task == "sr"``, section 4.2); returns the model file."""
    if options.task != "sr":
        raise ValueError("train_sr needs TrainOptions(task='sr', ...)")
    return train(options, resume)
