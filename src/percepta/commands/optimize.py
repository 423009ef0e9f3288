"""``percepta optimize``: Gatys et al.'s optimisation baseline and the feature / style reconstructions
(paper section 4.1 baseline, Figs. 3-4; PyTorch)."""

from __future__ import annotations

import argparse

from ..errors import PerceptaError
from . import options as o

TORCH = True


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("optimize", help="Gatys et al.'s optimisation baseline and feature/style reconstructions")
    p.add_argument("--content", required=True, help="content image (the target image for --reconstruct)")
    p.add_argument("--style", help="style image")
    p.add_argument("-o", "--output", required=True, help="output image")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file at OUTPUT")
    p.add_argument("--size", type=o.positive_int, default=256, help="longer side of the content image (default 256)")
    p.add_argument("--style-size", type=o.positive_int, help="longer side of the style image (default: --size)")
    p.add_argument("--iters", type=o.positive_int, default=100)
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    p.add_argument("--lr", type=o.rate, help="step size (default: 1 for L-BFGS, 0.02 for Adam)")
    p.add_argument("--init", choices=("content", "noise"), default="content")
    p.add_argument("--seed", type=o.seed, default=0)
    p.add_argument(
        "--reconstruct",
        choices=("features", "style"),
        help="reconstruct --content from one layer's features or Grams only (paper Figs. 3-4)",
    )
    p.add_argument("--layer", type=lambda t: o.layers(t)[0], default="relu2_2", help="layer for --reconstruct")
    o.add_loss_options(p)


def run(args: argparse.Namespace) -> None:
    from ..fsutil import check_new_file
    from ..image import load_rgb, resize_long_side, save_image, to_pil, to_tensor
    from ..optimization import reconstruct, stylize_by_optimization

    check_new_file(args.output, args.overwrite)  # before the long work
    content = to_tensor(resize_long_side(load_rgb(args.content), args.size))
    if args.reconstruct:
        result = reconstruct(content, args.layer, args.reconstruct, args.iters, args.optimizer, args.seed, tv=0.0)
    else:
        if not args.style:
            raise PerceptaError("optimize needs --style (or --reconstruct features|style)")
        style = to_tensor(resize_long_side(load_rgb(args.style), args.style_size or args.size))
        weights = o.style_loss_weights(args)
        result = stylize_by_optimization(
            content, style, weights, args.iters, args.optimizer, args.init, args.lr, args.seed
        )
    save_image(to_pil(result.image), args.output)
    start, end = result.initial, result.final
    terms = ", ".join(f"{k} {v:.4g}" for k, v in end.items() if k != "total")
    print(
        f"loss {start['total']:.4g} -> {end['total']:.4g} ({start['total'] / max(end['total'], 1e-30):.1f}x lower) "
        f"after {args.iters} {args.optimizer} iterations; final terms: {terms}"
    )
    print(args.output)
