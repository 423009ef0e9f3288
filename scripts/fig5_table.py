"""The paper's Fig. 5 comparison for the bundled style models, as the README's table.

    python scripts/fig5_table.py [--iters 200] [--size 256] [--models wave,...] [--out docs]

For each model: its perceptual objective (the same weights, layers and style size as its training) on
the three held-out photos, and the objective of `percepta optimize` from content initialisation after
50, 100 and 200 L-BFGS iterations on the same photos. Writes OUT/fig5.md, OUT/fig5.json, OUT/fig5.png.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from percepta.bench import (objective_comparison, objective_loss, optimization_curve, square_crop,  # noqa: E402
                            training_weights)
from percepta.image import load_rgb, to_tensor  # noqa: E402
from percepta.infer import resize_to_max  # noqa: E402
from percepta.modelfile import BUNDLED_DIR, load_model  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HELD_OUT = [DATA / "content" / n for n in ("chicago.jpg", "hoovertowernight.jpg", "amber.jpg")]
CACHE = Path.home() / ".cache" / "percepta-train" / "fig5_curves.json"


def curve_key(style: str, weights, style_size, size: int, iters: int) -> str:
    """What an optimisation curve depends on (not the model): objective, style image, sizes, photos."""
    return json.dumps([style, asdict(weights), style_size, size, iters, [p.name for p in HELD_OUT]], sort_keys=True)


def precompute(styles: list[str], size: int, iters: int) -> None:
    """Optimisation curves from the training recipe's objective, before the models exist (cached)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train_bundled_models import recipe

    cache = json.loads(CACHE.read_text()) if CACHE.is_file() else {}
    for style in styles:
        opts = recipe(style, 1, None)
        weights = opts.loss_weights()
        key = curve_key(style, weights, opts.style_size, size, iters)
        if key in cache:
            continue
        loss = objective_loss(weights, to_tensor(resize_to_max(load_rgb(opts.style), opts.style_size)))
        print(f"{style}: optimisation curves", flush=True)
        cache[key] = [optimization_curve(loss, square_crop(p, size), iters) for p in HELD_OUT]
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_text(json.dumps(cache))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--models", default=",".join(sorted(p.stem.split(".")[0] for p in BUNDLED_DIR.glob("*.safetensors"))))
    parser.add_argument("--out", default="docs")
    parser.add_argument("--precompute", metavar="STYLES", help="only compute (and cache) the optimisation curves "
                        "of these styles from scripts/train_bundled_models.py's recipe")
    args = parser.parse_args()
    if args.precompute:
        precompute(args.precompute.split(","), args.size, args.iters)
        return
    cache = json.loads(CACHE.read_text()) if CACHE.is_file() else {}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.models.split(","):
        style = DATA / "styles" / f"{name}.jpg"
        print(f"{name}: {args.iters} L-BFGS iterations on {len(HELD_OUT)} photos at {args.size}px", flush=True)
        weights, _, style_size = training_weights(load_model(name))
        curves = cache.get(curve_key(name, weights, style_size, args.size, args.iters))
        results.append(objective_comparison(name, HELD_OUT, args.iters, args.size, style, curves=curves))
    checkpoints = [k for k in (50, 100, 200, 300, 500) if k <= args.iters]
    lines = ["| model | network | " + " | ".join(f"L-BFGS {k}" for k in checkpoints) + " | network reached at |",
             "|---|---|" + "---|" * len(checkpoints) + "---|"]
    for r in results:
        crossing = f"{r.crossing} iterations" if r.crossing is not None else f"> {args.iters} iterations"
        lines.append(f"| {r.model} | {r.network_loss:.4g} | " + " | ".join(f"{r.loss_at(k):.4g}" for k in checkpoints)
                     + f" | {crossing} |")
    table = "\n".join(lines)
    print(table)
    (out / "fig5.md").write_text(
        f"Mean total perceptual loss on {', '.join(p.name for p in HELD_OUT)} ({args.size}x{args.size} centre "
        f"crops), each model's own training weights; optimisation from content initialisation.\n\n{table}\n")
    (out / "fig5.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.2), dpi=100, squeeze=False)
    for ax, r in zip(axes[0], results):
        ax.plot(range(len(r.curve)), r.curve, label="L-BFGS optimisation")
        ax.axhline(r.network_loss, color="C3", ls="--", label="feed-forward network")
        ax.set_yscale("log")
        ax.set_title(r.model)
        ax.set_xlabel("L-BFGS iteration")
    axes[0][0].set_ylabel("total loss (mean of 3 photos)")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(out / "fig5.png")


if __name__ == "__main__":
    main()
