"""What a training run leaves beside its model: the loss log (CSV and plot) and validation images."""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import torch

from ..data import PhotoBatches, degrade
from ..fsutil import atomic_write
from ..image import load_rgb, save_image, to_pil, to_tensor
from ..nets import TransformNet
from .options import TrainOptions


class LossLog:
    """CSV of the loss terms per iteration and its PNG plot (rank 0 only)."""

    def __init__(self, folder: Path, start: int) -> None:
        import matplotlib  # imported up front: a Ctrl-C must not land in the middle of this slow import

        matplotlib.use("Agg")
        import matplotlib.pyplot

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

    def write_best_effort(self) -> None:
        """:meth:`write` when the run is being stopped: a failure is a warning, not a second error."""
        try:
            self.write()
        except (OSError, ValueError, KeyboardInterrupt) as exc:
            warnings.warn(f"could not write the loss log ({type(exc).__name__}: {exc})", stacklevel=2)

    def _plot(self, keys: list[str]) -> None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        its = [r["iteration"] for r in self.rows]
        for key in keys:
            if key not in ("iteration", "seconds"):
                ax.plot(its, [r.get(key, float("nan")) for r in self.rows], label=key, lw=1)
        if any(v > 0 for r in self.rows for k, v in r.items() if k not in ("iteration", "seconds")):
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
        """Mean of each loss term over the last ``last`` iterations."""
        tail = self.rows[-last:]
        keys = [k for k in (tail[0] if tail else {}) if k not in ("iteration", "seconds")]
        return {k: sum(r[k] for r in tail) / len(tail) for k in keys}


def validation_inputs(opts: TrainOptions, photos: PhotoBatches) -> list[torch.Tensor]:
    """The images shown every ``val_every`` iterations: ``val_images``, or centre crops of the first photos."""
    if opts.val_images:
        images = [to_tensor(load_rgb(p)) for p in opts.val_images]
    else:
        images = [img[None, :, : 2 * opts.size, : 2 * opts.size] for img in photos.images[:2]]
    out = []
    for img in images:
        if opts.task == "sr":  # the degraded centre crop
            s = opts.scale
            h, w = img.shape[-2:]
            side = min(h, w, 256) // s * s
            top, left = (h - side) // 2, (w - side) // 2
            img = degrade(img[:, :, top : top + side, left : left + side], s)
        else:
            factor = 256 / max(img.shape[-2:])
            if factor < 1:
                img = torch.nn.functional.interpolate(img, scale_factor=factor, mode="bilinear", antialias=True)
        out.append(img)
    return out


def save_validation(
    net: TransformNet, inputs: list[torch.Tensor], folder: Path, iteration: int, device: torch.device
) -> None:
    """The network's outputs on ``inputs`` side by side, as ``folder/val/iter_NNNNNN.png``."""
    was_training = net.training
    net.eval()
    with torch.inference_mode():
        outs = [net(x.to(device)).cpu() for x in inputs]
    net.train(was_training)
    strip = torch.ones(1, 3, max(o.shape[-2] for o in outs), sum(o.shape[-1] for o in outs))
    x = 0
    for o in outs:
        strip[:, :, : o.shape[-2], x : x + o.shape[-1]] = o
        x += o.shape[-1]
    save_image(to_pil(strip), folder / "val" / f"iter_{iteration:06d}.png")
