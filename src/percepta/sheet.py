"""A contact sheet: one photo stylised by every style model (and the original), labelled, in a grid."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from PIL import Image, ImageDraw

from .errors import PerceptaError
from .image import resize_long_side
from .infer import Blend, stylize
from .modelfile import Model, available_models, read_meta

LABEL_HEIGHT = 18


def style_models() -> list[str]:
    """Every installed style model's name, from the files' headers."""
    names = []
    for name, path in available_models().items():
        try:
            if read_meta(path)[0].task == "style":
                names.append(name)
        except PerceptaError:
            continue  # an unreadable file is `percepta models`' business, not the sheet's
    return names


def contact_sheet(image: Image.Image, models: Sequence[str | os.PathLike | Model] | None = None, *, tile: int = 256,
                  max_size: int = 512, columns: int | None = None, device: str = "cpu",
                  style_scale: float = 1.0) -> Image.Image:  # fmt: skip
    """``image`` and its stylisation by each of ``models`` (default: every installed style model), each
    stylised at ``max_size`` px (longer side) with motifs ``style_scale`` times the model's size
    (:func:`percepta.infer.stylize`), shown at ``tile`` px with its name beneath."""
    names = list(models) if models is not None else style_models()
    if not names:
        raise PerceptaError("no style models to put on the sheet")
    photo = resize_long_side(image.convert("RGB"), max_size)
    tiles = [("original", photo)]
    for spec in names:
        blend = Blend.load(spec, device)
        tiles.append((blend.name, stylize(photo, blend, device=device, style_scale=style_scale)))
    cols = columns or math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    cell = resize_long_side(photo, tile, upscale=True).size
    sheet = Image.new("RGB", (cols * cell[0], rows * (cell[1] + LABEL_HEIGHT)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, picture) in enumerate(tiles):
        x, y = (i % cols) * cell[0], (i // cols) * (cell[1] + LABEL_HEIGHT)
        sheet.paste(picture.resize(cell, Image.Resampling.LANCZOS), (x, y))
        draw.text((x + 4, y + cell[1] + 3), label, fill="black")
    return sheet
