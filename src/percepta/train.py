"""One training loop for both tasks (paper section 4): style transfer and super-resolution.

Adam on the transformation network's weights, minimising the perceptual loss of its outputs. The
loop checkpoints atomically every ``checkpoint_every`` iterations (model, optimiser, RNG, iteration),
resumes exactly, saves a checkpoint and exits cleanly on Ctrl-C, logs losses to CSV and a PNG plot,
writes validation images, and runs data-parallel under ``torchrun`` (DDP: gloo on CPU, nccl on GPU;
rank 0 alone writes files). Batches depend only on (seed, iteration), so a resumed or multi-process run
sees the same data as one uninterrupted single-process run.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import signal
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Sequence

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from .data import Batch, PhotoBatches, degrade, sr_batch, style_batch
from .errors import PerceptaError
from .fsutil import atomic_write
from .image import load_rgb, save_image, to_pil, to_tensor
from .losses import LossWeights, PerceptualLoss
from .modelfile import load_model, save_model
from .nets import NetConfig, TransformNet
from .runtime import tune_allocator

CHECKPOINT_FORMAT = "percepta-checkpoint"


class TrainingInterrupted(PerceptaError):
    """Training stopped on Ctrl-C / SIGTERM after saving a checkpoint."""


@dataclass
class TrainOptions:
    """Every training hyper-parameter; defaults are the paper's (section 4.1 / 4.2)."""

    task: Literal["style", "sr"]
    data: str
    output: str
    style: str | None = None  # style image (task "style")
    scale: int = 4  # super-resolution factor (task "sr")
    sr_loss: Literal["feat", "pixel"] = "feat"
    size: int = 256  # crop size: style 256 (paper), SR high-resolution patch 288 (paper)
    batch_size: int = 4
    lr: float = 1e-3
    iters: int = 40_000
    content_weight: float = 1.0
    style_weight: float = LossWeights.style
    tv_weight: float = LossWeights.tv
    style_size: int | None = 512  # longer side of the style image (the authors' usual value); None: as loaded
    content_layers: Sequence[str] = ("relu2_2",)
    style_layers: Sequence[str] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    gram_reduction: Literal["frobenius", "mean"] = "frobenius"
    norm: Literal["batch", "instance", "none"] = "batch"
    upsample: Literal["transpose", "resize"] = "transpose"
    width: float = 1.0
    blocks: int = 5  # residual blocks of the style network (paper: 5)
    skip: Literal["none", "bicubic"] = "none"  # SR: predict a correction to bicubic (deviation; paper: none)
    time_budget: float | None = None  # stop and save the model after this many seconds (resumed runs included)
    seed: int = 0
    exclude: Sequence[str] = ()  # photo file names kept out of training (held-out)
    checkpoint: str | None = None  # default: <output>.ckpt
    checkpoint_every: int = 100
    val_every: int = 500
    val_images: Sequence[str] = ()
    init_from: str | None = None  # warm start from a model file with the same architecture
    half: bool = False  # store the final model's weights as fp16
    device: str = "cpu"
    progress: bool = True
    extra_meta: dict[str, Any] = field(default_factory=dict)

    def net_config(self) -> NetConfig:
        if self.task == "style":
            return NetConfig.style(self.norm, self.upsample, self.width, self.blocks)
        return NetConfig.super_resolution(self.scale, self.norm, self.upsample, self.width, self.skip)

    def loss_weights(self) -> LossWeights:
        if self.task == "style":
            return LossWeights(self.content_weight, self.style_weight, self.tv_weight, 0.0,
                               self.content_layers, self.style_layers, self.gram_reduction)
        if self.sr_loss == "feat":  # section 4.2: feature reconstruction loss at relu2_2 + TV
            return LossWeights(self.content_weight, 0.0, self.tv_weight, 0.0, self.content_layers)
        return LossWeights(0.0, 0.0, self.tv_weight, 1.0)  # per-pixel loss (+ TV)

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.checkpoint) if self.checkpoint else Path(self.output).with_suffix(".ckpt")

    @property
    def log_dir(self) -> Path:
        out = Path(self.output)
        return out.with_name(out.name.split(".")[0] + "-training")


@dataclass
class Distributed:
    """Process group context from torchrun's environment (a single process when absent)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")  # where this rank trains, and where collectives' tensors live

    @classmethod
    def from_env(cls, device: str) -> "Distributed":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        on_gpu = device == "cuda"
        ctx = cls(int(os.environ.get("RANK", "0")), world, local_rank,
                  torch.device(f"cuda:{local_rank}" if on_gpu else device))
        if world > 1 and on_gpu:
            torch.cuda.set_device(ctx.device)  # nccl uses the current device
        if world > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
        return ctx

    @property
    def main(self) -> bool:
        return self.rank == 0

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        if self.world == 1:
            return values
        t = torch.tensor(list(values.values()), dtype=torch.float64, device=self.device)  # nccl: GPU tensors only
        dist.all_reduce(t)
        return dict(zip(values, (t / self.world).tolist()))

    def main_decides(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (e.g. a wall-clock decision that must not differ between ranks)."""
        if self.world == 1:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        dist.broadcast(t, 0)
        return bool(t.item())


def _style_tensor(opts: TrainOptions) -> torch.Tensor:
    img = load_rgb(opts.style)
    if opts.style_size:
        factor = opts.style_size / max(img.size)
        img = img.resize((max(1, round(img.width * factor)), max(1, round(img.height * factor))), resample=3)
    return to_tensor(img)


def _thumbnail(path: str) -> dict[str, str]:
    img = load_rgb(path)
    img.thumbnail((96, 96))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return {"style_image": Path(path).name, "style_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
            "style_thumbnail_jpeg_base64": base64.b64encode(buf.getvalue()).decode()}


def save_checkpoint(path: Path, iteration: int, net: TransformNet, opt: torch.optim.Optimizer,
                    opts: TrainOptions, elapsed: float) -> None:
    """Atomically write everything needed to continue training exactly."""
    state = {"format": CHECKPOINT_FORMAT, "iteration": iteration, "net": net.state_dict(),
             "optimizer": opt.state_dict(), "rng": torch.get_rng_state(), "options": asdict(opts),
             "elapsed": elapsed}
    with atomic_write(path) as fh:
        torch.save(state, fh)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a training checkpoint; a missing or damaged one is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise PerceptaError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PerceptaError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise PerceptaError(f"{path}: not a percepta training checkpoint")
    return state


def options_from_checkpoint(path: str | os.PathLike, **overrides: Any) -> TrainOptions:
    """The options a checkpoint was trained with, with ``overrides`` (e.g. more ``iters``) applied."""
    stored = load_checkpoint(path)["options"]
    known = {f.name for f in fields(TrainOptions)}
    return TrainOptions(**{**{k: v for k, v in stored.items() if k in known}, **overrides})


class _LossLog:
    """CSV of the loss terms per iteration and its PNG plot (rank 0 only)."""

    def __init__(self, folder: Path, start: int) -> None:
        import matplotlib  # imported up front: a Ctrl-C must not land in the middle of this slow import

        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401

        self.csv = folder / "losses.csv"
        self.rows: list[dict[str, float]] = []
        if self.csv.is_file() and start > 0:  # keep what the resumed run already logged
            with open(self.csv, newline="") as fh:
                rows = [{k: int(v) if k == "iteration" else float(v) for k, v in r.items()} for r in csv.DictReader(fh)]
            self.rows = [r for r in rows if r["iteration"] <= start]

    def add(self, iteration: int, terms: dict[str, float], seconds: float) -> None:
        self.rows.append({"iteration": iteration, **terms, "seconds": seconds})

    def write(self) -> None:
        if not self.rows:
            return
        keys = list(dict.fromkeys(k for row in self.rows for k in row))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, keys)
        writer.writeheader()
        writer.writerows(self.rows)
        with atomic_write(self.csv) as fh:
            fh.write(buf.getvalue().encode())
        self._plot(keys)

    def _plot(self, keys: list[str]) -> None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        its = [r["iteration"] for r in self.rows]
        for key in keys:
            if key not in ("iteration", "seconds"):
                ax.plot(its, [r.get(key, float("nan")) for r in self.rows], label=key, lw=1)
        ax.set_yscale("log")
        ax.set_xlabel("iteration")
        ax.set_ylabel("weighted loss")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        with atomic_write(self.csv.with_suffix(".png")) as fh:
            fh.write(buf.getvalue())

    def final_losses(self, last: int = 50) -> dict[str, float]:
        tail = self.rows[-last:]
        keys = [k for k in (tail[0] if tail else {}) if k not in ("iteration", "seconds")]
        return {k: sum(r[k] for r in tail) / len(tail) for k in keys}


def _validation_inputs(opts: TrainOptions, photos: PhotoBatches) -> list[torch.Tensor]:
    if opts.val_images:
        images = [to_tensor(load_rgb(p)) for p in opts.val_images]
    else:  # centre crops of the first two photos
        images = [img[None, :, : 2 * opts.size, : 2 * opts.size] for img in photos.images[:2]]
    out = []
    for img in images:
        if opts.task == "sr":  # the degraded centre crop
            s = opts.scale
            h, w = img.shape[-2:]
            side = min(h, w, 256) // s * s
            img = degrade(img[:, :, (h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side], s)
        else:
            factor = 256 / max(img.shape[-2:])
            if factor < 1:
                img = torch.nn.functional.interpolate(img, scale_factor=factor, mode="bilinear", antialias=True)
        out.append(img)
    return out


def _save_validation(net: TransformNet, inputs: list[torch.Tensor], folder: Path, iteration: int,
                     device: torch.device) -> None:
    was_training = net.training
    net.eval()
    with torch.inference_mode():
        outs = [net(x.to(device)).cpu() for x in inputs]
    net.train(was_training)
    height = max(o.shape[-2] for o in outs)
    width = sum(o.shape[-1] for o in outs)
    strip = torch.ones(1, 3, height, width)
    x = 0
    for o in outs:
        strip[:, :, : o.shape[-2], x : x + o.shape[-1]] = o
        x += o.shape[-1]
    save_image(to_pil(strip), folder / "val" / f"iter_{iteration:06d}.png")


def train(opts: TrainOptions, resume: str | os.PathLike | None = None) -> Path | None:
    """Train a transformation network; returns the model file's path (on rank 0; others get None)."""
    tune_allocator()
    if opts.task == "style" and not opts.style:
        raise PerceptaError("style training needs a style image (--style)")
    ctx = Distributed.from_env(opts.device)
    device = ctx.device
    if opts.batch_size % ctx.world:
        raise PerceptaError(f"batch size {opts.batch_size} is not divisible by {ctx.world} processes")
    torch.manual_seed(opts.seed)
    net = TransformNet(opts.net_config())
    if opts.init_from:
        try:
            net.load_state_dict(load_model(opts.init_from).net.state_dict())
        except RuntimeError:
            raise PerceptaError(f"{opts.init_from}: its architecture differs from this run's") from None
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed training sizes: let cuDNN pick the fastest kernels
    net.to(device).train()
    loss = PerceptualLoss(opts.loss_weights()).to(device)
    if opts.task == "style":
        loss.set_style(_style_tensor(opts).to(device))
    optimizer = torch.optim.Adam(net.parameters(), lr=opts.lr)
    start, elapsed = 0, 0.0
    if resume:
        state = load_checkpoint(resume)
        net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        start, elapsed = int(state["iteration"]), float(state["elapsed"])
    model = torch.nn.parallel.DistributedDataParallel(net) if ctx.world > 1 else net

    photos = PhotoBatches(opts.data, opts.size, opts.size if opts.task == "style" else None,
                          frozenset(opts.exclude), opts.seed)
    if ctx.main and photos.skipped:
        tqdm.write(f"percepta: skipped {len(photos.skipped)} unreadable image(s) in {opts.data}")
    per_rank = opts.batch_size // ctx.world
    log = _LossLog(opts.log_dir, start) if ctx.main else None
    val_inputs = _validation_inputs(opts, photos) if ctx.main and opts.val_every else []

    def make_batch(iteration: int) -> Batch:
        rows = slice(ctx.rank * per_rank, (ctx.rank + 1) * per_rank)
        if opts.task == "style":
            return style_batch(photos, iteration, opts.batch_size, rows, device)
        return sr_batch(photos, iteration, opts.batch_size, opts.scale, rows, device)

    def out_of_time() -> bool:
        """Whether ``time_budget`` is spent (decided by rank 0, so every rank stops together)."""
        return opts.time_budget is not None and ctx.main_decides(time.perf_counter() - t0 >= opts.time_budget)

    def on_sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous_handler = signal.signal(signal.SIGTERM, on_sigterm)
    bar = tqdm(range(start, opts.iters), initial=start, total=opts.iters, unit="it",
               desc=f"train {opts.task}", disable=not (opts.progress and ctx.main), dynamic_ncols=True)
    iteration = start
    t0 = time.perf_counter() - elapsed
    try:
        for it in bar:
            batch = make_batch(it)
            terms = loss(model(batch.input), batch.target)
            optimizer.zero_grad(set_to_none=True)
            terms.total.backward()
            optimizer.step()
            iteration = it + 1
            values = ctx.mean(terms.as_floats())
            last = iteration == opts.iters or out_of_time()
            if log is not None:
                log.add(iteration, values, time.perf_counter() - t0)
                bar.set_postfix({k: f"{v:.4g}" for k, v in values.items()})
                if iteration % opts.checkpoint_every == 0 or last:
                    save_checkpoint(opts.checkpoint_path, iteration, net, optimizer, opts, time.perf_counter() - t0)
                    log.write()
                if opts.val_every and (iteration % opts.val_every == 0 or last):
                    _save_validation(net, val_inputs, opts.log_dir, iteration, device)
            if last and iteration < opts.iters:
                if log is not None:
                    tqdm.write(f"percepta: time budget of {opts.time_budget:g} s spent after {iteration} iterations")
                break
    except KeyboardInterrupt:
        if log is not None:
            save_checkpoint(opts.checkpoint_path, iteration, net, optimizer, opts, time.perf_counter() - t0)
            try:  # the checkpoint is what matters; an interrupted log write must not hide it
                log.write()
            except Exception:
                pass
        raise TrainingInterrupted(f"interrupted at iteration {iteration}; checkpoint saved to "
                                  f"{opts.checkpoint_path}; continue with --resume {opts.checkpoint_path}") from None
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        bar.close()
    if log is None:
        return None
    return _save_final(net, opts, log, time.perf_counter() - t0, iteration)


def _device_name(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name()})"
    return device if device != "cpu" else f"cpu ({torch.get_num_threads()} threads)"


def _save_final(net: TransformNet, opts: TrainOptions, log: _LossLog, seconds: float, iteration: int) -> Path:
    meta: dict[str, Any] = {
        "name": Path(opts.output).name.split(".")[0],
        "task": opts.task,
        "scale": net.config.scale,
        "iterations": iteration,
        "train_seconds": round(seconds, 1),
        "train_device": _device_name(opts.device),
        "final_losses": log.final_losses(),
        "options": {k: v for k, v in asdict(opts).items() if k not in ("progress", "extra_meta")},
        **opts.extra_meta,
    }
    if opts.style:
        meta.update(_thumbnail(opts.style))
    return save_model(opts.output, net.cpu().eval(), meta, half=opts.half)


#: options a resumed recipe takes from the current call rather than from its checkpoint
_WHERE_AND_HOW_LONG = ("data", "output", "checkpoint", "val_images", "device", "iters", "time_budget", "progress")


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
    if resume is not None:  # the checkpoint's hyper-parameters; this call's places, length and device
        opts = options_from_checkpoint(resume, **{k: getattr(opts, k) for k in _WHERE_AND_HOW_LONG})
    path = train(opts, resume=resume)
    if path is not None and ckpt.is_file():
        os.replace(ckpt, ckpt.with_suffix(".done.ckpt"))
    return path
