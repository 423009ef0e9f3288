"""The README's gallery: photos (rows) x bundled style models (columns), with the paintings on top.

    python scripts/make_gallery.py [--size 256] [--out docs/gallery.jpg] [--photos A.jpg B.jpg ...]

By default the photos are freely licensed ones that may be shipped (see docs/CREDITS.md); the paper
authors' demo photos in ../shared/data/content are held out of training but licensed for research
only, so render that grid locally: ``--photos ../shared/data/content/*.jpg --out /tmp/held_out.jpg``.
"""

from __future__ import annotations

import argparse
import base64
import io
from pathlib import Path

from PIL import Image

import percepta
from percepta.image import center_square, load_rgb, save_image
from percepta.modelfile import BUNDLED_DIR

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PHOTOS = [
    ROOT / "src" / "percepta" / "examples" / "picos_de_europa.jpg",
    DATA / "photos" / "lomiri_Picture_0B_by_freespace.jpg",
    DATA / "photos" / "lomiri_life_by_Aitzol_Berasategi.jpg",
]


def fit(img: Image.Image, size: int) -> Image.Image:
    return center_square(img, size, resample=Image.Resampling.LANCZOS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", default=str(ROOT / "docs" / "gallery.jpg"))
    parser.add_argument("--photos", nargs="+", default=[str(p) for p in PHOTOS])
    args = parser.parse_args()
    s = args.size
    models = [m for m in map(percepta.load_model, sorted(BUNDLED_DIR.glob("*.safetensors"))) if m.task == "style"]
    grid = Image.new("RGB", (s * (len(models) + 1), s * (len(args.photos) + 1)), "white")
    for j, model in enumerate(models, start=1):
        thumb = Image.open(io.BytesIO(base64.b64decode(model.meta["style_thumbnail_jpeg_base64"])))
        style_file = DATA / "styles" / model.meta["style_image"]
        painting = load_rgb(style_file) if style_file.is_file() else thumb
        grid.paste(fit(painting, s), (j * s, 0))
    for i, path in enumerate(args.photos, start=1):
        photo = fit(load_rgb(path), s * 2)  # stylise at 512 px, show at 256
        grid.paste(photo.resize((s, s), Image.Resampling.LANCZOS), (0, i * s))
        for j, model in enumerate(models, start=1):
            grid.paste(percepta.stylize(photo, model).resize((s, s), Image.Resampling.LANCZOS), (j * s, i * s))
    save_image(grid, args.out, quality=88)
    print(args.out)


if __name__ == "__main__":
    main()
