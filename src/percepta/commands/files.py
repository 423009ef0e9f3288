"""The commands' loop over input files: standard input and output, one line (or JSON object) per file as it
is written, a folder run that goes on past a failing file; and one video in, one video out."""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..errors import PerceptaError


def default_output(inputs: list[str], tag: str) -> str:
    """Where a run writes without ``-o``: ``photo_TAG.jpg`` beside one input file (``photo.gif`` -> ``.png``),
    ``FOLDER_TAG/`` beside one input folder. ``tag`` names what was done (``wave``, ``x4``)."""
    from ..image import SAVE_FORMATS

    if len(inputs) != 1 or inputs[0] == "-":
        raise PerceptaError("several inputs, or standard input, need -o (an output folder, or - for stdout)")
    tag = re.sub(r"[^A-Za-z0-9._-]+", "-", tag).strip("-.") or "out"
    src = Path(inputs[0])
    if src.is_dir():
        return str(src.with_name(f"{src.name.rstrip('/')}_{tag}"))
    from ..video import is_video

    suffix = src.suffix if src.suffix.lower() in SAVE_FORMATS or is_video(src) else ".png"
    return str(src.with_name(f"{src.stem}_{tag}{suffix}"))


def one_line(exc: BaseException) -> str:
    """The error as one line: a newline inside it (a file name can hold one) is shown as ``\\n``."""
    return str(exc).strip().replace("\r", "\\r").replace("\n", "\\n") or type(exc).__name__


def run_files(args: argparse.Namespace, run: Any, model: Any, **options: Any) -> None:
    """``run`` (``stylize_files``, ``upscale_files``) over the inputs, printing each written file as it comes.

    One input file: a failure is the command's error. Several, or folders: each failure is one line on
    stderr (with ``--json``: a JSON object on stdout), the run goes on, and the command fails at the end if
    any file did. ``-`` as the one input reads an image from standard input; ``-o -`` writes the one output
    to standard output (the per-file lines then go to stderr).
    """
    if "-" in args.inputs and len(args.inputs) > 1:
        raise PerceptaError("- (standard input) must be the only input")
    if args.output == "-" and (sys.stdout is None or sys.stdout.closed):
        raise PerceptaError("-o - writes to standard output, which is closed; give an output file")
    if args.inputs == ["-"] and (sys.stdin is None or sys.stdin.closed):
        raise PerceptaError("- reads standard input, which is closed; give an input file")
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
                print(f"percepta: error: {one_line(PerceptaError(result.error))}", file=sys.stderr, flush=True)

        batch = args.batch or (4 if str(args.device).startswith("cuda") else 1)
        results = run(inputs, model, output, overwrite=args.overwrite, on_result=show, device=args.device,
                      batch=batch, shard=getattr(args, "shard", None), **options)  # fmt: skip
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


def run_video(args: argparse.Namespace, frames_fn: Any) -> None:
    """One video INPUT to one video OUTPUT (see :mod:`percepta.video`)."""
    from ..video import transform_video

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


def is_video_run(args: argparse.Namespace) -> bool:
    from ..video import is_video

    return any(is_video(i) for i in args.inputs)
