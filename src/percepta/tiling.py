"""Bounded memory for images of any size: overlapping tiles with feathered seams and shared statistics.

A style network's activations grow with the image (the paper's network holds ~130 floats per pixel at
full resolution); an 8000 x 6000 photo would need tens of gigabytes in one pass. :func:`run_tiled` cuts
the image into ``tile`` x ``tile`` tiles that overlap by at least ``overlap`` pixels, runs each, and
blends the overlaps with linear ramps (feathering), so that no tile edge shows as a line.

Instance normalisation (the deviation ``norm="instance"``) is the catch: it normalises each channel with
its mean and variance over the *whole* image, so tiles normalised by their own statistics come out in
different tones and the seams show however they are blended. :func:`frozen_statistics` takes each
instance-norm layer's statistics once, from the whole image downscaled to ``stats_size`` on its longer
side, and returns a copy of the network that normalises every tile with those. Batch-norm models in eval
mode and models without normalisation are per-pixel affine there already. The seam test in
``tests/test_fast_inference.py`` measures it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .image import shrink_tensor

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


def _ramp(size: int, start: int, length: int, overlap: int) -> Tensor:
    """Weights along one axis of a tile at ``start``: rising over ``overlap`` pixels after an inner edge,
    falling before one, 1 elsewhere (never 0, so every pixel has weight)."""
    w = torch.ones(size)
    steps = torch.linspace(0.0, 1.0, overlap + 2)[1:-1]
    if start > 0:
        w[:overlap] = steps
    if start + size < length:
        w[-overlap:] = torch.minimum(w[-overlap:], steps.flip(0))
    return w


def run_tiled(
    fn: Callable[[Tensor], Tensor], x: Tensor, tile: int = TILE, overlap: int = OVERLAP, align: int = 1
) -> Tensor:
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
        x = F.pad(x, (0, extra_w, 0, extra_h), mode="reflect")
    h, w = x.shape[-2:]
    out = torch.zeros(n, 3, h, w)
    total = torch.zeros(1, 1, h, w)
    for top in _positions(h, tile, overlap, align):
        for left in _positions(w, tile, overlap, align):
            th, tw = min(tile, h), min(tile, w)
            y = fn(x[:, :, top : top + th, left : left + tw])
            mask = _ramp(th, top, h, overlap)[:, None] * _ramp(tw, left, w, overlap)[None, :]
            out[:, :, top : top + th, left : left + tw] += y * mask
            total[:, :, top : top + th, left : left + tw] += mask
    return out.div_(total)[:, :, :h0, :w0]


def frozen_statistics(net: nn.Module, x: Tensor, stats_size: int = STATS_SIZE) -> nn.Module:
    """A copy of ``net`` in which every ``InstanceNorm2d`` normalises with the per-channel mean and variance it
    saw on the image ``x`` (1, 3, H, W) downscaled to ``stats_size`` (longer side), whatever part of ``x`` it
    is given: an eval-mode ``BatchNorm2d`` holding those statistics and the layer's affine weights, the same
    formula. The copy is a plain per-pixel network, so tiles can run on any backend (ONNX Runtime folds the
    frozen norms into the convolutions). ``net`` itself is left as it was; without instance norms the copy is
    not needed and ``net`` comes back."""
    norms = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]
    if not norms:
        return net
    if x.shape[0] != 1:
        raise ValueError("frozen_statistics takes one image at a time")
    device = next(net.parameters()).device
    stats: dict[nn.Module, tuple[Tensor, Tensor]] = {}

    def record(module: nn.Module, args: tuple[Tensor, ...]) -> None:
        var, mean = torch.var_mean(args[0].float(), dim=(2, 3), unbiased=False)
        stats[module] = (mean[0], var[0])

    hooks = [m.register_forward_pre_hook(record) for m in norms]
    try:
        with torch.no_grad():
            net(shrink_tensor(x, stats_size).to(device))
    finally:
        for hook in hooks:
            hook.remove()
    copy_ = copy.deepcopy(net).eval()
    originals = dict(zip(norms, [m for m in copy_.modules() if isinstance(m, nn.InstanceNorm2d)]))
    replacements = {}
    for module, twin in originals.items():
        mean, var = stats[module]
        frozen = nn.BatchNorm2d(module.num_features, eps=module.eps, affine=True).to(device).eval()
        with torch.no_grad():
            frozen.running_mean.copy_(mean)
            frozen.running_var.copy_(var)
            if module.affine:
                frozen.weight.copy_(module.weight)
                frozen.bias.copy_(module.bias)
            else:
                frozen.weight.fill_(1.0)
                frozen.bias.zero_()
        replacements[twin] = frozen
    for parent in copy_.modules():
        for name, child in parent.named_children():
            if child in replacements:
                setattr(parent, name, replacements[child])
    return copy_
