"""Pack what a GPU training run needs into .gpu/ (ignored by git), for the `device` tool to carry.

    python scripts/gpu_carry.py [--data ../shared/data]

The device machine gets the repository only, so this copies the training photos and the public-domain
paintings (with chicago.jpg and the authors' reference outputs, to evaluate there), the VGG-16 conv weights
as fp16 in torchvision's layout (half the size; `--vgg-weights` reads them as fp32), and the one wheel
the device image lacks (platformdirs). `scripts/gpu_session.sh` is the command to run there.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from percepta.lossnet import load_vgg16_weights

ROOT = Path(__file__).resolve().parents[1]
PAINTINGS = ("wave", "starry_night", "the_scream", "udnie", "composition_vii")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    out = ROOT / ".gpu"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(args.data / "photos", out / "photos", ignore=shutil.ignore_patterns("*.md"))
    (out / "styles").mkdir()
    for name in PAINTINGS:
        shutil.copy(args.data / "styles" / f"{name}.jpg", out / "styles")
    shutil.copytree(args.data / "reference", out / "reference")
    (out / "content").mkdir()
    shutil.copy(args.data / "content" / "chicago.jpg", out / "content")
    state = load_vgg16_weights().state_dict
    rgb = {f"features.{k}": v.half() for k, v in state.items()}
    rgb["features.0.weight"] = rgb["features.0.weight"].flip(1)  # Caffe BGR -> torchvision's RGB layout
    torch.save(rgb, out / "vgg16-features-fp16.pth")
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "-d", str(out / "wheels"), "platformdirs"], check=True)  # fmt: skip
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
