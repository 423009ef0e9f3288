"""Train the bundled super-resolution models (paper section 4.2) with a CPU recipe, resumably.

    python scripts/train_sr_models.py [--iters 3000] [--models x4_pixel,x4_feat,x8_feat]

Checkpoints, logs and models go to ``~/.cache/percepta-train/`` (outside the work tree); re-running
resumes each model from its checkpoint and skips finished ones. Copy the finished
``models/sr_*.safetensors`` into ``src/percepta/models/``. ``HELD_OUT`` photos are never trained on:
``percepta eval sr`` reports on them.

CPU recipe: high-resolution patches of 96 px (paper 288) -> 24 px inputs at x4 and 12 px at x8, batch 4,
Adam 1e-3, the paper's network (c9s1-64, 4 residual blocks, batch norm, stride-1/2 convs); feature loss
at relu2_2 (the paper's) or per-pixel loss, TV weight as below.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from percepta.train import TrainOptions, train_resumable

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WORK = Path.home() / ".cache" / "percepta-train"
#: the fixed evaluation split: never trained on (one or two per source package)
HELD_OUT = (
    "lomiri_Dragonfly_by_Bolly.jpg", "lomiri_seeding_by_Clements_Engelhardt.jpg", "lxqt_appleflower.jpg",
    "lxqt_drop.jpg", "mate_LadyBird.jpg", "mate_Wood.jpg", "opencv_baboon.jpg", "opencv_building.jpg",
    "opencv_fruits.jpg", "plasma_ColorfulCups.jpg", "plasma_FallenLeaf.jpg",
)
MODELS = {"x4_pixel": (4, "pixel"), "x4_feat": (4, "feat"), "x8_feat": (8, "feat"), "x8_pixel": (8, "pixel")}


def recipe(name: str, iters: int) -> TrainOptions:
    scale, loss = MODELS[name]
    return TrainOptions(
        task="sr", data=str(DATA / "photos"), output=str(WORK / "models" / f"sr_{name}.safetensors"),
        scale=scale, sr_loss=loss, size=96, batch_size=4, lr=1e-3, iters=iters,
        tv_weight=0.0 if loss == "pixel" else 1e-2, norm="batch", upsample="transpose", seed=0,
        exclude=HELD_OUT, checkpoint=str(WORK / f"sr_{name}.ckpt"), checkpoint_every=50, val_every=250,
        val_images=[str(DATA / "photos" / n) for n in HELD_OUT[:2]], half=True, progress=sys.stderr.isatty(),
        extra_meta={"recipe": "cpu-96 (scripts/train_sr_models.py)", "held_out": list(HELD_OUT)},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=3000)
    parser.add_argument("--models", default="x4_pixel,x4_feat,x8_feat")
    args = parser.parse_args()
    for name in args.models.split(","):
        print(f"{name}: {train_resumable(recipe(name, args.iters))}", flush=True)


if __name__ == "__main__":
    main()
