"""``percepta stylize``: images, folders, pipes and videos through a style model in one forward pass
(paper section 4.1)."""

from __future__ import annotations

import argparse

from . import options as o
from .files import default_output, is_video_run, run_files, run_video


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stylize", help="stylise images with a trained style model (one forward pass)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders; - reads standard input")
    p.add_argument(
        "-m",
        "--model",
        required=True,
        help="bundled model name (see `percepta models`) or a file; a blend: wave:0.6,udnie:0.4",
    )
    p.add_argument("-o", "--output", help="output file (one input) or folder; - writes standard output (default: "
                   "PHOTO_MODEL.jpg beside the photo, FOLDER_MODEL/ beside a folder)")  # fmt: skip
    p.add_argument("--max-size", type=o.positive_int, help="downscale so the longer side is at most this first")
    p.add_argument("--preserve-color", action="store_true", help="keep the input's colours (style in luminance only)")
    p.add_argument("--strength", type=o.fraction, default=1.0, help="blend with the input, 0..1 (default 1)")
    o.add_style_scale(p)
    p.add_argument("--blend", choices=("outputs", "weights"), default="outputs",
                   help="how -m a:0.5,b:0.5 mixes: the models' outputs (any models), or their weights (one "
                        "architecture, related models such as the bundled ones: a stronger mixed style)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace existing output files (inputs never are)")
    p.add_argument("--tile", type=o.non_negative_int, default=None,
                   help="stylise in feathered tiles of this many pixels with shared instance-norm statistics "
                        "(bounded memory); default: tiles of 1024 above 2048x2048 pixels; 0: never")  # fmt: skip
    o.add_backend(p)
    o.add_io_options(p)
    o.add_device(p)


def run(args: argparse.Namespace) -> None:
    from ..infer import Blend, stylize, stylize_files

    blend = Blend.load(args.model, args.device, args.blend, args.backend)
    if args.output is None:
        args.output = default_output(args.inputs, blend.name.replace(":", "-").replace(",", "_"))
    options = {"max_size": args.max_size, "preserve_color": args.preserve_color, "strength": args.strength,
               "tile": args.tile, "style_scale": args.style_scale}  # fmt: skip
    if is_video_run(args):
        run_video(args, lambda x: stylize(x, blend, **options))
        return
    run_files(args, stylize_files, blend, **options)
