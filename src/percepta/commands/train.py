"""``percepta train style|sr``: a transformation network for one painting (paper section 4.1) or x4 / x8
super-resolution (section 4.2), with resumable checkpoints (PyTorch)."""

from __future__ import annotations

import argparse
import sys

from .. import hyperparams as hp
from ..arch import EDGE_MARGIN
from ..errors import PerceptaError
from ..train.recipes import RECIPES
from . import options as o

TORCH = True
#: flags that say where and how long a run goes, not what it learns: ``--resume`` takes them from this call
PLACES = frozenset({"--data", "-o", "--output", "--checkpoint", "--resume", "--device", "--iters", "--overwrite",
                    "--time-budget", "--minutes", "--checkpoint-every", "--val-every", "--val-images", "--half",
                    "--install", "--preview", "--no-preview", "--recipe", "--amp"})  # fmt: skip
#: the places that are options of the run itself (how it runs and saves, not what it learns): given with
#: ``--resume``, they replace the checkpoint's (the other places are always this call's: ``WHERE_AND_HOW_LONG``)
RESUMED_AS_GIVEN = {"--amp": "amp", "--half": "half", "--checkpoint-every": "checkpoint_every",
                    "--val-every": "val_every"}  # fmt: skip


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a transformation network")
    tsub = p.add_subparsers(dest="task", metavar="TASK", required=True)
    t = tsub.add_parser("style", help="style transfer network for one painting (paper section 4.1)",
                        description="Train a model of a painting. Without other flags: the quick recipe on a CPU "
                        "(about 10 minutes, from percepta's own photos), the paper's on a GPU; every flag given "
                        "overrides the recipe's value.")  # fmt: skip
    t.add_argument("--style", action="append", metavar="PAINTING",
                   help="the painting (style image); several --style: one base model across them, each iteration "
                        "the next painting (with --resume: the checkpoint's)")  # fmt: skip
    t.add_argument("--recipe", choices=RECIPES, default="auto",
                   help="auto (default): quick on a CPU, paper on a GPU; quick: minutes, warm-started from a "
                        "base model; cpu: hours, from scratch, 5 residual blocks; paper: the paper's settings "
                        "(days on a CPU)")  # fmt: skip
    t.add_argument(
        "--minutes",
        type=o.rate,
        metavar="N",
        help="stop after N minutes of training and save the model (quick recipe: 10)",
    )
    t.add_argument(
        "--install",
        action="store_true",
        help="install the finished model under its file name, so that -m NAME finds it",
    )
    t.add_argument("--preview", action=argparse.BooleanOptionalAction, default=True,
                   help="at the end, stylise a held-out photo beside the painting (MODEL_preview.jpg) and print its "
                        "eval style numbers (default: on)")  # fmt: skip
    t.add_argument("--size", type=o.positive_int,
                   help=f"training crop size (default: the recipe's; paper {hp.STYLE_CROP})")  # fmt: skip
    t.add_argument("--photo-size", type=o.positive_int, metavar="PX",
                   help="resize each training photo's shorter side to PX before cropping (default: the crop "
                        "size, the paper's whole 256 x 256 photos; larger shows scenes larger; not in the "
                        "paper)")  # fmt: skip
    t.add_argument("--photo-size-min", type=o.positive_int, metavar="PX",
                   help="scale augmentation: each crop shows its photo at a random shorter side between PX and "
                        "--photo-size (not in the paper)")  # fmt: skip
    t.add_argument(
        "--style-size",
        type=o.positive_int,
        help=f"longer side of the style image (default: the recipe's; paper {hp.STYLE_IMAGE_SIZE})",
    )
    t.add_argument("--blocks", type=o.positive_int,
                   help=f"residual blocks (default: the recipe's; paper {hp.STYLE_BLOCKS})")  # fmt: skip
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
    o.add_train_options(t, recipe=True)
    o.add_loss_options(t, recipe=True)
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


def train_options(args: argparse.Namespace, say=None) -> object:
    """The command line's ``train style|sr`` arguments as :class:`~percepta.train.options.TrainOptions`, through
    the one mapping from flat names (:meth:`TrainOptions.from_dict`); for ``style``, the recipe fills in what
    was not given (:func:`percepta.train.painting.fill_in`)."""
    from ..train.options import TrainOptions

    flat = {**vars(args), "exclude": tuple(n for n in args.exclude.split(",") if n),
            "val_images": tuple(n for n in args.val_images.split(",") if n),
            "style_size": getattr(args, "style_size", None)}  # fmt: skip
    if args.task == "style":
        from ..train.painting import fill_in
        from ..train.recipes import recipe

        length_given = args.minutes or args.iters or flat.get("time_budget") is not None
        if args.resume:
            flat, budget = resumed_places(flat, args.resume)
        elif not args.style:
            raise PerceptaError("train style needs --style PAINTING (or --resume CHECKPOINT)")
        if args.minutes:
            flat["time_budget"] = args.minutes * 60
        flat = fill_in(flat, recipe(args.recipe, args.device), say or (lambda line: None))
        if args.resume and not length_given:  # the run's own time budget, not this call's recipe's
            flat["time_budget"] = budget
        if args.style:
            flat["style"], flat["more_styles"] = args.style[0], tuple(args.style[1:])
    return TrainOptions.from_dict(flat)


def resumed_places(flat: dict, resume: str) -> tuple[dict, float | None]:
    """A resumed style run's flags with the checkpoint's painting(s), and, where this call names none, its
    photos, model file and log, and the resumed file itself as the checkpoint it goes on writing (not a new
    one beside it); and the run's own time budget."""
    from ..train.checkpoint import load_checkpoint

    saved = load_checkpoint(resume)["options"]
    if saved.get("task") != "style":
        raise other_task(resume, saved.get("task"))
    flat = {**flat, "style": saved["style"], "more_styles": tuple(saved.get("more_styles", ()))}
    for place in ("data", "output"):
        flat[place] = flat.get(place) or saved[place]
    if not flat.get("checkpoint"):
        flat["checkpoint"], flat["logs"] = str(resume), flat.get("logs") or saved.get("logs")
    return flat, saved.get("time_budget")


def other_task(resume: str, task: str | None) -> PerceptaError:
    """The error for resuming a checkpoint of the other task."""
    return PerceptaError(f"{resume} is a {task} training checkpoint; resume it with train {task}")


def given_flags(argv: list[str]) -> set[str]:
    """The flags written in ``argv`` (``--amp=off`` as ``--amp``)."""
    return {a.split("=", 1)[0] for a in argv if a.startswith("-") and a != "-"}


def ignored_by_resume(argv: list[str]) -> list[str]:
    """The hyper-parameter flags in ``argv`` that ``--resume`` overrides with the checkpoint's own."""
    return sorted({f for f in given_flags(argv) if f not in PLACES and f.startswith("--")})


def run(args: argparse.Namespace) -> None:
    from ..train.loop import resumed_options, train

    def say(line: str) -> None:
        print(line, file=sys.stderr)

    opts = train_options(args, say)
    if args.resume:  # the checkpoint's hyper-parameters; this call's places, device (and --iters if given)
        given = given_flags(getattr(args, "argv", []))
        as_given = {name: getattr(opts, name) for flag, name in RESUMED_AS_GIVEN.items() if flag in given}
        opts = resumed_options(args.resume, opts, keep=() if args.iters else ("iters",), **as_given)
        if opts.task != args.task:
            raise other_task(args.resume, opts.task)
        ignored = ignored_by_resume(getattr(args, "argv", []))
        if ignored:
            print("percepta: warning: --resume continues with the checkpoint's settings; ignored: "
                  + ", ".join(ignored), file=sys.stderr)  # fmt: skip
    if args.task == "style":
        from ..train.painting import train_usable
        from ..train.recipes import recipe

        path = train_usable(opts, recipe(args.recipe, args.device), resume=args.resume, install=args.install,
                            overwrite=args.overwrite, show_preview=args.preview, say=say)  # fmt: skip
    else:
        path = train(opts, resume=args.resume)
    if path is not None:
        print(path)
