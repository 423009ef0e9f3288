"""Training data: any folder of photos, random crops and flips, and the super-resolution degradation.

Style transfer (paper section 4.1) trains on photos resized to 256 x 256; here each photo's shorter side
is resized to ``size`` once (kept in memory) and every batch takes random ``size`` x ``size`` crops with
random horizontal flips. Super-resolution (section 4.2) takes random ``patch`` x ``patch`` crops of the
full-resolution photos (288 x 288 in the paper) and makes the low-resolution input with :func:`degrade`.

Batches are a pure function of (seed, iteration): resuming a run or splitting a global batch over
several processes (DDP) sees exactly the same pixels as one uninterrupted single-process run.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image
from torch import Tensor

from .errors import ImageError, PerceptaError
from .hyperparams import SR_BLUR_SIGMA
from .image import images_in, load_rgb, resize_short_side, to_tensor


def training_images(folder: str | os.PathLike, exclude: set[str] | frozenset[str] = frozenset()) -> list[Path]:
    """The training photos: every image under ``folder`` (recursively, sorted) but the names in ``exclude``."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise PerceptaError(f"{root}: training data folder not found")
    files = [p for p in images_in(root) if p.name not in exclude]
    if not files:
        raise PerceptaError(f"{root}: no images (.jpg, .png, .webp, ...) in this folder")
    return files


def degrade(hr: Tensor, scale: int, sigma: float = SR_BLUR_SIGMA) -> Tensor:
    """The paper's low-resolution input (section 4.2): Gaussian blur (sigma 1.0) then bicubic x1/scale.

    ``hr`` is (N, 3, H, W) in [0, 1] with H and W multiples of ``scale``. The blur kernel spans
    +-3 sigma (7 taps for sigma 1) with reflected borders; the bicubic downsampling is antialiased
    (as MATLAB's ``imresize``). Output (N, 3, H/scale, W/scale), clamped to [0, 1].
    """
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"high-resolution size {w}x{h} is not a multiple of the scale {scale}")
    radius = math.ceil(3 * sigma)
    blurred = TF.gaussian_blur(hr, [2 * radius + 1] * 2, [sigma, sigma]) if sigma > 0 else hr
    lr = F.interpolate(blurred, size=(h // scale, w // scale), mode="bicubic", antialias=True, align_corners=False)
    return lr.clamp(0.0, 1.0)


@dataclass
class Batch:
    """What the network sees (``input``) and what the loss compares its output with (``target``)."""

    input: Tensor
    target: Tensor


class PhotoBatches:
    """Deterministic random batches of crops from a folder of photos.

    ``short_side``: if set, each photo's shorter side is resized to it once (style transfer);
    otherwise photos are used at full resolution (super-resolution patches). ``min_short_side`` (scale
    augmentation, not in the paper): each crop shows its photo at a random shorter side between it and
    ``short_side`` (a larger square cut from the stored photo, resized to the crop). Unreadable files are
    skipped with a warning and counted in ``skipped``.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        crop: int,
        short_side: int | None = None,
        exclude: set[str] | frozenset[str] = frozenset(),
        seed: int = 0,
        min_short_side: int | None = None,
    ) -> None:
        self.crop, self.short_side, self.seed = crop, short_side, seed
        if min_short_side is not None and not (short_side and crop <= min_short_side <= short_side):
            raise ValueError(f"the smallest shorter side ({min_short_side} px) must lie between the crop ({crop} px) "
                             f"and the photos' shorter side ({short_side} px)")  # fmt: skip
        self.min_short_side = min_short_side if min_short_side != short_side else None
        self.images: list[Tensor] = []
        self.skipped: list[str] = []
        for path in training_images(folder, exclude):
            try:
                img = load_rgb(path)
            except ImageError as exc:
                warnings.warn(f"skipping {exc}", stacklevel=2)
                self.skipped.append(str(path))
                continue
            if short_side:
                img = resize_short_side(img, max(short_side, crop), resample=Image.Resampling.BICUBIC, reducing_gap=3.0)
            elif min(img.size) < crop:
                warnings.warn(f"skipping {path}: smaller than the {crop}px crop", stacklevel=2)
                self.skipped.append(str(path))
                continue
            self.images.append(to_tensor(img)[0])
        if not self.images:
            raise PerceptaError(f"{folder}: none of the images could be used for training")

    def __len__(self) -> int:
        return len(self.images)

    def to(self, device: str | torch.device) -> PhotoBatches:
        """Keep the photos on ``device`` (a GPU: crops are then cut there, and nothing waits on the CPU)."""
        self.images = [img.to(device) for img in self.images]
        return self

    def crops(self, iteration: int, batch_size: int) -> Tensor:
        """The global batch of iteration ``iteration``: (batch_size, 3, crop, crop) in [0, 1]."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + iteration)
        out = []
        for _ in range(batch_size):
            img = self.images[int(torch.randint(len(self.images), (1,), generator=g))]
            _, h, w = img.shape
            side = self.crop
            if self.min_short_side:  # the photo at a shorter side s: a square of crop * short_side / s
                s = int(torch.randint(self.min_short_side, self.short_side + 1, (1,), generator=g))
                side = min(round(self.crop * min(h, w) / s), h, w)
            top = int(torch.randint(h - side + 1, (1,), generator=g))
            left = int(torch.randint(w - side + 1, (1,), generator=g))
            crop = img[:, top : top + side, left : left + side]
            if side != self.crop:
                crop = F.interpolate(crop[None], size=(self.crop, self.crop), mode="bicubic", antialias=True,
                                     align_corners=False)[0].clamp(0.0, 1.0)  # fmt: skip
            if bool(torch.rand((), generator=g) < 0.5):
                crop = crop.flip(-1)
            out.append(crop)
        return torch.stack(out)


def style_batch(
    photos: PhotoBatches, iteration: int, batch_size: int, rows: slice = slice(None), device: str | torch.device = "cpu"
) -> Batch:
    """Style transfer: the network's input is the photo, and so is the content target.

    ``rows`` selects this process's share of the global batch, moved once to ``device``.
    """
    x = photos.crops(iteration, batch_size)[rows].to(device)
    return Batch(x, x)


def sr_batch(
    photos: PhotoBatches,
    iteration: int,
    batch_size: int,
    scale: int,
    rows: slice = slice(None),
    device: str | torch.device = "cpu",
) -> Batch:
    """Super-resolution: input is the degraded patch, target the original patch.

    ``rows`` selects this process's share of the global batch; the degradation runs on ``device``.
    """
    hr = photos.crops(iteration, batch_size)[rows].to(device)
    return Batch(degrade(hr, scale), hr)
