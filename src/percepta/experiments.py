"""The paper's experiments re-run on this machine (``percepta bench``): Table 1 (speed), Fig. 5 and Figs. 3-4.

:func:`objective_comparison` evaluates a style model's perceptual objective on some images (one
forward pass each) and runs Gatys et al.'s optimisation on the same images -- from white noise, the paper's
baseline (section 4.1; :data:`~percepta.hyperparams.FIG5_INIT`), or from the photo with ``init="content"`` --
with the same loss weights, layers and style image size as the model's training, recording the total
loss after every L-BFGS iteration. The paper (section 4.1, Fig. 5) reports that its networks reach the
loss of roughly 50-100 L-BFGS iterations.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .hyperparams import FIG5_INIT, FIG5_ITERATIONS, LossWeights
from .image import center_square, load_rgb, resize_long_side, to_tensor
from .infer import run_network
from .losses import PerceptualLoss
from .lossnet import VGG16LossNetwork
from .modelfile import Model, load_model
from .optimization import Init, initial_image, optimize_image


@dataclass
class ObjectiveComparison:
    """Mean total loss over the images: the network's, and the optimisation's after each iteration."""

    model: str
    images: list[str]
    size: int
    network_loss: float
    network_losses: list[float] = field(default_factory=list)
    curve: list[float] = field(default_factory=list)  # curve[k]: mean loss after k iterations
    init: str = FIG5_INIT  # where the optimisation started: "noise" (the paper's baseline) or "content"

    def loss_at(self, iterations: int) -> float:
        return self.curve[min(iterations, len(self.curve) - 1)]

    @property
    def crossing(self) -> int | None:
        """First iteration count at which the optimisation's loss is at or below the network's."""
        return next((k for k, v in enumerate(self.curve) if v <= self.network_loss), None)


def training_weights(model: Model) -> tuple[LossWeights, str, int | None]:
    """The loss weights, style image path and style size a style model was trained with."""
    from .train.options import TrainOptions

    opts = TrainOptions.stored_in(model.meta)
    if model.task != "style" or opts is None or not opts.style:
        raise ValueError(f"{model.name}: not a style model with its training options recorded")
    return opts.loss, str(opts.style), opts.style_size


def square_crop(path: str | os.PathLike, size: int) -> torch.Tensor:
    """A photo as the paper's test images (:func:`percepta.image.center_square`), as a (1, 3, size, size) tensor."""
    return to_tensor(center_square(load_rgb(path), size))


def objective_loss(weights: LossWeights, style: torch.Tensor, device: str | torch.device = "cpu") -> PerceptualLoss:
    """The perceptual objective with its style targets set (one loss network for all its layers), on ``device``:
    the network is moved before the style's Grams are computed, so both live there."""
    loss = PerceptualLoss(weights, VGG16LossNetwork(list(weights.content_layers) + list(weights.style_layers)))
    loss = loss.to(device)
    loss.set_style(style.to(device))
    return loss


def optimization_curve(
    loss: PerceptualLoss, image: torch.Tensor, iters: int, progress: bool = False, init: Init = FIG5_INIT
) -> list[float]:
    """Total loss after 0, 1, ..., ``iters`` L-BFGS iterations from ``init``: white noise (seed 0), as the
    paper's baseline (section 4.1), or the photo itself."""
    result = optimize_image(loss, image, initial_image(image, init), iters, "lbfgs", progress=progress)
    return [h["total"] for h in result.history[:iters]] + [result.final["total"]]


def objective_comparison(
    model: str | Model,
    images: Sequence[str | os.PathLike],
    iters: int = 200,
    size: int = 256,
    style_path: str | os.PathLike | None = None,
    progress: bool = False,
    curves: Sequence[Sequence[float]] | None = None,
    init: Init = FIG5_INIT,
) -> ObjectiveComparison:
    """Paper Fig. 5 for one model: its loss vs optimisation's loss per L-BFGS iteration, same objective.

    ``curves`` (one per image, from :func:`optimization_curve` with the same objective and ``init``) skips
    the optimisation, which does not depend on the model.
    """
    model = load_model(model)
    weights, trained_style, style_size = training_weights(model)
    style = to_tensor(resize_long_side(load_rgb(style_path or trained_style), style_size))
    loss = objective_loss(weights, style)
    crops = [square_crop(path, size) for path in images]
    with torch.no_grad():
        net_losses = [loss(run_network(model, x), x).as_floats()["total"] for x in crops]
    if curves is None:
        curves = [optimization_curve(loss, x, iters, progress, init) for x in crops]
    n = len(curves)
    curve = [sum(c[k] for c in curves) / n for k in range(iters + 1)]
    return ObjectiveComparison(
        model.name, [os.path.basename(str(p)) for p in images], size, sum(net_losses) / n, net_losses, curve, init
    )


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


def speed_table(
    content: torch.Tensor,
    style: torch.Tensor,
    sizes: Sequence[int],
    iters: Sequence[int],
    model: Model | None = None,
    device: str = "cpu",
    quick: bool = False,
    quick_iters: int = 10,
    repeats: int = 5,
) -> list[SpeedRow]:
    """Paper Table 1 on this machine: both sides measured in one run, same device and threads.

    The network is ``model`` or, by default, the paper's style network (its speed does not depend on
    its weights). Optimisation uses the default objective from content initialisation; without
    ``quick`` it runs max(iters) iterations at each size, timing the cumulative cost at each count;
    with ``quick`` it times ``quick_iters`` iterations and extrapolates (rows say ``estimated``).
    """
    from .nets import NetConfig, TransformNet

    net = (model.net if model is not None else TransformNet(NetConfig.style())).to(device).eval()
    loss = objective_loss(LossWeights(), style, device)
    rows: list[SpeedRow] = []
    for size in sizes:
        x = torch.nn.functional.interpolate(content, size=(size, size), mode="bilinear", antialias=True).to(device)
        rows += _speed_rows(net, loss, x, iters, device, quick_iters if quick else None, repeats)
    return rows


def _speed_rows(
    net: torch.nn.Module,
    loss: PerceptualLoss,
    x: torch.Tensor,
    iters: Sequence[int],
    device: str,
    quick_iters: int | None,
    repeats: int,
) -> list[SpeedRow]:
    """Table 1's rows for one image size (see :func:`speed_table`)."""
    import time

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def forward() -> None:
        with torch.inference_mode():
            net(x)
        sync()

    network = median_seconds(forward, repeats)
    marks: dict[int, float] = {}
    count = quick_iters or max(iters)
    start = time.perf_counter()

    def tick(step: int, _: dict[str, float]) -> None:
        sync()
        marks[step + 1] = time.perf_counter() - start

    optimize_image(loss, x, initial_image(x, "content"), 1, "lbfgs", progress=False)  # warm-up
    start = time.perf_counter()
    optimize_image(loss, x, initial_image(x, "content"), count, "lbfgs", progress=False, callback=tick)
    per_iter = marks[count] / count
    quick = quick_iters is not None
    return [SpeedRow(x.shape[-1], n, per_iter * n if quick else marks[n], network, quick) for n in iters]


def speed_markdown(rows: Sequence[SpeedRow]) -> str:
    lines = [
        "| image size | L-BFGS iterations | optimisation | feed-forward network | speed-up |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        est = " (estimated)" if r.estimated else ""
        lines.append(
            f"| {r.size}x{r.size} | {r.iters} | {r.optimization_seconds:.2f} s{est} | "
            f"{r.network_seconds * 1000:.1f} ms | {r.speedup:.0f}x |"
        )
    return "\n".join(lines)


# --- paper Figs. 3-4: reconstructions ---------------------------------------------------------------

FEATURE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


def reconstruction_grid(image: torch.Tensor, iters: int = 200, progress: bool = False):
    """Reconstructions from features (one layer each) and Grams (relu1_2 up to each depth), labelled.

    Returns a PIL image: the target, then a row of feature reconstructions, a row of style ones.
    """
    from PIL import Image, ImageDraw

    from .image import to_pil
    from .optimization import reconstruct

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

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}"
    )


def _write(out: Path, name: str, text: str) -> Path:
    from .fsutil import atomic_write

    with atomic_write(out / name) as fh:
        fh.write(text.encode())
    return out / name


def bench_speed(
    out: str | os.PathLike,
    sizes: Sequence[int],
    iters: Sequence[int],
    device: str = "cpu",
    quick: bool = False,
    model: str | None = None,
) -> str:
    """``percepta bench speed``: Table 1 as markdown (also written to OUT/speed.md and speed.json)."""
    import json

    out = Path(out)
    content = to_tensor(load_rgb(EXAMPLE_CONTENT))
    style = to_tensor(resize_long_side(load_rgb(EXAMPLE_STYLE), 256))
    loaded = load_model(model, device) if model else None
    rows = speed_table(content, style, sizes, iters, loaded, device, quick)
    net = f"model `{loaded.name}`" if loaded else "the paper's style network"
    table = speed_markdown(rows)
    text = (
        f"# Speed (paper Table 1)\n\nMachine: {_machine()}, device {device}. Optimisation: L-BFGS, default "
        f"objective, content initialisation; network: {net}, median of 5 forward passes after a warm-up."
        f"{' Estimated rows extrapolate a 10-iteration measurement.' if quick else ''}\n\n{table}\n"
    )
    _write(out, "speed.md", text)
    _write(out, "speed.json", json.dumps([{**asdict(r), "speedup": r.speedup} for r in rows], indent=1))
    return table


def objective_table(results: Sequence[ObjectiveComparison], iters: int) -> str:
    """Fig. 5 as a markdown table: a row per model and size, its loss and the optimisation's at checkpoints."""
    marks = [k for k in FIG5_ITERATIONS if k <= iters]
    lines = [
        "| model | size | network loss | " + " | ".join(f"L-BFGS {k}" for k in marks) + " | network reached at |",
        "|---|---|---|" + "---|" * len(marks) + "---|",
    ]
    for r in results:
        crossing = f"{r.crossing} iterations" if r.crossing is not None else f"> {iters} iterations"
        lines.append(
            f"| {r.model} | {r.size} | {r.network_loss:.4g} | "
            + " | ".join(f"{r.loss_at(k):.4g}" for k in marks)
            + f" | {crossing} |"
        )
    return "\n".join(lines)


def objective_plot(results: Sequence[ObjectiveComparison], path: str | os.PathLike) -> None:
    """Fig. 5 as a PNG: one panel per result, the optimisation's loss curve and the network's loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.3), dpi=100, squeeze=False)
    for ax, r in zip(axes[0], results):
        ax.plot(range(len(r.curve)), r.curve, label="L-BFGS optimisation")
        ax.axhline(r.network_loss, color="C3", ls="--", label="feed-forward network")
        ax.set(yscale="log", xlabel="L-BFGS iteration", title=f"{r.model}, {r.size}x{r.size}")
        top = 2 * max(r.curve[0], r.network_loss)
        if max(r.curve) > top:  # L-BFGS without line search can overshoot by orders of magnitude at first
            ax.set_ylim(top=top)
            ax.text(0.98, 0.95, f"clipped: early peak {max(r.curve):.1e}", transform=ax.transAxes, ha="right",
                    va="top", fontsize=8)  # fmt: skip
    axes[0][0].set_ylabel(f"total loss (mean of {len(results[0].images)} photos)")
    axes[0][0].legend()
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


_INIT_WORDS = {
    "noise": "white noise, as the paper's baseline (section 4.1)",
    "content": "the photo itself (content initialisation, a stricter yardstick than the paper's white noise)",
}


def write_objective_report(
    out: str | os.PathLike, results: Sequence[ObjectiveComparison], iters: int, name: str = "objective"
) -> str:
    """OUT/NAME.md (the table), OUT/NAME.json (every curve) and OUT/NAME.png (the plot); returns the table."""
    import json

    out = Path(out)
    table = objective_table(results, iters)
    objective_plot(results, out / f"{name}.png")
    _write(
        out,
        f"{name}.md",
        f"# Objective vs L-BFGS iterations (paper Fig. 5)\n\nMean total perceptual loss on "
        f"{', '.join(results[0].images)} (centre crops), each model's own training objective; optimisation "
        f"from {_INIT_WORDS[results[0].init]}. Machine: {_machine()}.\n\n{table}\n\n![curves]({name}.png)\n",
    )
    _write(out, f"{name}.json", json.dumps([asdict(r) | {"crossing": r.crossing} for r in results], indent=1))
    return table


def bench_objective(
    out: str | os.PathLike,
    model: str,
    images: Sequence[str | os.PathLike],
    iters: int = 500,
    sizes: Sequence[int] = (256,),
    init: Init = FIG5_INIT,
) -> str:
    """``percepta bench objective``: Fig. 5 per size, a PNG plot and the crossing iteration."""
    results = [objective_comparison(model, images, iters, size, init=init) for size in sizes]
    return write_objective_report(out, results, iters)


def bench_reconstruct(out: str | os.PathLike, image: str | os.PathLike, size: int = 256, iters: int = 200) -> str:
    """``percepta bench reconstruct``: Figs. 3-4 as one labelled grid PNG."""
    from .image import save_image

    out = Path(out)
    target = square_crop(image, size)
    grid = reconstruction_grid(target, iters)
    save_image(grid, out / "reconstruct.png")
    text = (
        f"# Feature and style reconstructions (paper Figs. 3-4)\n\n`{Path(image).name}` at {size}x{size}, "
        f"{iters} L-BFGS iterations from white noise each. Row 2: from one layer's features; row 3: from "
        f"the Grams of relu1_2 up to the named layer.\n\n![reconstructions](reconstruct.png)\n"
    )
    _write(out, "reconstruct.md", text)
    return str(out / "reconstruct.png")
