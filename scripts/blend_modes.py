"""How to blend two styles: the models' outputs, or their weights? Measured, for the README.

    python scripts/blend_modes.py [--models wave,starry_night] [--photo PHOTO] [--out docs]

Stylises the photo with each model and with a 50/50 blend of both kinds, and scores every result with the
style yardstick against each painting (``percepta.metrics.style_ratio``: lower is nearer that painting's
Grams) and the relu2_2 content loss. Writes OUT/blends.md and the pictures side by side in OUT/blends.jpg.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image

from percepta.image import load_rgb, resize_long_side, save_image, to_pil, to_tensor
from percepta.infer import Blend, stylize
from percepta.lossnet import VGG16LossNetwork
from percepta.metrics import feature_distance, style_ratio
from percepta.modelfile import load_model

ROOT = Path(__file__).resolve().parents[1]
STYLES = ROOT.parent / "shared" / "data" / "styles"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="wave,starry_night")
    parser.add_argument("--photo", type=Path, default=ROOT / "src" / "percepta" / "examples" / "picos_de_europa.jpg")
    parser.add_argument("--styles", type=Path, default=STYLES, help="folder with each model's painting")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    names = args.models.split(",")
    models = [load_model(n) for n in names]
    photo = to_tensor(resize_long_side(load_rgb(args.photo), args.size))
    paintings = {n: to_tensor(resize_long_side(load_rgb(args.styles / f"{m.meta['style_image']}"), 512, upscale=True))
                 for n, m in zip(names, models)}  # fmt: skip
    half = [0.5] * len(models)
    outputs = {n: stylize(photo, m) for n, m in zip(names, models)}
    outputs["blend of outputs"] = stylize(photo, Blend(models, half, "outputs"))
    outputs["blend of weights"] = stylize(photo, Blend(models, half, "weights"))
    lossnet = VGG16LossNetwork(["relu1_2", "relu2_2", "relu3_3", "relu4_3"])
    head = "| | content loss | " + " | ".join(f"style ratio to {n}" for n in names) + " |"
    lines = [head, "|---|---:|" + "---:|" * len(names)]
    for label, y in outputs.items():
        ratios = " | ".join(f"{style_ratio(y, photo, paintings[n], lossnet):.3f}" for n in names)
        lines.append(f"| {label} | {feature_distance(y, photo, lossnet):.3g} | {ratios} |")
    text = (f"50/50 blends of {', '.join(f'`{n}`' for n in names)} on `{args.photo.name}` at {args.size} px "
            f"(`python scripts/blend_modes.py`); lower is better.\n\n" + "\n".join(lines) + "\n")  # fmt: skip
    (args.out / "blends.md").write_text(text)
    pictures = [to_pil(y) for y in outputs.values()]
    strip = Image.new("RGB", (sum(p.width for p in pictures), pictures[0].height), "white")
    for i, p in enumerate(pictures):
        strip.paste(p, (i * p.width, 0))
    strip.thumbnail((1600, 400))
    save_image(strip, args.out / "blends.jpg", quality=88)
    print(text)


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
