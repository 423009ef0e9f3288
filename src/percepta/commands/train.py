"""``percepta train style|sr``: a transformation network for one painting (paper section 4.1) or x4 / x8
super-resolution (section 4.2), with resumable checkpoints (PyTorch)."""

from __future__ import annotations

import argparse
import sys

from .. import hyperparams as hp
from ..arch import EDGE_MARGIN
from ..errors import PerceptaError
from . import options as o

TORCH = True
#: flags that say where and how long a run goes, not what it learns: ``--resume`` takes them from this call
PLACES = frozenset({"--data", "-o", "--output", "--checkpoint", "--resume", "--device", "--iters", "--overwrite",
                    "--time-budget", "--checkpoint-every", "--val-every", "--val-images", "--half"})  # fmt: skip


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a transformation network")
    tsub = p.add_subparsers(dest="task", metavar="TASK", required=True)
    t = tsub.add_parser("style", help="style transfer network for one painting (paper section 4.1)")
    t.add_argument("--style", required=True, help="style image")
    t.add_argument(
        "--size",
        type=o.positive_int,
        default=hp.STYLE_CROP,
        help="training crop size (paper: %(default)s; CPU recipe: 128)",
    )
    t.add_argument(
        "--style-size",
        type=o.positive_int,
        default=hp.STYLE_IMAGE_SIZE,
        help="longer side of the style image (default %(default)s; CPU recipe: 256)",
    )
    t.add_argument(
        "--blocks", type=o.positive_int, default=hp.STYLE_BLOCKS, help="residual blocks (paper: %(default)s)"
    )
    t.add_argument(
        "--teacher",
        metavar="MODEL",
        help="distil: the content target is this style model's output "
        "(train a smaller network to look like it; add --pixel-weight to match its colours too)",
    )
    t.add_argument("--pixel-weight", type=o.weight, default=0.0, help="per-pixel loss against the target (default 0)")
    t.add_argument("--teacher-margin", type=o.non_negative_int, default=EDGE_MARGIN, metavar="PX",
                   help="the teacher runs behind this reflection margin, so that its edge lines are not taught "
                        "(default %(default)s; 0: as the model file says)")  # fmt: skip
    o.add_train_options(t)
    o.add_loss_options(t)
    t = tsub.add_parser("sr", help="super-resolution network (paper section 4.2)")
    t.add_argument("--scale", type=int, choices=hp.SR_SCALES, default=hp.SR_SCALES[0])
    t.add_argument("--loss", dest="sr_loss", choices=("feat", "pixel"), default="feat")
    t.add_argument(
        "--patch",
        dest="size",
        type=o.positive_int,
        default=hp.SR_PATCH,
        help="high-resolution patch (paper: %(default)s)",
    )
    t.add_argument(
        "--skip",
        choices=("none", "bicubic"),
        default="none",
        help="bicubic: learn a correction added to bicubic upsampling (global residual; paper: none)",
    )
    o.add_train_options(t)
    o.add_loss_options(t, style=False)


def train_options(args: argparse.Namespace) -> object:
    """The command line's ``train style|sr`` arguments as :class:`~percepta.train.options.TrainOptions`, through
    the one mapping from flat names (:meth:`TrainOptions.from_dict`)."""
    from ..train.options import TrainOptions

    flat = {**vars(args), "exclude": tuple(n for n in args.exclude.split(",") if n),
            "val_images": tuple(n for n in args.val_images.split(",") if n),
            "style_size": getattr(args, "style_size", None)}  # fmt: skip
    return TrainOptions.from_dict(flat)


def ignored_by_resume(argv: list[str]) -> list[str]:
    """The hyper-parameter flags in ``argv`` that ``--resume`` overrides with the checkpoint's own."""
    flags = [a.split("=", 1)[0] for a in argv if a.startswith("-") and a != "-"]
    return sorted({f for f in flags if f not in PLACES and f.startswith("--")})


def run(args: argparse.Namespace) -> None:
    from ..train.loop import resumed_options, train

    opts = train_options(args)
    if args.resume:  # the checkpoint's hyper-parameters; this call's places, device (and --iters if given)
        opts = resumed_options(args.resume, opts, keep=() if args.iters else ("iters",))
        if opts.task != args.task:
            raise PerceptaError(f"{args.resume} is a {opts.task} training checkpoint; resume it with train {opts.task}")
        ignored = ignored_by_resume(getattr(args, "argv", []))
        if ignored:
            print("percepta: warning: --resume continues with the checkpoint's settings; ignored: "
                  + ", ".join(ignored), file=sys.stderr)  # fmt: skip
    path = train(opts, resume=args.resume)
    if path is not None:
        print(path)
