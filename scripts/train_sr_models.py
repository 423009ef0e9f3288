"""Train the bundled super-resolution models (paper section 4.2), resumably.

    python scripts/train_sr_models.py [--models x4_pixel,x4_feat,x8_feat] [--recipe gpu] [--time-budget 360]

Checkpoints, logs and models go to ``--work`` (default ``~/.cache/percepta-train/``, outside the work
tree); re-running resumes each model from its checkpoint and skips finished ones. Copy the finished
``models/sr_*.safetensors`` into ``src/percepta/models/``. ``HELD_OUT`` photos are never trained on:
``percepta eval sr`` reports on them.

Recipes (each model is one process; run several at once on one GPU):

* ``gpu`` -- the paper's section 4.2 settings: 288 px high-resolution patches (72 px inputs at x4, 36 px
  at x8), batch 4, Adam 1e-3, the paper's network (c9s1-64, four residual blocks, batch norm, two or
  three x2 upsamplings, c9s1-3), feature loss at relu2_2 or per-pixel loss, for a fixed wall-clock
  budget instead of the paper's 200k iterations.
* ``cpu`` -- the same with 96 px patches, for a machine without a GPU.

Several runs on one GPU: give each process a few CPU threads (``OMP_NUM_THREADS=3`` for four runs on 16
cores). With the default, every process starts one thread per core; the shipped models' first 400 s ran
~8x slower that way (4 it/s per run against 30 it/s after; see ``docs/model_cards.md``).
Launch them like this (the shipped models' second call, which resumed the first call's checkpoints; the
first call also ran ``x4_pixel_paper``, with ``--time-budget 400`` and without ``OMP_NUM_THREADS``)::

    for m in x4_pixel x4_feat x8_feat x8_pixel; do
      OMP_NUM_THREADS=3 python scripts/train_sr_models.py --recipe gpu --models $m --time-budget 630 &
    done; wait

The shipped models (names without ``_paper``) use two flagged deviations: ``skip="bicubic"`` (the network
learns a correction to bicubic upsampling) and ``upsample="resize"`` (no checkerboard artefacts). The
``x4_pixel_paper`` / ``x4_feat_paper`` recipes are the paper's exact network, for comparison.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from percepta.arch import NetConfig
from percepta.hyperparams import LossWeights
from percepta.train import TrainOptions, train_resumable

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
WORK = Path.home() / ".cache" / "percepta-train"
#: the fixed evaluation split: never trained on (one or two per source package)
HELD_OUT = (
    "lomiri_Dragonfly_by_Bolly.jpg",
    "lomiri_seeding_by_Clements_Engelhardt.jpg",
    "lxqt_appleflower.jpg",
    "lxqt_drop.jpg",
    "mate_LadyBird.jpg",
    "mate_Wood.jpg",
    "opencv_baboon.jpg",
    "opencv_building.jpg",
    "opencv_fruits.jpg",
    "plasma_ColorfulCups.jpg",
    "plasma_FallenLeaf.jpg",
)
#: name -> (scale, loss, paper's exact network?)
MODELS = {
    "x4_pixel": (4, "pixel", False),
    "x4_feat": (4, "feat", False),
    "x8_feat": (8, "feat", False),
    "x8_pixel": (8, "pixel", False),
    "x4_pixel_paper": (4, "pixel", True),
    "x4_feat_paper": (4, "feat", True),
}
RECIPES = {
    "gpu": {"size": 288, "device": "cuda", "checkpoint_every": 500, "val_every": 2000},
    "cpu": {"size": 96, "device": "cpu", "checkpoint_every": 50, "val_every": 250},
}


def recipe(
    name: str, iters: int, kind: str = "cpu", data: Path = DATA, work: Path = WORK, time_budget: float | None = None
) -> TrainOptions:
    scale, loss, paper = MODELS[name]
    r = RECIPES[kind]
    return TrainOptions(
        task="sr",
        data=str(data),
        output=str(work / "models" / f"sr_{name}.safetensors"),
        net=NetConfig.super_resolution(
            scale, norm="batch", upsample="transpose" if paper else "resize", skip="none" if paper else "bicubic"
        ),
        loss=LossWeights.super_resolution(loss, tv=0.0 if loss == "pixel" else 1e-2),
        size=r["size"],
        batch_size=4,
        lr=1e-3,
        iters=iters,
        seed=0,
        exclude=HELD_OUT,
        checkpoint=str(work / f"sr_{name}.ckpt"),
        checkpoint_every=r["checkpoint_every"],
        val_every=r["val_every"],
        val_images=[str(data / n) for n in HELD_OUT[:2]],
        half=True,
        device=r["device"],
        time_budget=time_budget,
        progress=sys.stderr.isatty(),
        extra_meta={"recipe": f"{kind}-{r['size']} (scripts/train_sr_models.py)", "held_out": list(HELD_OUT)},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=200_000, help="at most this many iterations (paper: 200k)")
    parser.add_argument("--models", default="x4_pixel,x4_feat,x8_feat")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="cpu")
    parser.add_argument("--time-budget", type=float, help="seconds of training per model")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args()
    for name in args.models.split(","):
        opts = recipe(name, args.iters, args.recipe, args.data, args.work, args.time_budget)
        print(f"{name}: {train_resumable(opts)}", flush=True)


if __name__ == "__main__":
    main()
