"""Single-image super-resolution with a trained x4 / x8 network (paper section 4.2), tiled.

:func:`upscale` takes a PIL image or an RGB tensor and returns the same kind, exactly ``scale`` times
the input's size. Large inputs are processed in tiles so that memory stays bounded: the low-resolution
input is cut into ``tile`` x ``tile`` tiles, each run with ``overlap`` pixels of extra context on every
side (clipped at the image border), the context is cropped off the output tile and the result pasted in
place -- no blending. The paper's SR networks (c9s1-64, four padded residual blocks, log2(scale)
stride-1/2 convs, c9s1-3) see at most ~15 low-resolution pixels to each side (9x9 conv: 4, eight 3x3
convs: 8, the x2 upsamplers and the last 9x9 conv at output resolution: ~2-3), so with the default
``overlap=16`` a tile's output equals the untiled output up to floating-point rounding. Batch-norm
models in eval mode are per-pixel affine, hence tile-safe; instance-norm models normalise with
statistics of the whole (tile) image, so they are not: a model with ``config.norm == "instance"`` is
always run untiled, whatever ``tile`` says.

``match_histogram=True`` is the paper's post-processing for SR: the output's colour histogram is
matched, per channel, to the low-resolution input's (``skimage.exposure.match_histograms``).
:func:`upscale_files` handles files and folders through :func:`percepta.infer.process_files`, as
``stylize_files`` does: greyscale inputs load as RGB, and an alpha channel is carried over (resized to
the output by ``save_image``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from .errors import ImageError, PerceptaError
from .infer import (
    MAX_INFERENCE_PIXELS,
    MAX_OUTPUT_PIXELS,
    FileResult,
    ImageLike,
    as_batch,
    like_input,
    process_files,
    run_network,
)
from .modelfile import Model, load_model
from .runtime import tune_allocator


def match_histograms(output: Tensor, reference: Tensor) -> Tensor:
    """Per-channel histogram matching of ``output`` to ``reference`` ((N, 3, H, W) each, any sizes).

    The paper's SR post-processing (section 4.2), image by image, with scikit-image.
    """
    from skimage.exposure import match_histograms as _match

    matched = [
        torch.from_numpy(_match(o.permute(1, 2, 0).numpy(), r.permute(1, 2, 0).numpy(), channel_axis=-1))
        .permute(2, 0, 1)
        .float()
        for o, r in zip(output.detach().cpu(), reference.detach().cpu())
    ]
    return torch.stack(matched).clamp(0.0, 1.0)


def _untiled(model: Model, x: Tensor, backend: str = "auto") -> Tensor:
    s = model.config.scale
    pixels = x.shape[-2] * x.shape[-1] * s * s
    if pixels > MAX_INFERENCE_PIXELS:
        why = "instance-norm models cannot be tiled" if model.config.norm == "instance" else "use tiling (tile > 0)"
        raise ImageError(
            f"{x.shape[-1]}x{x.shape[-2]} x{s} is too large to upscale in one piece "
            f"(output limit {MAX_INFERENCE_PIXELS:,} pixels); {why}"
        )
    return run_network(model, x, backend)


def _tiled(model: Model, x: Tensor, tile: int, overlap: int, backend: str = "auto") -> Tensor:
    """Run ``model`` on overlapping tiles of ``x`` and paste the cropped outputs together."""
    n, _, h, w = x.shape
    s = model.config.scale
    if h <= tile and w <= tile:
        return run_network(model, x, backend)
    out = torch.empty(n, 3, h * s, w * s)
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            bottom, right = min(top + tile, h), min(left + tile, w)
            t0, l0 = max(top - overlap, 0), max(left - overlap, 0)
            t1, l1 = min(bottom + overlap, h), min(right + overlap, w)
            y = run_network(model, x[:, :, t0:t1, l0:l1], backend)
            dy, dx = (top - t0) * s, (left - l0) * s
            out[:, :, top * s : bottom * s, left * s : right * s] = y[
                :, :, dy : dy + (bottom - top) * s, dx : dx + (right - left) * s
            ]
    return out


def upscale(
    image: ImageLike,
    model: str | os.PathLike | Model,
    *,
    tile: int = 256,
    overlap: int = 16,
    match_histogram: bool = False,
    device: str = "cpu",
    backend: str = "auto",
) -> ImageLike:
    """Super-resolve a PIL image or an RGB tensor ((3, H, W) or (N, 3, H, W) in [0, 1]).

    ``model``: a super-resolution :class:`Model`, name or path (a style model raises PerceptaError).
    Returns the input's kind, of size (H * scale, W * scale). ``tile`` (low-resolution pixels, 0 = off)
    and ``overlap`` (context per side) bound memory (see the module docstring; instance-norm models
    run untiled). ``match_histogram``: match the output's colours to the input's (paper section 4.2).
    ``backend``: the inference path (:mod:`percepta.backends`).
    """
    tune_allocator()
    if tile < 0 or overlap < 0:
        raise ValueError(f"tile and overlap must be >= 0, not {tile} and {overlap}")
    model = load_model(model, device)
    if model.task != "sr":
        raise PerceptaError(f"{model.name} is a {model.task} model, not a super-resolution model")
    x = as_batch(image)
    s = model.config.scale
    out_h, out_w = x.shape[-2] * s, x.shape[-1] * s
    if out_h * out_w > MAX_OUTPUT_PIXELS:
        raise ImageError(
            f"{x.shape[-1]}x{x.shape[-2]} x{s} would be {out_w}x{out_h} = {out_h * out_w / 1e6:.0f} MP, "
            f"over the limit of {MAX_OUTPUT_PIXELS / 1e6:.0f} MP; downscale the input first"
        )
    if tile and model.config.norm != "instance":
        y = _tiled(model, x, tile, overlap, backend)
    else:
        y = _untiled(model, x, backend)
    if match_histogram:
        y = match_histograms(y, x)
    return like_input(y, image)


def upscale_files(inputs: Iterable[str | os.PathLike], model: str | os.PathLike | Model, output: str | os.PathLike,
                  **options: Any) -> list[FileResult]:  # fmt: skip
    """Upscale image files (or folders of them) into ``output``; ``options`` are :func:`upscale`'s and
    :func:`percepta.infer.process_files`'s."""
    return process_files(inputs, model, output, upscale, **options)
