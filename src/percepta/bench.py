"""The paper's experiments, measured: feed-forward network vs optimisation (Fig. 5).

:func:`objective_comparison` evaluates a style model's perceptual objective on some images (one
forward pass each) and runs Gatys et al.'s optimisation from content initialisation on the same images
with the same loss weights, layers and style image size as the model's training, recording the total
loss after every L-BFGS iteration. The paper (section 4.1, Fig. 5) reports that its networks reach the
loss of roughly 50-100 L-BFGS iterations.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torchvision.transforms.functional as TF

from .image import load_rgb, to_tensor
from .infer import resize_to_max, run_network
from .losses import LossWeights, PerceptualLoss
from .lossnet import VGG16LossNetwork
from .modelfile import Model, load_model
from .optimize import initial_image, optimize_image


@dataclass
class ObjectiveComparison:
    """Mean total loss over the images: the network's, and the optimisation's after each iteration."""

    model: str
    images: list[str]
    size: int
    network_loss: float
    network_losses: list[float] = field(default_factory=list)
    curve: list[float] = field(default_factory=list)  # curve[k]: mean loss after k iterations

    def loss_at(self, iterations: int) -> float:
        return self.curve[min(iterations, len(self.curve) - 1)]

    @property
    def crossing(self) -> int | None:
        """First iteration count at which the optimisation's loss is at or below the network's."""
        return next((k for k, v in enumerate(self.curve) if v <= self.network_loss), None)


def training_weights(model: Model) -> tuple[LossWeights, str, int | None]:
    """The loss weights, style image path and style size a style model was trained with."""
    opts = model.meta.get("options") or {}
    if model.task != "style" or not opts.get("style"):
        raise ValueError(f"{model.name}: not a style model with its training options recorded")
    defaults = LossWeights()
    weights = LossWeights(opts.get("content_weight", defaults.content), opts.get("style_weight", defaults.style),
                          opts.get("tv_weight", defaults.tv), 0.0,
                          opts.get("content_layers", defaults.content_layers),
                          opts.get("style_layers", defaults.style_layers),
                          opts.get("gram_reduction", defaults.gram_reduction))
    return weights, opts["style"], opts.get("style_size")


def square_crop(path: str | os.PathLike, size: int) -> torch.Tensor:
    """A photo as the paper's test images: shorter side resized to ``size``, centre ``size`` x ``size`` crop."""
    img = TF.center_crop(TF.resize(load_rgb(path), size, antialias=True), size)
    return to_tensor(img)


def objective_comparison(model: str | Model, images: Sequence[str | os.PathLike], iters: int = 200,
                         size: int = 256, style_path: str | os.PathLike | None = None,
                         progress: bool = False) -> ObjectiveComparison:
    """Paper Fig. 5 for one model: its loss vs optimisation's loss per L-BFGS iteration, same objective."""
    model = load_model(model)
    weights, trained_style, style_size = training_weights(model)
    style = to_tensor(resize_to_max(load_rgb(style_path or trained_style), style_size))
    loss = PerceptualLoss(weights, VGG16LossNetwork(list(weights.content_layers) + list(weights.style_layers)))
    loss.set_style(style)
    net_losses, curves = [], []
    for path in images:
        x = square_crop(path, size)
        with torch.no_grad():
            net_losses.append(loss(run_network(model, x), x).as_floats()["total"])
        result = optimize_image(loss, x, initial_image(x, "content"), iters, "lbfgs", progress=progress)
        curves.append([h["total"] for h in result.history[:iters]] + [result.final["total"]])
    n = len(curves)
    curve = [sum(c[k] for c in curves) / n for k in range(iters + 1)]
    return ObjectiveComparison(model.name, [os.path.basename(str(p)) for p in images], size,
                               sum(net_losses) / n, net_losses, curve)
