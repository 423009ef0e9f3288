"""Bounded memory for images of any size: overlapping tiles with feathered seams and shared statistics.

A style network's activations grow with the image (the paper's network holds ~130 floats per pixel at
full resolution); an 8000 x 6000 photo would need tens of gigabytes in one pass. :func:`run_tiled` cuts
the image into ``tile`` x ``tile`` tiles that overlap by at least ``overlap`` pixels, runs each, and
blends the overlaps with linear ramps (feathering), so that no tile edge shows as a line.

Instance normalisation (the deviation ``norm="instance"``) is the catch: it normalises each channel with
its mean and variance over the *whole* image, so tiles normalised by their own statistics come out in
different tones and the seams show however they are blended. So each instance-norm layer's statistics
are taken once, from the whole image downscaled to ``STATS_SIZE`` on its longer side, and every tile is
normalised with those: the model's tiles graph (:meth:`percepta.graph.Graph.frozen`) on the light path,
:func:`percepta.backends.frozen_statistics` on the PyTorch backends. Batch-norm models in eval mode and
models without normalisation are per-pixel affine there already. The seam test in
``tests/test_fast_inference.py`` measures it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

#: Defaults: tiles of 1024 px with at least 128 px of overlap (wider than the slim network's receptive
#: field's tail, so a tile's border effects are feathered away); statistics from a 1024 px copy.
TILE = 1024
OVERLAP = 128
STATS_SIZE = 1024
#: ``stylize`` tiles automatically above this many pixels (a 2048 x 2048 image)
TILE_ABOVE = 2048 * 2048


def _positions(length: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Start offsets of tiles covering ``length``, evenly spread, overlapping by about ``overlap`` or more,
    each a multiple of ``align`` (``length`` and ``tile`` must be multiples of it)."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (count - 1) / align) * align for i in range(count)]


def _ramp(size: int, start: int, length: int, overlap: int) -> np.ndarray:
    """Weights along one axis of a tile at ``start``: rising over ``overlap`` pixels after an inner edge,
    falling before one, 1 elsewhere (never 0, so every pixel has weight)."""
    w = np.ones(size, np.float32)
    steps = np.linspace(0.0, 1.0, overlap + 2, dtype=np.float32)[1:-1]
    if start > 0:
        w[:overlap] = steps
    if start + size < length:
        w[-overlap:] = np.minimum(w[-overlap:], steps[::-1])
    return w


def run_tiled(
    fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, tile: int = TILE, overlap: int = OVERLAP, align: int = 1
) -> np.ndarray:
    """``fn`` (a same-size image-to-image network) applied to ``x`` (N, 3, H, W) tile by tile, feathered.

    ``align``: the network's downsampling factor. A network with stride-2 layers gives the same output
    for a shifted input only when the shift is a multiple of that factor, so tiles start at multiples of
    it (the image is reflection-padded to a multiple first, as the network itself pads, and cropped back).
    """
    tile -= tile % align
    if tile <= 2 * overlap:
        raise ValueError(f"tile ({tile}) must be more than twice the overlap ({overlap})")
    n, _, h0, w0 = x.shape
    if h0 <= tile and w0 <= tile:
        return fn(x)
    extra_h, extra_w = -h0 % align, -w0 % align
    if extra_h or extra_w:
        x = np.pad(x, ((0, 0), (0, 0), (0, extra_h), (0, extra_w)), mode="reflect")
    h, w = x.shape[-2:]
    out = np.zeros((n, 3, h, w), np.float32)
    total = np.zeros((1, 1, h, w), np.float32)
    for top in _positions(h, tile, overlap, align):
        for left in _positions(w, tile, overlap, align):
            th, tw = min(tile, h), min(tile, w)
            y = fn(np.ascontiguousarray(x[:, :, top : top + th, left : left + tw]))
            mask = _ramp(th, top, h, overlap)[:, None] * _ramp(tw, left, w, overlap)[None, :]
            out[:, :, top : top + th, left : left + tw] += y * mask
            total[:, :, top : top + th, left : left + tw] += mask
    return (out / total)[:, :, :h0, :w0]
