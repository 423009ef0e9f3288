"""Your own painting as a model, from one call: a recipe's settings filled in around what was given, the run,
then what makes the result usable (a preview on a held-out photo beside the painting, its ``eval style``
numbers, installation under a name). ``percepta train style --style my.jpg`` and
``percepta.train_style("my.jpg")`` both go through here; the recipes themselves are in :mod:`.recipes`.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PerceptaError
from ..modelfile import SUFFIX
from .recipes import BUNDLED_PHOTOS, Recipe
from .recipes import recipe as find_recipe

#: the held-out photo of every preview (not among the bundled training photos)
PREVIEW_PHOTO = Path(__file__).resolve().parents[1] / "examples" / "picos_de_europa.jpg"
PREVIEW_SIZE = 384
#: the flat option names a recipe fills in when they were not given (``TrainOptions.from_dict``'s layout)
NET_FIELDS = ("norm", "upsample", "width", "blocks")


def recipe_values(r: Recipe) -> dict[str, Any]:
    """A recipe as the flat option names of the command line."""
    return {
        "size": r.size, "style_size": r.style_size, "iters": r.iters, "norm": r.net.norm, "upsample": r.net.upsample,
        "width": r.net.width, "blocks": r.net.arch.count("R"), "content_weight": r.loss.content,
        "style_weight": r.loss.style, "tv_weight": r.loss.tv, "gram_reduction": r.loss.gram_reduction,
        "style_octaves": r.loss.style_octaves,
        "content_layers": r.loss.content_layers, "style_layers": r.loss.style_layers, "margin": r.margin,
        "time_budget": r.minutes * 60 if r.minutes else None, "amp": r.amp, "lr_decay": r.lr_decay,
    }  # fmt: skip


def leftovers_dir(output: str | os.PathLike) -> Path:
    """Where a recipe run keeps its checkpoint and training log: percepta's cache, one folder per model path."""
    from ..modelfile import cache_dir

    out = Path(output).expanduser().resolve()
    key = hashlib.sha256(str(out).encode()).hexdigest()[:8]
    return cache_dir() / "train" / f"{out.name.removesuffix(SUFFIX)}-{key}"


def fill_in(given: dict[str, Any], r: Recipe, say=print) -> dict[str, Any]:
    """``given`` (flat option names; None: not given) with the recipe's value wherever nothing was given (its
    time budget only where neither ``iters`` nor ``time_budget`` was), the bundled photos without ``data``,
    ``PAINTING.safetensors`` without ``output``, the checkpoint and the log in the cache without ``checkpoint``
    (with it, the log goes beside the model, as ``TrainOptions`` does). The recipe's warm start is kept only
    where the network given matches its base."""
    flat, values = dict(given), recipe_values(r)
    iters_given = flat.get("iters") is not None
    for key, value in values.items():
        if flat.get(key) is None and not (key == "time_budget" and iters_given):  # --iters alone: no budget
            flat[key] = value
    style = flat["style"][0] if isinstance(flat.get("style"), (list, tuple)) else flat.get("style")
    flat["data"] = flat.get("data") or str(BUNDLED_PHOTOS)
    flat["output"] = flat.get("output") or f"{Path(style).stem}{SUFFIX}"
    if not flat.get("checkpoint"):
        leftovers = leftovers_dir(flat["output"])
        flat["checkpoint"], flat["logs"] = str(leftovers / "run.ckpt"), str(leftovers / "log")
    if r.init_from is not None and not flat.get("init_from"):
        same_net = all(flat[k] == values[k] for k in NET_FIELDS)
        if same_net and r.init_from.is_file():
            flat["init_from"] = str(r.init_from)
        else:
            why = "it is not installed" if same_net else "its network differs from the one asked for"
            say(f"percepta: recipe {r.name}: training from scratch, not from its base model ({why})")
    return flat


def announce(r: Recipe, opts: Any, say=print) -> None:
    """The recipe, the run's length (``TrainOptions``) and its typical speed, at the start of a run."""
    budget = opts.time_budget
    length = f"{opts.iters:,} iterations" + (f" or {budget / 60:g} minutes, whichever ends first" if budget else "")
    say(f"percepta: recipe {r.name}: {r.what}; {length}; {r.typical}")


@dataclass
class Preview:
    """What a finished run shows: the side-by-side picture and the held-out photo's numbers."""

    image: Path
    content: float
    style_ratio: float
    change: float
    motif_scale: float

    def line(self) -> str:
        return (f"on {PREVIEW_PHOTO.name} ({PREVIEW_SIZE} px): content loss {self.content:.3g}, style ratio "
                f"{self.style_ratio:.3f}, change {self.change:.3f}, motif scale {self.motif_scale:.1f} px "
                f"(percepta eval style; lower content and style ratio are better)")  # fmt: skip


def preview(model_path: str | os.PathLike, style: str | os.PathLike, overwrite: bool = False) -> Preview:
    """Stylise the held-out photo, save painting | photo | result as ``MODEL_preview.jpg`` beside the model, and
    score the result as ``percepta eval style`` does."""
    from PIL import Image

    from ..evaluate import evaluate_style
    from ..image import load_rgb, resize_long_side
    from ..infer import stylize

    path = Path(model_path)
    out = path.with_name(path.name.removesuffix(SUFFIX) + "_preview.jpg")
    photo = resize_long_side(load_rgb(PREVIEW_PHOTO), PREVIEW_SIZE)
    result = stylize(photo, path)
    painting = load_rgb(style)
    painting = painting.resize((max(1, round(painting.width * photo.height / painting.height)), photo.height), 3)
    sheet = Image.new("RGB", (painting.width + 2 * photo.width + 16, photo.height), "white")
    for x, im in ((0, painting), (painting.width + 8, photo), (painting.width + photo.width + 16, result)):
        sheet.paste(im, (x, 0))
    target = out if overwrite or not out.exists() else out.with_name(out.stem + "-new.jpg")
    sheet.save(target, quality=92)
    scratch = target.with_name(f".{target.stem}-result.png")
    try:
        result.save(scratch)
        score = evaluate_style([scratch], [PREVIEW_PHOTO], style, size=PREVIEW_SIZE).summary[0]
    finally:
        scratch.unlink(missing_ok=True)
    return Preview(target, score.content, score.style_ratio, score.change, score.motif_scale)


def finish(model_path: Path, style: str, *, install: bool = False, overwrite: bool = False,
           show_preview: bool = True, say=print) -> None:  # fmt: skip
    """After a run: the preview and its numbers, then the installation."""
    from ..modelfile import install_model

    if show_preview:
        p = preview(model_path, style, overwrite)
        say(f"percepta: preview {p.image}; {p.line()}")
    if install:
        installed = install_model(model_path, overwrite=overwrite)
        name = installed.name.removesuffix(SUFFIX)
        say(f"percepta: installed as {name} ({installed}): use -m {name}")


def train_usable(opts: Any, r: Recipe, *, resume: str | os.PathLike | None = None, install: bool = False,
                 overwrite: bool = False, show_preview: bool = True, say=print) -> Path | None:  # fmt: skip
    """A style run made usable, for the command line and :func:`train_painting` alike: the installation checked
    before any work, the recipe announced (not on a resume), the training, then :func:`finish` and where the
    leftovers are. Returns the model file (None on the other ranks of a data-parallel run)."""
    from ..modelfile import install_model
    from .loop import train

    if install:
        install_model(opts.output, overwrite=overwrite, check_only=True)
    if resume is None:
        announce(r, opts, say)
    path = train(opts, resume=resume)
    if path is not None:
        finish(path, opts.style, install=install, overwrite=overwrite, show_preview=show_preview, say=say)
        if opts.logs:
            say(f"percepta: checkpoint and training log in {opts.log_dir.parent} (safe to delete)")
    return path


def train_painting(style: str | os.PathLike, output: str | os.PathLike | None = None, *, recipe: str = "auto",
                   minutes: float | None = None, data: str | os.PathLike | None = None, install: bool = False,
                   show_preview: bool = True, device: str = "cpu", overwrite: bool = False, progress: bool = True,
                   **settings: Any) -> Path:  # fmt: skip
    """Train a model of one painting with a recipe (:func:`percepta.train_style` given a path): ``settings``
    are ``TrainOptions`` fields in the command line's flat names (``iters``, ``style_weight``, ``width``, ...)."""
    from .options import TrainOptions

    def say(line: str) -> None:
        if progress:
            print(line, file=sys.stderr)

    r = find_recipe(recipe, device)
    given = {"task": "style", "style": str(style), "output": str(output) if output else None,
             "data": str(data) if data else None, "time_budget": minutes * 60 if minutes else None, "device": device,
             "overwrite": overwrite, "progress": progress, "val_every": 0, **settings}  # fmt: skip
    opts = TrainOptions.from_dict(fill_in(given, r, say))
    path = train_usable(opts, r, install=install, overwrite=overwrite, show_preview=show_preview, say=say)
    if path is None:
        raise PerceptaError("training ended without a model")
    return path


def train_style(options: Any, resume: str | os.PathLike | None = None, **settings: Any) -> Path | None:
    """``percepta.train_style``: given ``TrainOptions`` (``task="style"``), exactly those (section 4.1); given a
    painting's path, a recipe fills in the rest (:func:`train_painting`: ``percepta.train_style("my.jpg")``
    trains the ``quick`` recipe on a CPU, about 10 minutes, and writes ``my.safetensors`` and
    ``my_preview.jpg``), ``settings`` being its keywords (``output``, ``recipe``, ``minutes``, ``data``,
    ``install``, ``device``, or any option). Returns the model file."""
    from .loop import train_style as train_options_given
    from .options import TrainOptions

    if not isinstance(options, TrainOptions):
        return train_painting(options, **settings)
    if settings:
        raise TypeError(f"train_style(TrainOptions) takes no recipe keywords ({', '.join(settings)})")
    return train_options_given(options, resume)
