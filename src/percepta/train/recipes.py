"""Named training recipes (``percepta train style --recipe``): the paper's settings, and two that fit a CPU.

The paper's recipe (section 4.1: 256 px crops, the painting at 512 px, the full network, 40,000 iterations)
takes 2-9 days on a 2-core CPU and about 16 minutes on one H100 (docs/train_quick.md). The other two are
deliberate deviations, each named here with its reason:

- ``quick``: a user's own painting in minutes. It warm-starts the bundled half-width network from a base
  model trained across the five public-domain paintings (:data:`QUICK_BASE`, chosen by measuring
  time-to-quality on paintings it never saw: docs/adapt_base.md), 128 px crops with the painting at 256 px
  (strokes keep their size relative to the crop), style weight 1.5e-4 (three times the bundled models': at
  theirs a user's painting came out paler than the authors' models paint it; docs/adapt_base.md), TV weight
  150 (a strong total-variation term smooths the fine hatching short runs paint between the painting's
  marks, so the marks come out larger; 300 made them larger still and cost candy some of its change:
  docs/adapt_base.md), the learning rate falling linearly to zero over the time budget (``--lr-decay
  linear``), and stops at that budget (``--minutes``, 10 by default).
- ``cpu``: a model from scratch in under an hour, the bold-styles recipe (docs/style_levers.md): half width with 5
  residual blocks (a larger receptive field), the authors' loss form and weights, the painting at 512 px.

Both run in bf16 where the CPU has native bf16 units, AMX or AVX-512 bf16 (``--amp auto``; the same results
in 0.4-0.6 of the time: docs/train_step.md); the paper's recipe keeps its fp32.

``auto`` is ``quick`` on a CPU and ``paper`` on a GPU. Every flag given on the command line overrides the
recipe's value; a recipe only fills in what was not given.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import hyperparams as hp
from ..arch import EDGE_MARGIN, NetConfig
from ..hyperparams import LossWeights

#: the base model ``quick`` warm-starts from (trained by ``scripts/adapt_base_study.py``; public-domain
#: paintings only): kept outside ``models/`` so that it is not offered as a style
QUICK_BASE = Path(__file__).resolve().parents[1] / "models" / "base" / "quick_base.safetensors"
#: the freely licensed photos training learns from when no ``--data`` folder is given (credits: CREDITS.md there)
BUNDLED_PHOTOS = Path(__file__).resolve().parents[1] / "photos"
RECIPES = ("auto", "quick", "cpu", "paper")
#: the style weight :data:`QUICK_BASE` was trained at (the bundled models'; the quick recipe adapts at 3x it)
BASE_STYLE_WEIGHT = 5e-5
#: the paintings percepta ships models of (public domain); the quick recipe's base is trained on these only
PUBLIC_DOMAIN = ("wave", "starry_night", "the_scream", "composition_vii", "udnie")


@dataclass(frozen=True)
class Recipe:
    """One recipe's settings: what ``TrainOptions`` gets where the command line gave nothing."""

    name: str
    what: str  # one line for the start of a run
    size: int
    style_size: int
    net: NetConfig
    loss: LossWeights
    iters: int
    minutes: float | None = None  # default time budget
    init_from: Path | None = None  # warm start
    margin: int = 0  # reflection margin the saved model runs behind (weights trained without it)
    typical: str = ""  # measured speed, for the expected time
    amp: str = "off"  # mixed precision (``auto``: bf16 on a CPU with native bf16, runtime.mixed_precision)
    lr_decay: str = "none"  # ``linear``: the learning rate falls to zero over the run (TrainOptions.lr_decay)


def _quick() -> Recipe:
    return Recipe(
        "quick",
        "warm start from the multi-painting base, 128 px crops, the painting at 256 px, half-width network",
        size=128, style_size=256, net=NetConfig.style("instance", "resize", width=0.5, blocks=3),
        loss=LossWeights(style=1.5e-4, tv=150.0), iters=5000, minutes=10.0, init_from=QUICK_BASE,
        margin=EDGE_MARGIN, typical="about 0.25-0.45 s per iteration on a 2-core CPU with native bf16, 0.8 s without",
        amp="auto", lr_decay="linear",
    )  # fmt: skip


def _cpu() -> Recipe:
    return Recipe(
        "cpu",
        "from scratch, half width with 5 residual blocks, the authors' loss form, 128 px crops, painting at 512 px",
        size=128, style_size=512, net=NetConfig.style("instance", "resize", width=0.5, blocks=5),
        loss=LossWeights(content=1.0, style=5.0, tv=20.0, gram_reduction="mean"), iters=3000,
        margin=EDGE_MARGIN, amp="auto",
        typical="about 0.3-0.4 s per iteration on a 2-core CPU with native bf16 (15-20 minutes), 0.9 s without "
        "(45 minutes)",
    )  # fmt: skip


def _paper() -> Recipe:
    return Recipe(
        "paper",
        "the paper's settings (section 4.1): 256 px crops, painting at 512 px, full network, 40,000 iterations",
        size=hp.STYLE_CROP, style_size=hp.STYLE_IMAGE_SIZE, net=NetConfig.style(), loss=LossWeights(),
        iters=hp.STYLE_ITERATIONS,
        typical="about 5 s per iteration on a 2-core CPU (2-9 days), 42 per second on one H100 (16 minutes)",
    )  # fmt: skip


def recipe(name: str, device: str = "cpu") -> Recipe:
    """The recipe called ``name`` (``auto``: ``quick`` on a CPU, ``paper`` on a GPU)."""
    if name == "auto":
        name = "quick" if device == "cpu" else "paper"
    makers = {"quick": _quick, "cpu": _cpu, "paper": _paper}
    if name not in makers:
        raise ValueError(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
    return makers[name]()


def quick_options(style: str, output: str, *, init_from: str | None = None, iters: int | None = None,
                  data: str | None = None, loss: LossWeights | None = None, net: NetConfig | None = None,
                  **overrides: Any) -> Any:  # fmt: skip
    """``TrainOptions`` of the ``quick`` recipe for one painting (a study's fixed-length runs: no time budget);
    ``overrides`` replace any of its fields."""
    from .options import TrainOptions

    r = recipe("quick")
    fields = dict(net=net or r.net, loss=loss or r.loss, size=r.size, style_size=r.style_size,
                  iters=iters or r.iters, init_from=init_from, margin=r.margin, val_every=0, checkpoint_every=50,
                  half=True, amp=r.amp, lr_decay=r.lr_decay)  # fmt: skip
    return TrainOptions("style", data or str(BUNDLED_PHOTOS), output, style=style, **{**fields, **overrides})


def base_options(output: str, styles: list[str], iters: int, *, init_from: str | None = None,
                 net: NetConfig | None = None) -> Any:  # fmt: skip
    """``TrainOptions`` of the multi-painting base (:data:`QUICK_BASE`): the ``quick`` recipe's network (or
    ``net``) and loss, each iteration the next painting's style target."""
    loss = replace(recipe("quick").loss, style=BASE_STYLE_WEIGHT, tv=hp.TV_WEIGHT)  # as the shipped base was trained
    opts = quick_options(styles[0], output, init_from=init_from, iters=iters, net=net, loss=loss,
                         more_styles=tuple(styles[1:]), lr_decay="none")  # fmt: skip
    return replace(opts, margin=0, extra_meta={"recipe": "quick base: iteration i's painting is i mod K"})
