"""The README's super-resolution crops: low-res input, bicubic, pixel loss, feature loss, original.

    python scripts/sr_figure.py --scale 4 [--out docs/sr_x4.jpg]

Each row is a held-out photo (never trained on, freely licensed: see docs/CREDITS.md), degraded as in
evaluation (:func:`percepta.data.degrade`, 8-bit), upscaled whole, then cropped where the original has
the most detail; crops are enlarged ``--zoom`` times with nearest-neighbour so that pixels stay visible.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from percepta.data import degrade
from percepta.image import load_rgb, save_image, to_pil, to_tensor
from percepta.metrics import bicubic_upscale, quantize
from percepta.modelfile import available_models
from percepta.upscaling import upscale

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "data" / "photos"
#: held-out photos (never trained on) that may be shipped
CROPS = ["mate_LadyBird.jpg", "plasma_ColorfulCups.jpg", "lxqt_appleflower.jpg", "lomiri_Dragonfly_by_Bolly.jpg"]


def most_detailed_window(hr: torch.Tensor, crop: int, step: int) -> tuple[int, int]:
    """(top, left) of the crop x crop window, on a ``step`` grid, with the most gradient energy."""
    y = hr.mean(1, keepdim=True)
    energy = (y[..., 1:, :-1] - y[..., :-1, :-1]).abs() + (y[..., :-1, 1:] - y[..., :-1, :-1]).abs()
    pooled = F.avg_pool2d(energy, crop - 1, stride=step)[0, 0]
    row, col = divmod(int(pooled.argmax()), pooled.shape[1])
    return row * step, col * step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, choices=(4, 8), default=4)
    parser.add_argument("--crop", type=int, default=128, help="crop side in high-resolution pixels")
    parser.add_argument("--zoom", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args()
    s, c, z = args.scale, args.crop, args.zoom
    columns = [
        ("input (nearest)", None),
        ("bicubic", None),
        ("pixel loss", f"sr_x{s}_pixel"),
        ("feature loss", f"sr_x{s}_feat"),
        ("original", None),
    ]
    columns = [(t, m) for t, m in columns if m is None or m in available_models()]  # x8: no pixel model shipped
    label_h, gap = 22, 4
    tile = c * z
    sheet = Image.new("RGB", (len(columns) * (tile + gap) - gap, label_h + len(CROPS) * (tile + gap)), "white")
    draw = ImageDraw.Draw(sheet)
    for j, (title, _) in enumerate(columns):
        draw.text((j * (tile + gap) + 4, 5), title, fill="black")
    for i, name in enumerate(CROPS):
        hr = to_tensor(load_rgb(PHOTOS / name))
        h, w = hr.shape[-2:]
        hr = hr[:, :, : h - h % s, : w - w % s]
        lr = quantize(degrade(hr, s))
        top, left = most_detailed_window(hr, c, 8 * s)
        for j, (title, model) in enumerate(columns):
            if title.startswith("input"):
                img = lr.repeat_interleave(s, -1).repeat_interleave(s, -2)
            elif title == "bicubic":
                img = bicubic_upscale(lr, s)
            elif title == "original":
                img = hr
            else:
                img = upscale(lr, model)
            crop = to_pil(quantize(img[:, :, top : top + c, left : left + c]))
            sheet.paste(
                crop.resize((tile, tile), Image.Resampling.NEAREST), (j * (tile + gap), label_h + i * (tile + gap))
            )
    out = Path(args.out or ROOT / "docs" / f"sr_x{s}.jpg")
    save_image(sheet, out, quality=90)
    print(out)


if __name__ == "__main__":
    main()
