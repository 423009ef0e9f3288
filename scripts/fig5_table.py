"""The paper's Fig. 5 comparison for the bundled style models, as the README's table.

    python scripts/fig5_table.py [--iters 200] [--size 256] [--models wave,...] [--init noise] [--out docs]
    python scripts/fig5_table.py --from-json docs/fig5.json     # re-render the table and plot only
    python scripts/fig5_table.py --models the_scream --keep docs/fig5.json   # re-measure one model only

For each model: its perceptual objective (the same weights, layers and style size as its training) on
the three held-out photos, and the objective of `percepta optimize` after 50, 100 and 200 L-BFGS
iterations on the same photos, starting from white noise as the paper's baseline (section 4.1), or with
`--init content` from the photo itself. Writes OUT/fig5.md, .json, .png (OUT/fig5_content.* for content
initialisation) with :func:`percepta.experiments.write_objective_report`, as `percepta bench objective` does
for one model.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from percepta.experiments import (
    ObjectiveComparison,
    objective_comparison,
    objective_loss,
    optimization_curve,
    square_crop,
    training_weights,
    write_objective_report,
)
from percepta.hyperparams import FIG5_INIT
from percepta.image import load_rgb, resize_long_side, to_tensor
from percepta.modelfile import BUNDLED_DIR, load_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HELD_OUT = [DATA / "content" / n for n in ("chicago.jpg", "hoovertowernight.jpg", "amber.jpg")]
CACHE = Path.home() / ".cache" / "percepta-train" / "fig5_curves.json"


def curve_key(style: str, weights, style_size, size: int, iters: int, init: str) -> str:
    """What an optimisation curve depends on (not the model): objective, style image, sizes, photos, start."""
    key = [style, asdict(weights), style_size, size, iters, [p.name for p in HELD_OUT]]
    return json.dumps(key + ([init] if init != "content" else []), sort_keys=True)  # content: keys made before


def report_name(init: str) -> str:
    return "fig5" if init == FIG5_INIT else f"fig5_{init}"


def precompute(styles: list[str], size: int, iters: int, init: str) -> None:
    """Optimisation curves from the training recipe's objective, before the models exist (cached)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train_bundled_models import recipe

    cache = json.loads(CACHE.read_text()) if CACHE.is_file() else {}
    for style in styles:
        opts = recipe(style, 1, None, balanced=True)  # the shipped models' objective
        key = curve_key(style, opts.loss, opts.style_size, size, iters, init)
        if key in cache:
            continue
        loss = objective_loss(opts.loss, to_tensor(resize_long_side(load_rgb(opts.style), opts.style_size)))
        print(f"{style}: optimisation curves", flush=True)
        cache[key] = [optimization_curve(loss, square_crop(p, size), iters, init=init) for p in HELD_OUT]
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_text(json.dumps(cache))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument(
        "--models",
        default=",".join(sorted(p.stem for p in BUNDLED_DIR.glob("*.safetensors")
                                if load_model(p).task == "style" and not p.stem.endswith("-fast"))),
        help="style models (default: every bundled one but the -fast students)",
    )  # fmt: skip
    parser.add_argument("--out", default="docs")
    parser.add_argument("--init", choices=("noise", "content"), default=FIG5_INIT,
                        help="the optimisation's start: white noise as the paper (default), or the photo")  # fmt: skip
    parser.add_argument(
        "--precompute",
        metavar="STYLES",
        help="only compute (and cache) the optimisation curves "
        "of these styles from scripts/train_bundled_models.py's recipe",
    )
    parser.add_argument("--from-json", type=Path, help="re-render the report from a fig5.json written before")
    parser.add_argument("--keep", type=Path, metavar="FIG5_JSON", help="measure only --models and keep the other "
                        "models' rows of a fig5.json written before (models that did not change)")  # fmt: skip
    args = parser.parse_args()
    if args.precompute:
        precompute(args.precompute.split(","), args.size, args.iters, args.init)
        return
    if args.from_json:
        results = read_report(args.from_json)
        print(write_objective_report(args.out, results, len(results[0].curve) - 1, report_name(results[0].init)))
        return
    cache = json.loads(CACHE.read_text()) if CACHE.is_file() else {}
    names = args.models.split(",")
    kept = [r for r in read_report(args.keep) if r.model not in names] if args.keep else []
    if any(r.size != args.size or len(r.curve) - 1 != args.iters or r.init != args.init for r in kept):
        raise SystemExit(f"{args.keep} was measured at another --size, --iters or --init")
    results = []
    for name in names:
        print(f"{name}: {args.iters} L-BFGS iterations on {len(HELD_OUT)} photos at {args.size}px", flush=True)
        weights, _, style_size = training_weights(load_model(name))
        curves = cache.get(curve_key(name, weights, style_size, args.size, args.iters, args.init))
        style = DATA / "styles" / f"{name}.jpg"
        results.append(objective_comparison(name, HELD_OUT, args.iters, args.size, style, False, curves, args.init))
    results = sorted(results + kept, key=lambda r: r.model)
    print(write_objective_report(args.out, results, args.iters, report_name(args.init)))


def read_report(path: Path) -> list[ObjectiveComparison]:
    rows = json.loads(path.read_text())  # reports written before --init started from the photo
    return [ObjectiveComparison(**{"init": "content"} | {k: v for k, v in r.items() if k != "crossing"}) for r in rows]


if __name__ == "__main__":
    main()
