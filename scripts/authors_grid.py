"""Ours beside the paper authors' own outputs, for looking at (issue 23: "render a grid ... and look at it").

    python scripts/authors_grid.py [--models-dir DIR] [--out /tmp/authors_grid.png]

One row per painting with an authors' output of chicago.jpg in ``shared/data/reference`` (the
``REFERENCES`` of ``style_eval_table.py``): the painting, our model's chicago at 510 px (the bundled model,
or ``--models-dir/NAME.safetensors``; ``--suffix -fast`` for the fast ones) and the authors', each with its
change and motif scale (``percepta.lookmetrics``). The grid is made from the authors' demo photo and
outputs: it is for research use only and is written outside the repository (default /tmp); never ship it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw
from style_eval_table import REFERENCES, ROOT  # scripts/

from percepta.image import load_rgb, resize_long_side
from percepta.infer import stylize
from percepta.lookmetrics import change, motif_scale
from percepta.modelfile import available_models, load_model

SIZE = 510  # the authors' outputs' longer side
LABEL = 18  # px of caption under each picture


def captioned(img: Image.Image, text: str, width: int, height: int) -> Image.Image:
    """``img`` fitted into ``width`` x ``height`` with ``text`` below it."""
    tile = Image.new("RGB", (width, height + LABEL), "white")
    fitted = img.copy()
    fitted.thumbnail((width, height), Image.Resampling.LANCZOS)
    tile.paste(fitted, ((width - fitted.width) // 2, (height - fitted.height) // 2))
    ImageDraw.Draw(tile).text((4, height + 3), text, fill="black")
    return tile


def row(painting: str, model: Path, data: Path, photo: Image.Image) -> list[Image.Image]:
    """The painting, ours and the authors', captioned with the two look numbers."""
    ours = stylize(photo, load_model(model))
    authors = load_rgb(data / "reference" / REFERENCES[painting]).resize(photo.size, Image.Resampling.BICUBIC)
    tiles = [captioned(load_rgb(data / "styles" / f"{painting}.jpg"), painting, photo.width // 2, photo.height)]
    for who, img in ((model.stem, ours), ("authors'", authors)):
        tiles.append(captioned(img, f"{who}: change {change(img, photo):.3f}, motif {motif_scale(img):.1f} px",
                               photo.width, photo.height))  # fmt: skip
    return tiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--models-dir", type=Path, help="take NAME.safetensors from here (default: the bundled)")
    parser.add_argument("--suffix", default="", help="model name suffix, e.g. -fast")
    parser.add_argument("--out", type=Path, default=Path("/tmp/authors_grid.png"))
    args = parser.parse_args()
    if ROOT in args.out.resolve().parents:
        parser.error("the grid holds the authors' demo photo and outputs: write it outside the repository")
    installed = available_models()
    photo = resize_long_side(load_rgb(args.data / "content" / "chicago.jpg"), SIZE)
    rows = []
    for painting in REFERENCES:
        name = painting + args.suffix
        model = args.models_dir / f"{name}.safetensors" if args.models_dir else installed.get(name)
        if model is not None and Path(model).is_file():
            rows.append(row(painting, Path(model), args.data, photo))
    if not rows:
        parser.error("no model found for any painting with a reference")
    width = sum(t.width for t in rows[0]) + 4 * (len(rows[0]) - 1)
    height = rows[0][0].height
    grid = Image.new("RGB", (width, len(rows) * (height + 4) - 4), "white")
    for i, tiles in enumerate(rows):
        x = 0
        for tile in tiles:
            grid.paste(tile, (x, i * (height + 4)))
            x += tile.width + 4
    grid.save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
