"""Perceptual and per-pixel losses (paper section 3.2-3.3, equations 2-5).

All images are RGB tensors in [0, 1]; features come from :class:`~percepta.lossnet.VGG16LossNetwork`.

* feature reconstruction loss, eq. 2:  ``||phi_j(y_hat) - phi_j(y)||^2 / (C_j H_j W_j)``
* Gram matrix, eq. 3:                  ``G_j = psi psi^T / (C_j H_j W_j)``, psi the C_j x H_jW_j reshape
* style reconstruction loss, eq. 4:    ``||G_j(y_hat) - G_j(y)||_F^2``, summed over the style layers
* pixel loss, eq. 5:                   ``||y_hat - y||^2 / (C H W)``
* total-variation regulariser (section 3.3, after Mahendran & Vedaldi)
* style octaves (not in the paper; ``LossWeights.style_octaves``, ``--style-octaves``): eq. 4 also on the
  output and the painting halved, quartered, ... (a Gaussian-pyramid Gram loss as in Snelgrove, "High-Resolution
  Multi-Scale Neural Texture Synthesis", SIGGRAPH Asia 2017): the same layers then see structures 2x, 4x as
  large, which the paper's loss leaves to relu4_3 alone

Each loss is averaged over the batch, so its size does not depend on the batch size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import ImageError
from .hyperparams import GramReduction, LossWeights
from .lossnet import VGG16LossNetwork

__all__ = [
    "LossTerms",
    "LossWeights",
    "PerceptualLoss",
    "feature_reconstruction_loss",
    "gram_matrix",
    "pixel_loss",
    "style_reconstruction_loss",
    "total_variation",
]


def feature_reconstruction_loss(features: Tensor, target: Tensor) -> Tensor:
    """Eq. 2: squared Euclidean distance of feature maps divided by C*H*W, averaged over the batch."""
    return torch.mean((features - target) ** 2)


def gram_matrix(features: Tensor) -> Tensor:
    """Eq. 3: ``G = psi psi^T / (C H W)`` for features (N, C, H, W) -> Grams (N, C, C)."""
    n, c, h, w = features.shape
    psi = features.reshape(n, c, h * w)
    return torch.bmm(psi, psi.transpose(1, 2)) / (c * h * w)


def style_reconstruction_loss(gram: Tensor, target_gram: Tensor, reduction: GramReduction = "frobenius") -> Tensor:
    """Eq. 4: squared Frobenius norm of the Gram difference, averaged over the batch.

    ``target_gram`` (1, C, C) broadcasts over any batch. ``reduction="mean"`` divides by C^2 (the mean
    squared Gram difference), the form used by the authors' released code and by their published
    style weights; it is a flagged deviation from eq. 4 (``--gram-reduction mean``).
    """
    squared = (gram - target_gram) ** 2
    per_image = squared.sum(dim=(1, 2)) if reduction == "frobenius" else squared.mean(dim=(1, 2))
    return per_image.mean()


def octave(image: Tensor, k: int) -> Tensor:
    """``image`` at 1/2^k of its size (antialiased: each octave a level of a Gaussian-like pyramid)."""
    if k == 0:
        return image
    # in fp32: the antialiased kernel has no bf16 version on the CPU (the loss network casts it back under autocast)
    return F.interpolate(image.float(), scale_factor=0.5**k, mode="bilinear", antialias=True, align_corners=False)


def octave_key(layer: str, k: int) -> str:
    """Where the Grams of ``layer`` at octave ``k`` are kept: ``relu3_3``, ``relu3_3/2``, ``relu3_3/4``, ..."""
    return layer if k == 0 else f"{layer}/{2**k}"


def pixel_loss(output: Tensor, target: Tensor) -> Tensor:
    """Eq. 5: ``||y_hat - y||^2 / (C H W)``, averaged over the batch."""
    return torch.mean((output - target) ** 2)


def total_variation(image: Tensor) -> Tensor:
    """Total-variation regulariser (section 3.3): mean squared difference of neighbouring pixels.

    The paper cites Mahendran & Vedaldi without an equation; this is their beta=2 form on the 0..255
    scale the loss network sees, with the sums replaced by means over the N*C*(H-1)*W and N*C*H*(W-1)
    differences so that it does not depend on the image size. At 256x256, weight 1 here is about
    weight 5e-6 on the authors' sum-based TV.
    """
    dy = (image[:, :, 1:, :] - image[:, :, :-1, :]) * 255.0
    dx = (image[:, :, :, 1:] - image[:, :, :, :-1]) * 255.0
    return torch.mean(dy**2) + torch.mean(dx**2)


@dataclass
class LossTerms:
    """Weighted loss terms of one forward pass; ``total`` is what gets minimised."""

    total: Tensor
    parts: dict[str, Tensor] = field(default_factory=dict)

    def as_floats(self) -> dict[str, float]:
        """``{"total": ..., "content": ..., "style": ..., ...}`` as Python floats."""
        return {"total": float(self.total.detach()), **{k: float(v.detach()) for k, v in self.parts.items()}}


class PerceptualLoss(nn.Module):
    """Weighted sum of feature, style, pixel and TV losses (paper eq. 1 with section 3.3's terms).

    Under ``torch.autocast`` (mixed-precision training) the loss network runs in half precision and the
    terms themselves in fp32: squared features on the 0..255 scale overflow fp16.

    The output image goes through the loss network once per call (as deep as the deepest layer used);
    the content target only as deep as the content layers, without gradients. Style targets are Grams
    of the style image, computed once by :meth:`set_style` and valid for any content size and batch.
    """

    def __init__(self, weights: LossWeights | None = None, lossnet: VGG16LossNetwork | None = None) -> None:
        super().__init__()
        self.weights = weights or LossWeights()
        w = self.weights
        used = (list(w.content_layers) if w.content else []) + (list(w.style_layers) if w.style else [])
        self.lossnet = lossnet or VGG16LossNetwork(used or ["relu1_1"])
        self.style_grams: dict[str, Tensor] = {}

    @torch.no_grad()
    def set_style(self, style: Tensor) -> None:
        """Compute the target Grams of a style image (1, 3, H, W) in [0, 1] (with style octaves, of its halved,
        quartered, ... copies too, keyed ``relu3_3/2``, ``relu3_3/4``, ...)."""
        self.style_grams = {}
        for k in range(self.weights.style_octaves):
            feats = self._octave_features(style, k)
            self.style_grams.update({key: gram_matrix(f.float()) for key, f in feats.items()})

    def _octave_features(self, image: Tensor, k: int) -> dict[str, Tensor]:
        """The style layers' features of ``image`` at octave ``k``, keyed by :func:`octave_key`."""
        w = self.weights
        try:
            feats = self.lossnet(octave(image, k), w.style_layers)
        except ImageError as exc:
            if k == 0:
                raise
            raise ImageError(f"{exc} (style octave {k + 1} of {w.style_octaves}, the image halved {k} times: "
                             "use fewer --style-octaves or larger images)") from None  # fmt: skip
        return {octave_key(name, k): f for name, f in feats.items()}

    @torch.no_grad()
    def content_features(self, content: Tensor) -> dict[str, Tensor]:
        """Feature targets phi_j(y) of a content batch, computed only up to the content layers."""
        return self.lossnet(content, self.weights.content_layers)

    def forward(
        self, output: Tensor, content: Tensor | None = None, content_features: dict[str, Tensor] | None = None
    ) -> LossTerms:
        """Loss of ``output`` against a content target (image or precomputed features) and the style."""
        w = self.weights
        layers: list[str] = []
        if w.content:
            layers += w.content_layers
            if content_features is None:
                if content is None:
                    raise ValueError("content loss needs a content image or its features")
                content_features = self.content_features(content)
        if w.style:
            if not self.style_grams:
                raise ValueError("style loss needs set_style() first")
            layers += [name for name in w.style_layers if name not in layers]
        feats = self.lossnet(output, layers) if layers else {}
        for k in range(1, w.style_octaves if w.style else 1):
            feats.update(self._octave_features(output, k))
        with torch.autocast(output.device.type, enabled=False):  # under mixed precision: the terms in fp32
            return self._terms(output.float(), {k: v.float() for k, v in feats.items()}, content, content_features)

    def _terms(self, output: Tensor, feats: dict[str, Tensor], content: Tensor | None,
               content_features: dict[str, Tensor] | None) -> LossTerms:  # fmt: skip
        w = self.weights
        parts: dict[str, Tensor] = {}
        if w.content:
            parts["content"] = w.content * sum(
                feature_reconstruction_loss(feats[name], content_features[name].float()) for name in w.content_layers
            )
        if w.style:
            keys = [octave_key(name, k) for k in range(w.style_octaves) for name in w.style_layers]
            parts["style"] = w.style * sum(
                style_reconstruction_loss(gram_matrix(feats[key]), self.style_grams[key], w.gram_reduction)
                for key in keys
            )
        if w.pixel:
            if content is None:
                raise ValueError("pixel loss needs the target image")
            parts["pixel"] = w.pixel * pixel_loss(output, content.float())
        if w.tv:
            parts["tv"] = w.tv * total_variation(output)
        total = sum(parts.values()) if parts else output.new_zeros(())
        return LossTerms(total, parts)
