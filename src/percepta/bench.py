"""The paper's experiments, measured: feed-forward network vs optimisation (Fig. 5).

:func:`objective_comparison` evaluates a style model's perceptual objective on some images (one
forward pass each) and runs Gatys et al.'s optimisation from content initialisation on the same images
with the same loss weights, layers and style image size as the model's training, recording the total
loss after every L-BFGS iteration. The paper (section 4.1, Fig. 5) reports that its networks reach the
loss of roughly 50-100 L-BFGS iterations.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
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


def objective_loss(weights: LossWeights, style: torch.Tensor) -> PerceptualLoss:
    """The perceptual objective with its style targets set (one loss network for all its layers)."""
    loss = PerceptualLoss(weights, VGG16LossNetwork(list(weights.content_layers) + list(weights.style_layers)))
    loss.set_style(style)
    return loss


def optimization_curve(loss: PerceptualLoss, image: torch.Tensor, iters: int, progress: bool = False) -> list[float]:
    """Total loss after 0, 1, ..., ``iters`` L-BFGS iterations from content initialisation."""
    result = optimize_image(loss, image, initial_image(image, "content"), iters, "lbfgs", progress=progress)
    return [h["total"] for h in result.history[:iters]] + [result.final["total"]]


def objective_comparison(model: str | Model, images: Sequence[str | os.PathLike], iters: int = 200,
                         size: int = 256, style_path: str | os.PathLike | None = None, progress: bool = False,
                         curves: Sequence[Sequence[float]] | None = None) -> ObjectiveComparison:
    """Paper Fig. 5 for one model: its loss vs optimisation's loss per L-BFGS iteration, same objective.

    ``curves`` (one per image, from :func:`optimization_curve` with the same objective) skips the
    optimisation, which does not depend on the model.
    """
    model = load_model(model)
    weights, trained_style, style_size = training_weights(model)
    style = to_tensor(resize_to_max(load_rgb(style_path or trained_style), style_size))
    loss = objective_loss(weights, style)
    crops = [square_crop(path, size) for path in images]
    with torch.no_grad():
        net_losses = [loss(run_network(model, x), x).as_floats()["total"] for x in crops]
    if curves is None:
        curves = [optimization_curve(loss, x, iters, progress) for x in crops]
    n = len(curves)
    curve = [sum(c[k] for c in curves) / n for k in range(iters + 1)]
    return ObjectiveComparison(model.name, [os.path.basename(str(p)) for p in images], size,
                               sum(net_losses) / n, net_losses, curve)


# --- paper Table 1: speed ---------------------------------------------------------------------------

@dataclass
class SpeedRow:
    """One cell group of Table 1: optimisation time for ``iters`` L-BFGS iterations vs one forward pass."""

    size: int
    iters: int
    optimization_seconds: float
    network_seconds: float
    estimated: bool  # optimisation time extrapolated from the measured per-iteration time (--quick)

    @property
    def speedup(self) -> float:
        return self.optimization_seconds / self.network_seconds


def median_seconds(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after one warm-up call."""
    import statistics
    import time

    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed_table(content: torch.Tensor, style: torch.Tensor, sizes: Sequence[int], iters: Sequence[int],
                model: Model | None = None, device: str = "cpu", quick: bool = False, quick_iters: int = 10,
                repeats: int = 5) -> list[SpeedRow]:
    """Paper Table 1 on this machine: both sides measured in one run, same device and threads.

    The network is ``model`` or, by default, the paper's style network (its speed does not depend on
    its weights). Optimisation uses the default objective from content initialisation; without
    ``quick`` it runs max(iters) iterations at each size, timing the cumulative cost at each count;
    with ``quick`` it times ``quick_iters`` iterations and extrapolates (rows say ``estimated``).
    """
    import time

    from .nets import NetConfig, TransformNet

    net = (model.net if model is not None else TransformNet(NetConfig.style())).to(device).eval()
    rows: list[SpeedRow] = []
    loss = objective_loss(LossWeights(), style.to(device)).to(device)
    for size in sizes:
        x = torch.nn.functional.interpolate(content, size=(size, size), mode="bilinear", antialias=True).to(device)

        def forward() -> None:
            with torch.inference_mode():
                net(x)
            if device.startswith("cuda"):
                torch.cuda.synchronize()

        network = median_seconds(forward, repeats)
        marks: dict[int, float] = {}
        count = quick_iters if quick else max(iters)
        start = time.perf_counter()

        def tick(step: int, _: dict[str, float]) -> None:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            marks[step + 1] = time.perf_counter() - start

        optimize_image(loss, x, initial_image(x, "content"), 1, "lbfgs", progress=False)  # warm-up
        start = time.perf_counter()
        optimize_image(loss, x, initial_image(x, "content"), count, "lbfgs", progress=False, callback=tick)
        per_iter = marks[count] / count
        for n in iters:
            seconds = per_iter * n if quick else marks[n]
            rows.append(SpeedRow(size, n, seconds, network, quick))
    return rows


def speed_markdown(rows: Sequence[SpeedRow]) -> str:
    lines = ["| image size | L-BFGS iterations | optimisation | feed-forward network | speed-up |", "|---|---|---|---|---|"]
    for r in rows:
        est = " (estimated)" if r.estimated else ""
        lines.append(f"| {r.size}x{r.size} | {r.iters} | {r.optimization_seconds:.2f} s{est} | "
                     f"{r.network_seconds * 1000:.1f} ms | {r.speedup:.0f}x |")
    return "\n".join(lines)


# --- paper Figs. 3-4: reconstructions ---------------------------------------------------------------

FEATURE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


def reconstruction_grid(image: torch.Tensor, iters: int = 200, progress: bool = False):
    """Reconstructions from features (one layer each) and Grams (relu1_2 up to each depth), labelled.

    Returns a PIL image: the target, then a row of feature reconstructions, a row of style ones.
    """
    from PIL import Image, ImageDraw

    from .image import to_pil
    from .optimize import reconstruct

    lossnet = VGG16LossNetwork(FEATURE_LAYERS)
    tiles: list[list[tuple[str, torch.Tensor]]] = [[("original", image)], [], []]
    for depth, layer in enumerate(FEATURE_LAYERS, start=1):
        feat = reconstruct(image, layer, "features", iters, progress=progress, lossnet=lossnet)
        tiles[1].append((f"features {layer}", feat.image))
        style = reconstruct(image, FEATURE_LAYERS[:depth], "style", iters, progress=progress, lossnet=lossnet)
        tiles[2].append((f"Grams relu1_2..{layer}", style.image))
    h, w = image.shape[-2:]
    label = 14
    grid = Image.new("RGB", (w * len(FEATURE_LAYERS), (h + label) * 3), "white")
    draw = ImageDraw.Draw(grid)
    for row, items in enumerate(tiles):
        for col, (name, tensor) in enumerate(items):
            x, y = col * w, row * (h + label)
            grid.paste(to_pil(tensor), (x, y + label))
            draw.text((x + 2, y + 1), name, fill="black")
    return grid


# --- reports -------------------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parent / "examples"
EXAMPLE_CONTENT = EXAMPLES / "picos_de_europa.jpg"
EXAMPLE_STYLE = EXAMPLES / "hokusai_great_wave.jpg"


def _machine() -> str:
    import platform

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} torch threads, torch {torch.__version__}")


def _write(out: Path, name: str, text: str) -> Path:
    from .fsutil import atomic_write

    with atomic_write(out / name) as fh:
        fh.write(text.encode())
    return out / name


def bench_speed(out: str | os.PathLike, sizes: Sequence[int], iters: Sequence[int], device: str = "cpu",
                quick: bool = False, model: str | None = None) -> str:
    """``percepta bench speed``: Table 1 as markdown (also written to OUT/speed.md and speed.json)."""
    import json

    out = Path(out)
    content = to_tensor(load_rgb(EXAMPLE_CONTENT))
    style = to_tensor(resize_to_max(load_rgb(EXAMPLE_STYLE), 256))
    loaded = load_model(model, device) if model else None
    rows = speed_table(content, style, sizes, iters, loaded, device, quick)
    net = f"model `{loaded.name}`" if loaded else "the paper's style network"
    table = speed_markdown(rows)
    text = (f"# Speed (paper Table 1)\n\nMachine: {_machine()}, device {device}. Optimisation: L-BFGS, default "
            f"objective, content initialisation; network: {net}, median of 5 forward passes after a warm-up."
            f"{' Estimated rows extrapolate a 10-iteration measurement.' if quick else ''}\n\n{table}\n")
    _write(out, "speed.md", text)
    _write(out, "speed.json", json.dumps([{**asdict(r), "speedup": r.speedup} for r in rows], indent=1))
    return table


def bench_objective(out: str | os.PathLike, model: str, images: Sequence[str | os.PathLike],
                    iters: int = 500, sizes: Sequence[int] = (256,)) -> str:
    """``percepta bench objective``: Fig. 5 per size, a PNG plot and the crossing iteration."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    results = [objective_comparison(model, images, iters, size) for size in sizes]
    fig, axes = plt.subplots(1, len(results), figsize=(4.5 * len(results), 3.4), dpi=100, squeeze=False)
    lines = ["| size | network loss | " + " | ".join(f"L-BFGS {k}" for k in (50, 100, 200, 500) if k <= iters)
             + " | crossing iteration |", "|---|---|" + "---|" * len([k for k in (50, 100, 200, 500) if k <= iters]) + "---|"]
    for ax, r in zip(axes[0], results):
        ax.plot(range(len(r.curve)), r.curve, label="optimisation (L-BFGS)")
        ax.axhline(r.network_loss, color="C3", ls="--", label=f"network {r.model}")
        ax.set(yscale="log", xlabel="iteration", title=f"{r.size}x{r.size}")
        crossing = str(r.crossing) if r.crossing is not None else f"> {iters}"
        lines.append(f"| {r.size} | {r.network_loss:.4g} | "
                     + " | ".join(f"{r.loss_at(k):.4g}" for k in (50, 100, 200, 500) if k <= iters) + f" | {crossing} |")
    axes[0][0].set_ylabel("total loss (mean over images)")
    axes[0][0].legend()
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "objective.png")
    plt.close(fig)
    table = "\n".join(lines)
    _write(out, "objective.md", f"# Objective vs L-BFGS iterations (paper Fig. 5)\n\nModel `{results[0].model}`, "
           f"images {', '.join(results[0].images)}; machine: {_machine()}.\n\n{table}\n\n![curves](objective.png)\n")
    _write(out, "objective.json", json.dumps([asdict(r) | {"crossing": r.crossing} for r in results], indent=1))
    return table


def bench_reconstruct(out: str | os.PathLike, image: str | os.PathLike, size: int = 256, iters: int = 200) -> str:
    """``percepta bench reconstruct``: Figs. 3-4 as one labelled grid PNG."""
    from .image import save_image

    out = Path(out)
    target = square_crop(image, size)
    grid = reconstruction_grid(target, iters)
    save_image(grid, out / "reconstruct.png")
    text = (f"# Feature and style reconstructions (paper Figs. 3-4)\n\n`{Path(image).name}` at {size}x{size}, "
            f"{iters} L-BFGS iterations from white noise each. Row 2: from one layer's features; row 3: from "
            f"the Grams of relu1_2 up to the named layer.\n\n![reconstructions](reconstruct.png)\n")
    _write(out, "reconstruct.md", text)
    return str(out / "reconstruct.png")
