"""Image quality measures: PSNR / SSIM on Y and feature distance (paper section 4.2, Table 3), and the
style ratio that, with the relu2_2 feature distance, measures a stylised image (:func:`style_ratio`).

The standard protocol: images are compared on the luma channel Y of ITU-R BT.601 as MATLAB's
``rgb2ycbcr`` computes it (0..255 scale, not rounded), with ``border`` = scale pixels shaved off every
side. SSIM is Wang et al.'s: 11 x 11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, population
covariances, data range 255, mean over the valid region (scikit-image's ``structural_similarity``).
The paper also argues that PSNR/SSIM miss what the perceptual loss improves, so the feature
reconstruction loss (eq. 2) at VGG-16 relu2_2, the layer the SR networks were trained with, is
reported too.

The metric functions are pure: they take RGB tensors (N, 3, H, W) or (3, H, W) in [0, 1] and return the
mean over the batch. Quantising to 8-bit levels is the caller's business (:mod:`percepta.evaluate`, which
runs the models and builds the tables, does it).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .hyperparams import STYLE_LAYERS
from .losses import feature_reconstruction_loss, gram_matrix, style_reconstruction_loss
from .lossnet import VGG16LossNetwork

_Y_WEIGHTS = (65.481, 128.553, 24.966)


def rgb_to_y(x: Tensor) -> Tensor:
    """BT.601 luma as MATLAB ``rgb2ycbcr``: ``16 + 65.481 R + 128.553 G + 24.966 B`` (RGB in [0, 1]).

    (N, 3, H, W) -> (N, H, W), (3, H, W) -> (H, W); values on the 0..255 scale (16..235), not rounded.
    """
    if x.dim() not in (3, 4) or x.shape[-3] != 3:
        raise ValueError(f"expected an RGB tensor (3, H, W) or (N, 3, H, W), got {tuple(x.shape)}")
    r, g, b = x.unbind(-3)
    return 16.0 + _Y_WEIGHTS[0] * r + _Y_WEIGHTS[1] * g + _Y_WEIGHTS[2] * b


def shave(x: Tensor, border: int) -> Tensor:
    """Drop ``border`` pixels from each side of the last two dimensions."""
    if border < 0 or 2 * border >= min(x.shape[-2:]):
        raise ValueError(f"cannot shave {border} pixels from a {x.shape[-1]}x{x.shape[-2]} image")
    return x[..., border : x.shape[-2] - border, border : x.shape[-1] - border] if border else x


def _y_pairs(sr: Tensor, hr: Tensor, border: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if sr.shape != hr.shape:
        raise ValueError(f"sizes differ: {tuple(sr.shape)} and {tuple(hr.shape)}")
    ys = [shave(rgb_to_y(t.detach().cpu().double()), border) for t in (sr, hr)]
    if ys[0].dim() == 2:
        ys = [y.unsqueeze(0) for y in ys]
    return [(a.numpy(), b.numpy()) for a, b in zip(*ys)]


def psnr_y(sr: Tensor, hr: Tensor, border: int) -> float:
    """PSNR (dB) on shaved Y, data range 255; mean over the batch; ``inf`` for identical images."""
    from skimage.metrics import peak_signal_noise_ratio

    values = [
        math.inf if np.array_equal(a, b) else float(peak_signal_noise_ratio(b, a, data_range=255.0))
        for a, b in _y_pairs(sr, hr, border)
    ]
    return float(np.mean(values))


def ssim_y(sr: Tensor, hr: Tensor, border: int) -> float:
    """SSIM on shaved Y (Gaussian window sigma 1.5, 11 x 11, K1 0.01, K2 0.03, range 255); batch mean."""
    from skimage.metrics import structural_similarity

    values = [
        structural_similarity(
            b, a, data_range=255.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, K1=0.01, K2=0.03
        )
        for a, b in _y_pairs(sr, hr, border)
    ]
    return float(np.mean(values))


@torch.no_grad()
def feature_distance(sr: Tensor, hr: Tensor, lossnet: VGG16LossNetwork, layer: str = "relu2_2") -> float:
    """Feature reconstruction loss (eq. 2): mean squared difference of VGG-16 ``layer`` activations."""
    device = lossnet.mean_bgr.device
    batch = torch.cat([t.unsqueeze(0) if t.dim() == 3 else t for t in (sr, hr)]).to(device, torch.float32)
    feats = lossnet(batch, [layer])[layer]
    a, b = feats.chunk(2)
    return float(feature_reconstruction_loss(a, b))


@torch.no_grad()
def style_ratio(output: Tensor, photo: Tensor, style: Tensor, lossnet: VGG16LossNetwork,
                layers: tuple[str, ...] = STYLE_LAYERS) -> float:  # fmt: skip
    """How much nearer ``output`` is to the painting's style than its ``photo`` was (lower: more stylised).

    ``sum_j ||G_j(output) - G_j(style)||_F^2 / sum_j ||G_j(photo) - G_j(style)||_F^2`` over the style
    layers, with eq. 3's Grams (``F F^T / (C H W)``, so the three images may differ in size). Each image is
    one (1, 3, H, W) or (3, H, W) tensor in [0, 1].
    """
    device = lossnet.mean_bgr.device

    def grams(x: Tensor) -> dict[str, Tensor]:
        x = (x.unsqueeze(0) if x.dim() == 3 else x).to(device, torch.float32)
        return {name: gram_matrix(f) for name, f in lossnet(x, list(layers)).items()}

    target = grams(style)

    def distance(x: Tensor) -> float:
        return sum(float(style_reconstruction_loss(g, target[name])) for name, g in grams(x).items())

    return distance(output) / distance(photo)


def edge_busyness(y: Tensor, width: int = 4) -> list[float]:
    """Lines along the picture's edges, as drawn by a network's zero-padded convolutions: how much the first
    and last ``width`` columns (left, right) and rows (top, bottom) of ``y`` change from one to the next, each
    over the mean change between the inner ones (2 * ``width`` in from every edge). About 1 where the picture
    simply goes on to its edges; 2 means that an edge's strip is twice as busy as the inside."""
    cols = (y[..., :, 1:] - y[..., :, :-1]).abs().mean(dim=(0, 1, 2))
    rows = (y[..., 1:, :] - y[..., :-1, :]).abs().mean(dim=(0, 1, 3))
    inner = slice(2 * width, -2 * width)
    return [float(s[k].mean() / s[inner].mean()) for s in (cols, rows) for k in (slice(0, width), slice(-width, None))]


def quantize(x: Tensor) -> Tensor:
    """Round to 8-bit levels, as if the image were saved: ``round(x * 255) / 255``, clamped."""
    return x.clamp(0.0, 1.0).mul(255.0).round().div(255.0)


def bicubic_upscale(lr: Tensor, scale: int) -> Tensor:
    """The bicubic baseline: ``F.interpolate`` (bicubic, align_corners=False), clamped to [0, 1]."""
    return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0.0, 1.0)
