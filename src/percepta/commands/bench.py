"""``percepta bench speed|objective|reconstruct``: the paper's Table 1, Fig. 5 and Figs. 3-4 on this machine
(PyTorch)."""

from __future__ import annotations

import argparse

from .. import hyperparams as hp
from . import options as o

TORCH = True


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="reproduce the paper's experiments on this machine")
    bsub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    b = bsub.add_parser("speed", help="Table 1: optimisation vs one forward pass, per image size")
    b.add_argument("--sizes", type=o.int_list, default=hp.SPEED_SIZES)
    b.add_argument("--iters", type=o.int_list, default=hp.SPEED_ITERATIONS)
    o.add_device(b, "cpu or cuda (PyTorch)")
    b.add_argument("--quick", action="store_true", help="extrapolate optimisation time from 10 measured iterations")
    b.add_argument("-m", "--model", help="time this model instead of the paper's network")
    b.add_argument("--out", default="bench-out", help="report folder (default %(default)s)")
    b = bsub.add_parser("objective", help="Fig. 5: optimisation loss per iteration vs the network's loss")
    b.add_argument("-m", "--model", required=True)
    b.add_argument("--images", nargs="+", help="images or folders (default: the bundled example photo)")
    b.add_argument("--iters", type=o.positive_int, default=500)
    b.add_argument("--sizes", type=o.int_list, default=(256,))
    b.add_argument(
        "--init",
        choices=("noise", "content"),
        default=hp.FIG5_INIT,
        help="optimisation's start: white noise as the paper's baseline (default), or the photo (stricter)",
    )
    b.add_argument("--out", default="bench-out")
    b = bsub.add_parser("reconstruct", help="Figs. 3-4: reconstructions from features and from Grams")
    b.add_argument("--image", help="target image (default: the bundled example photo)")
    b.add_argument("--size", type=o.positive_int, default=256)
    b.add_argument("--iters", type=o.positive_int, default=200)
    b.add_argument("--out", default="bench-out")


def run(args: argparse.Namespace) -> None:
    from .. import experiments as bench

    if args.bench == "speed":
        print(bench.bench_speed(args.out, args.sizes, args.iters, args.device, args.quick, args.model))
    elif args.bench == "objective":
        from ..image import expand_inputs

        images = expand_inputs(args.images) if args.images else [bench.EXAMPLE_CONTENT]
        print(bench.bench_objective(args.out, args.model, images, args.iters, args.sizes, args.init))
    else:
        print(bench.bench_reconstruct(args.out, args.image or bench.EXAMPLE_CONTENT, args.size, args.iters))
    print(f"report: {args.out}/{args.bench}.md")
