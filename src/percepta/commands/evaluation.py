"""``percepta eval sr|style``: PSNR / SSIM / feature distance of SR models; content loss and style ratio of
stylised images (PyTorch: the VGG-16 loss network)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import hyperparams as hp
from ..errors import PerceptaError
from . import options as o

NAME = "eval"
TORCH = True


def add_parser(sub: argparse._SubParsersAction) -> None:
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
    e.add_argument("-m", "--model", "--models", dest="models", nargs="+", default=[], metavar="MODEL",
                   help="also stylise the photos with these models (--models: the old spelling)")  # fmt: skip
    e.add_argument("--size", type=o.positive_int, help="compare at this longer side (default: each output's size)")
    e.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    e.add_argument("--out", metavar="DIR", help="also write DIR/eval_style.md and .json")
    o.add_device(e, "cpu or cuda (PyTorch)")


def run(args: argparse.Namespace) -> None:
    from .. import evaluate

    name = f"eval_x{args.scale}" if args.task == "sr" else "eval_style"
    targets = [Path(args.out) / f"{name}{suffix}" for suffix in (".md", ".json")] if args.out else []
    if args.out:
        from ..fsutil import check_writable

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
        from ..fsutil import atomic_write

        for target, text in zip(targets, (report.to_markdown(), report.to_json() + "\n")):
            with atomic_write(target) as fh:
                fh.write(text.encode())
    print(report.to_json() if args.json else report.to_markdown())
