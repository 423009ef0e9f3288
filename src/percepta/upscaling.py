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
matched, per channel, to the low-resolution input's (scikit-image's ``match_histograms`` algorithm, in numpy
so that the light install needs no scikit-image; tested against it).
:func:`upscale_files` handles files and folders through :func:`percepta.folders.process_files`, as
``stylize_files`` does: greyscale inputs load as RGB, and an alpha channel is carried over (resized to
the output by ``save_image``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import ImageError, PerceptaError
from .folders import FileResult, process_files
from .infer import ImageLike, as_batch, like_input, load_for, run_network
from .limits import MAX_INFERENCE_PIXELS, MAX_OUTPUT_PIXELS
from .modelfile import Model
from .runtime import tune_allocator


def _match_channel(source: np.ndarray, template: np.ndarray) -> np.ndarray:
    """scikit-image's ``_match_cumulative_cdf`` for float images: each source value goes to the template value
    at the same quantile (linear interpolation between the template's unique values)."""
    _, inverse, counts = np.unique(source.ravel(), return_inverse=True, return_counts=True)
    t_values, t_counts = np.unique(template.ravel(), return_counts=True)
    quantiles = np.cumsum(counts) / source.size
    t_quantiles = np.cumsum(t_counts) / template.size
    return np.interp(quantiles, t_quantiles, t_values)[inverse].reshape(source.shape)


def match_histograms(output: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-channel histogram matching of ``output`` to ``reference`` ((N, 3, H, W) arrays each, any sizes):
    the paper's SR post-processing (section 4.2), image by image."""
    matched = [[_match_channel(o[c], r[c]) for c in range(o.shape[0])] for o, r in zip(output, reference)]
    return np.clip(np.asarray(matched, dtype=np.float32), 0.0, 1.0)


def _untiled(model: Model, x: np.ndarray, backend: str = "auto") -> np.ndarray:
    s = model.config.scale
    pixels = x.shape[-2] * x.shape[-1] * s * s
    if pixels > MAX_INFERENCE_PIXELS:
        why = "instance-norm models cannot be tiled" if model.config.norm == "instance" else "use tiling (tile > 0)"
        raise ImageError(
            f"{x.shape[-1]}x{x.shape[-2]} x{s} is too large to upscale in one piece "
            f"(output limit {MAX_INFERENCE_PIXELS:,} pixels); {why}"
        )
    return run_network(model, x, backend)


def _tiled(model: Model, x: np.ndarray, tile: int, overlap: int, backend: str = "auto") -> np.ndarray:
    """Run ``model`` on overlapping tiles of ``x`` and paste the cropped outputs together."""
    n, _, h, w = x.shape
    s = model.config.scale
    if h <= tile and w <= tile:
        return run_network(model, x, backend)
    out = np.empty((n, 3, h * s, w * s), np.float32)
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            bottom, right = min(top + tile, h), min(left + tile, w)
            t0, l0 = max(top - overlap, 0), max(left - overlap, 0)
            t1, l1 = min(bottom + overlap, h), min(right + overlap, w)
            y = run_network(model, np.ascontiguousarray(x[:, :, t0:t1, l0:l1]), backend)
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
    """Super-resolve a PIL image or an RGB array or tensor ((3, H, W) or (N, 3, H, W) in [0, 1]).

    ``model``: a super-resolution :class:`Model`, name or path (a style model raises PerceptaError).
    Returns the input's kind, of size (H * scale, W * scale). ``tile`` (low-resolution pixels, 0 = off)
    and ``overlap`` (context per side) bound memory (see the module docstring; instance-norm models
    run untiled). ``match_histogram``: match the output's colours to the input's (paper section 4.2).
    ``backend``: the inference path (:func:`percepta.infer.backend_for`).
    """
    tune_allocator()
    if tile < 0 or overlap < 0:
        raise ValueError(f"tile and overlap must be >= 0, not {tile} and {overlap}")
    model = load_for(model, device, backend)
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
    :func:`percepta.folders.process_files`'s."""
    return process_files(inputs, model, output, upscale, load=load_for, **options)
