"""What the commands share: argparse type checkers (one line each when a value is bad), the option groups
several commands declare (device, backend, video and output options, the loss weights), and the loop over
input files with its per-file report and standard input/output (:func:`run_files`)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from .. import hyperparams as hp
from ..arch import EDGE_MARGIN  # noqa: F401 -- the train command's default teacher margin
from ..limits import STYLE_SCALES
from ..runtime import AMP_MODES

PAPER = hp.LossWeights()


# --- argparse types -------------------------------------------------------------------------------------


def layers(text: str) -> tuple[str, ...]:
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [n for n in names if n not in hp.VGG16_TAPS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown layer(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(hp.VGG16_TAPS)}"
        )
    return names


def whole_number(text: str, low: int, high: int | None, what: str) -> int:
    """``text`` as an integer in ``low`` .. ``high`` (inclusive; ``None``: no upper bound), else a one-line error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}") from None
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"must be {what}, not {text}")
    return value


def seed(text: str) -> int:
    return whole_number(text, 0, 2**63 - 1, "between 0 and 2**63 - 1")


def positive_int(text: str) -> int:
    return whole_number(text, 1, None, "a positive integer")


def non_negative_int(text: str) -> int:
    try:
        return 0 if text.strip() == "0" else positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive integer, not {text!r}") from None


def finite_number(text: str, positive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise argparse.ArgumentTypeError(f"must be a finite number {'> 0' if positive else '>= 0'}, not {text}")
    return value


def weight(text: str) -> float:
    """A loss weight: finite and >= 0."""
    return finite_number(text, positive=False)


def rate(text: str) -> float:
    """A learning rate, a step size, a multiplier or a number of minutes: finite and > 0."""
    return finite_number(text, positive=True)


def duration(text: str) -> float:
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


def int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, not {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive integers, not {text!r}")
    return values


def style_scale(text: str) -> float:
    """A motif size relative to the model's own: 0.25 .. 4 (``percepta.limits.STYLE_SCALES``)."""
    low, high = STYLE_SCALES
    value = finite_number(text, positive=True)
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}, not {text}")
    return value


def add_style_scale(p: argparse.ArgumentParser) -> None:
    p.add_argument("--style-scale", type=style_scale, default=1.0, metavar="S",
                   help="motif size: S times the size the model paints (0.25..4; default 1); 2 runs the network "
                        "at half size and keeps the photo's edges (also ~4x faster)")  # fmt: skip


def shard(text: str) -> tuple[int, int]:
    """``K/N``: the K-th of N shares of a folder run (1-based)."""
    k, _, n = text.partition("/")
    try:
        values = int(k), int(n)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be K/N (e.g. 2/8), not {text!r}") from None
    if not 1 <= values[0] <= values[1]:
        raise argparse.ArgumentTypeError(f"must be K/N with 1 <= K <= N, not {text}")
    return values


def temporal(text: str) -> float:
    value = weight(text)
    if value >= 1.0:
        raise argparse.ArgumentTypeError(f"must be below 1, not {text}")
    return value


def fraction(text: str) -> float:
    value = weight(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


# --- option groups ---------------------------------------------------------------------------------------


def add_device(p: argparse.ArgumentParser, what: str = "cpu, cuda, cuda:N (ONNX Runtime's providers: also coreml, "
               "directml)") -> None:  # fmt: skip
    p.add_argument("--device", default="cpu", help=what)


def add_loss_options(p: argparse.ArgumentParser, style: bool = True, recipe: bool = False) -> None:
    """The loss weights and layers; with ``recipe``, their defaults are the ``--recipe``'s (None here)."""
    g = p.add_argument_group("loss (paper section 3)")

    def option(flag: str, default: Any, what: str, **kw: Any) -> None:
        shown = f"default: the recipe's; paper {hp.format_default(default)}" if recipe else (
            f"default {hp.format_default(default)}")  # fmt: skip
        g.add_argument(flag, default=None if recipe else default, help=f"{what} ({shown})", **kw)

    option("--content-weight", PAPER.content, "feature loss weight", type=weight)
    option("--tv-weight", PAPER.tv, "total-variation weight", type=weight)
    option("--content-layers", PAPER.content_layers, "feature reconstruction layers", type=layers, metavar="L1,L2")
    if style:
        option("--style-weight", PAPER.style, "style loss weight", type=weight)
        option("--style-layers", PAPER.style_layers, "style reconstruction layers", type=layers, metavar="L1,L2")
        why = "eq. 4's squared Frobenius norm (paper), or the mean over C^2 entries (the authors' code and weights)"
        option("--gram-reduction", "frobenius", why, choices=("frobenius", "mean"))
        why = ("eq. 4 also on the output and the painting halved, quartered, ... (a Gram pyramid, Snelgrove 2017: "
               "larger structures; not in the paper)")  # fmt: skip
        option("--style-octaves", 1, why, type=int, choices=range(1, 5), metavar="N")


def add_train_options(p: argparse.ArgumentParser, recipe: bool = False) -> None:
    """Where, how long and on what a run trains; with ``recipe`` (style training), ``--data``, ``-o``, the
    network and the length default to the ``--recipe``'s (None here; see ``percepta.train.recipes``)."""
    g = p.add_argument_group("training (paper section 4)")
    by_recipe = "default: the recipe's; paper: " if recipe else "paper: "
    if recipe:
        g.add_argument("--data", help="folder of training photos, searched recursively (default: the 24 photos "
                                      "that come with percepta)")  # fmt: skip
        g.add_argument("-o", "--output", help="model file to write (.safetensors; default: PAINTING.safetensors "
                                              "in the current folder)")  # fmt: skip
    else:
        g.add_argument("--data", required=True, help="folder of training photos (searched recursively)")
        g.add_argument("-o", "--output", required=True, help="model file to write (.safetensors)")
    g.add_argument("--batch-size", type=positive_int, default=hp.BATCH_SIZE, help="global batch (paper: %(default)s)")
    g.add_argument("--lr", type=rate, default=hp.LEARNING_RATE, help="Adam learning rate (paper: %(default)s)")
    g.add_argument("--lr-decay", choices=hp.LR_DECAYS, default=None if recipe else "none",
                   help="linear: the learning rate falls to zero over the run (its iterations or time budget; "
                        f"budgeted training, Li et al. 2020) ({by_recipe}none, constant)")  # fmt: skip
    g.add_argument(
        "--iters",
        type=positive_int,
        default=None,
        help=f"iterations ({by_recipe}{hp.STYLE_ITERATIONS} style, {hp.SR_ITERATIONS} SR)",
    )
    g.add_argument("--norm", choices=("batch", "instance", "none"), default=None if recipe else "batch",
                   help=f"{by_recipe}batch")  # fmt: skip
    g.add_argument(
        "--upsample",
        choices=("transpose", "resize"),
        default=None if recipe else "transpose",
        help=f"{by_recipe}transpose (stride-1/2 conv); resize avoids checkerboard artefacts",
    )
    g.add_argument("--width", type=rate, default=None if recipe else 1.0,
                   help=f"filter-count multiplier ({by_recipe}1)")  # fmt: skip
    g.add_argument("--seed", type=seed, default=0)
    g.add_argument("--exclude", default="", help="comma-separated photo file names to keep out of training")
    g.add_argument("--checkpoint", help="checkpoint file (default: OUTPUT with .ckpt"
                   + ("; with a recipe, in percepta's cache folder)" if recipe else ")"))  # fmt: skip
    g.add_argument("--checkpoint-every", type=positive_int, default=100)
    g.add_argument(
        "--val-every", type=non_negative_int, default=500, help="save validation outputs every N iterations (0: never)"
    )
    g.add_argument("--val-images", default="", help="comma-separated images for validation outputs")
    g.add_argument("--resume", metavar="CHECKPOINT", help="continue a run exactly from its checkpoint")
    g.add_argument(
        "--init", dest="init_from", metavar="MODEL", help="warm start from a model with the same architecture"
    )
    g.add_argument("--half", action="store_true", help="store the final weights as fp16 (half the size)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing model file at OUTPUT")
    g.add_argument("--amp", choices=AMP_MODES, default=None if recipe else "off",
                   help="mixed precision: the networks in bf16 or fp16 (with a gradient scaler), the loss terms in "
                        "fp32; auto: bf16 on a CPU with native bf16 (AMX or AVX-512 bf16), else off "
                        f"({by_recipe}off)")  # fmt: skip
    g.add_argument(
        "--time-budget",
        type=duration,
        metavar="DURATION",
        help="stop after this much training time (e.g. 90m, 2h, 300s) and save the model",
    )
    add_device(g, "cpu or cuda (PyTorch)")


def add_backend(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("auto", "onnx", "eager", "compile", "fp16"), default="auto",
                   help="inference path: auto (the model's graph on ONNX Runtime; fp16 PyTorch on a CUDA GPU where "
                        "torch is installed), onnx; with percepta[train]: eager (plain PyTorch fp32), compile "
                        "(torch.compile), fp16 (CUDA)")  # fmt: skip


def add_io_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("video (an INPUT ending in .mp4, .mov, .mkv, .webm, .avi or .m4v)")
    g.add_argument("--temporal", type=temporal, default=0.0, metavar="W",
                   help="reduce flicker: blend each output pixel with the previous frame's where the input holds "
                        "still, by up to W (0..0.99; default 0, off)")  # fmt: skip
    p.add_argument("--batch", type=positive_int, metavar="N",
                   help="images of one size, or video frames, per forward pass (default: 4 on a GPU and for "
                        "video; images one at a time on the CPU, where batches are no faster)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object per file (input, output, ms, error)")
    p.add_argument("--shard", type=shard, metavar="K/N",
                   help="only the K-th of N shares of the files (1-based), e.g. $SLURM_ARRAY_TASK_ID/8")  # fmt: skip
    p.add_argument("--format", choices=("png", "jpg", "webp"), default="png",
                   help="image format written to standard output for -o - (default png)")  # fmt: skip


def style_loss_weights(args: argparse.Namespace) -> hp.LossWeights:
    """The loss options of ``optimize`` and ``train style`` (see ``add_loss_options``)."""
    return hp.LossWeights(content=args.content_weight, style=args.style_weight, tv=args.tv_weight,
                          pixel=getattr(args, "pixel_weight", 0.0),
                          content_layers=args.content_layers, style_layers=args.style_layers,
                          gram_reduction=args.gram_reduction, style_octaves=args.style_octaves)  # fmt: skip
