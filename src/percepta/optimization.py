"""The optimisation baseline: image synthesis by gradient descent on the perceptual loss.

This is Gatys et al.'s method, the paper's baseline (section 4.1, Table 1, Fig. 5): start from the
content image (or noise) and minimise the same objective the feed-forward networks are trained on,
with L-BFGS (or Adam). With a single loss term it gives the paper's feature and style reconstructions
(section 3.2, Figs. 3 and 4): an image whose phi_j features, or Gram matrices, match a target's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .losses import LossWeights, PerceptualLoss
from .lossnet import VGG16LossNetwork

Optimizer = Literal["lbfgs", "adam"]
Init = Literal["content", "noise"]


@dataclass
class OptimizeResult:
    """The synthesised image (1, 3, H, W) in [0, 1] and the loss terms before each iteration."""

    image: Tensor
    history: list[dict[str, float]] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)

    @property
    def initial(self) -> dict[str, float]:
        return self.history[0] if self.history else self.final

    def pil(self) -> Any:
        """The image as an 8-bit PIL image."""
        from .image import to_pil

        return to_pil(self.image)


def as_tensor(image: Any) -> Tensor:
    """A PIL image (or a path-less array (3, H, W) / (N, 3, H, W) in [0, 1]) as a (1, 3, H, W) float tensor; a
    tensor as it is: what the optimisation takes, like :func:`percepta.stylize` takes any of them."""
    if isinstance(image, Tensor):
        return image if image.dim() == 4 else image.unsqueeze(0)
    from .infer import as_batch

    return torch.from_numpy(as_batch(image))


def initial_image(content: Tensor, init: Init, seed: int = 0) -> Tensor:
    """The starting point: a copy of the content image, or uniform white noise of its size."""
    if init == "content":
        return content.detach().clone()
    if init == "noise":
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=generator).to(content)
    raise ValueError(f"init must be 'content' or 'noise', not {init!r}")


def optimize_image(
    loss: PerceptualLoss,
    content: Tensor,
    init: Tensor,
    iters: int = 100,
    optimizer: Optimizer = "lbfgs",
    lr: float | None = None,
    progress: bool = True,
    callback: Callable[[int, dict[str, float]], None] | None = None,
) -> OptimizeResult:
    """Minimise ``loss(image, content)`` over the pixels of ``image``, starting from ``init``.

    One L-BFGS iteration is one loss evaluation (no line search), as in Gatys et al.'s and the
    authors' Torch code, so iteration counts compare with the paper's 100/300/500. ``loss`` must
    already hold its style targets (``set_style``). The image is clamped to [0, 1] at the end.
    """
    if iters < 0:
        raise ValueError("iters must be >= 0")
    targets = loss.content_features(content) if loss.weights.content else None
    image = init.detach().clone().requires_grad_(True)
    if optimizer == "lbfgs":
        opt: torch.optim.Optimizer = torch.optim.LBFGS(
            [image], lr=lr or 1.0, max_iter=1, history_size=100, tolerance_grad=0.0, tolerance_change=0.0
        )
    elif optimizer == "adam":
        opt = torch.optim.Adam([image], lr=lr or 0.02)
    else:
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam', not {optimizer!r}")
    result = OptimizeResult(image)
    bar = tqdm(range(iters), desc=f"{optimizer} optimisation", unit="it", disable=not progress, leave=False)

    def closure() -> Tensor:
        opt.zero_grad(set_to_none=True)
        terms = loss(image, content, content_features=targets)
        terms.total.backward()
        result.history.append(terms.as_floats())
        return terms.total

    for step in bar:
        opt.step(closure)
        bar.set_postfix(loss=f"{result.history[-1]['total']:.4g}")
        if callback is not None:
            callback(step, result.history[-1])
    with torch.no_grad():
        result.final = loss(image, content, content_features=targets).as_floats()
        result.image = image.detach().clamp(0.0, 1.0)
    return result


def stylize_by_optimization(
    content: Any,
    style: Any,
    weights: LossWeights | None = None,
    iters: int = 100,
    optimizer: Optimizer = "lbfgs",
    init: Init = "content",
    lr: float | None = None,
    seed: int = 0,
    progress: bool = True,
    lossnet: VGG16LossNetwork | None = None,
) -> OptimizeResult:
    """Gatys et al.'s style transfer with the paper's objective (the baseline of Table 1 / Fig. 5). ``content`` and
    ``style``: PIL images or tensors (1, 3, H, W) in [0, 1]; ``result.image`` is a tensor, ``result.pil()`` a PIL
    image."""
    content, style = as_tensor(content), as_tensor(style)
    loss = PerceptualLoss(weights or LossWeights(), lossnet)
    if loss.weights.style:
        loss.set_style(style)
    return optimize_image(loss, content, initial_image(content, init, seed), iters, optimizer, lr, progress)


def reconstruct(
    target: Tensor,
    layer: str | Sequence[str],
    kind: Literal["features", "style"] = "features",
    iters: int = 200,
    optimizer: Optimizer = "lbfgs",
    seed: int = 0,
    tv: float = 0.0,
    progress: bool = True,
    lossnet: VGG16LossNetwork | None = None,
) -> OptimizeResult:
    """Paper Figs. 3-4: from white noise, find an image whose ``layer`` features (or Grams) match ``target``'s.

    ``layer`` may be several layers (the paper's style reconstructions use relu1_2 up to a depth).

    Feature reconstructions from shallow layers look like the target; from deep layers they keep its
    content and layout but not colour or texture. Style reconstructions keep colours and textures
    but not spatial structure.
    """
    layers = (layer,) if isinstance(layer, str) else tuple(layer)
    if kind == "features":
        weights = LossWeights(content=1.0, style=0.0, tv=tv, content_layers=layers)
    elif kind == "style":
        weights = LossWeights(content=0.0, style=1.0, tv=tv, style_layers=layers)
    else:
        raise ValueError(f"kind must be 'features' or 'style', not {kind!r}")
    loss = PerceptualLoss(weights, lossnet)
    if kind == "style":
        loss.set_style(target)
    return optimize_image(loss, target, initial_image(target, "noise", seed), iters, optimizer, None, progress)
