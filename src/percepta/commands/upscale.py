"""``percepta upscale``: super-resolution x4 / x8 of images, folders, pipes and videos (paper section 4.2)."""

from __future__ import annotations

import argparse

from .. import hyperparams as hp
from ..errors import PerceptaError
from ..modelfile import default_sr_model, read_meta, resolve_model
from . import options as o
from .files import default_output, is_video_run, run_files, run_video


def sr_model_and_scale(model: str | None, scale: int | None) -> tuple[str, int]:
    """The model ``upscale`` runs and its scale; an explicit ``--scale`` must be the model's own."""
    if model is None:
        return default_sr_model(scale), scale or hp.SR_SCALES[0]

    config, _ = read_meta(resolve_model(model))
    if config.task != "sr":
        raise PerceptaError(f"{model} is a {config.task} model, not a super-resolution model")
    if scale is not None and config.scale != scale:
        raise PerceptaError(f"{model} upscales x{config.scale}, not x{scale}; drop --scale or pick a x{scale} model")
    return model, config.scale


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("upscale", help="super-resolve images x4 or x8 with a trained SR model (section 4.2)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders; - reads standard input")
    p.add_argument("--scale", type=int, choices=hp.SR_SCALES, help="4 or 8 (default: the model's scale; without -m, 4)")
    p.add_argument("-m", "--model", help="SR model name or file (default: the bundled feature-loss model for --scale)")
    p.add_argument("-o", "--output", help="output file (one input) or folder; - writes standard output (default: "
                   "PHOTO_x4.png beside the photo, FOLDER_x4/ beside a folder)")  # fmt: skip
    p.add_argument(
        "--tile", type=o.non_negative_int, default=256, help="tile size in input pixels, 0 for none (default 256)"
    )
    p.add_argument(
        "--overlap", type=o.non_negative_int, default=16, help="context pixels around each tile (default 16)"
    )
    p.add_argument(
        "--match-histogram",
        action="store_true",
        help="match the output's colour histogram to the input (the paper's post-processing)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing output files (inputs never are)")
    o.add_backend(p)
    o.add_io_options(p)
    o.add_device(p)


def run(args: argparse.Namespace) -> None:
    from ..upscaling import upscale, upscale_files

    name, scale = sr_model_and_scale(args.model, args.scale)
    if args.output is None:
        args.output = default_output(args.inputs, f"x{scale}")
    if is_video_run(args):
        from ..infer import load_for

        model = load_for(name, args.device, args.backend)
        run_video(args, lambda x: upscale(x, model, tile=args.tile, overlap=args.overlap,
                                           match_histogram=args.match_histogram, backend=args.backend))  # fmt: skip
        return
    run_files(args, upscale_files, name, tile=args.tile,
               overlap=args.overlap, match_histogram=args.match_histogram, backend=args.backend)  # fmt: skip
