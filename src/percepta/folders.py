"""The one loop over image files and folders that ``stylize`` and ``upscale`` share (:func:`process_files`).

It plans every output before any work (:func:`plan_outputs`: no output may be an input, two inputs may not
share an output, an existing output needs ``overwrite``), keeps each input's EXIF orientation (applied) and
alpha channel, mirrors input subfolders, and goes on past a file that fails, reporting it
(:class:`FileResult`). Consecutive images of one size can go through the network together (``batch``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import PerceptaError
from .fsutil import check_writable
from .image import SAVE_FORMATS, from_array, images_in, load_image, resize_long_side, save_image, to_array


@dataclass
class FileResult:
    """One input file of :func:`process_files`: where it went and how long the network took, or why it failed."""

    source: Path
    output: Path
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _output_suffix(path: Path) -> str:
    return path.suffix if path.suffix.lower() in SAVE_FORMATS else ".png"


def plan_outputs(
    inputs: Iterable[str | os.PathLike],
    output: str | os.PathLike,
    overwrite: bool = False,
    shard: tuple[int, int] | None = None,
) -> list[tuple[Path, Path]]:
    """(input, output) pairs: ``output`` itself for a single file input, else files inside folder ``output``
    that mirror each input folder's subfolders (an input file given by name goes to the top).

    Checked before any work: no output may be an input, two inputs may not share an output, and an
    existing output is an error unless ``overwrite``. Formats Pillow cannot write (GIF) become PNG.
    ``shard=(k, n)``: the pairs of the k-th of n shares (every n-th from the k-th, 1-based; collisions are
    checked over the whole run, existing files over the share).
    """
    out = Path(output)
    pairs: list[tuple[Path, Path]] = []
    items = [Path(i) for i in inputs]
    single_file = len(items) == 1 and not items[0].is_dir()
    if single_file and out.suffix and not out.is_dir():
        if out.suffix.lower() not in SAVE_FORMATS:
            raise PerceptaError(f"{out}: cannot write {out.suffix} files; use one of {', '.join(SAVE_FORMATS)}")
        pairs = [(items[0], out)]
    else:
        if out.suffix and not out.is_dir():
            raise PerceptaError(f"{out}: several inputs need an output folder, not a file name")
        for item in items:
            if item.is_dir():
                pairs += [(p, (out / p.relative_to(item)).with_suffix(_output_suffix(p))) for p in images_in(item)]
            else:
                pairs.append((item, out / f"{item.stem}{_output_suffix(item)}"))
    if not pairs:
        raise PerceptaError("no input images")
    sources = {_resolved(p) for p, _ in pairs}
    seen: dict[Path, Path] = {}
    for src, dst in pairs:
        key = _resolved(dst)
        if key in sources:
            raise PerceptaError(f"{dst}: the output would overwrite an input; choose another output")
        if key in seen:
            raise PerceptaError(f"{seen[key]} and {src} would both be written to {dst}; give them separate runs")
        seen[key] = src
    for folder in dict.fromkeys(dst.parent for _, dst in pairs):  # fail now, not after the first image
        check_writable(folder / ".percepta-probe")
    if shard is not None:  # the whole run is checked above; this shard's own files below
        k, n = shard
        if not 1 <= k <= n:
            raise ValueError(f"shard must be K/N with 1 <= K <= N, not {k}/{n}")
        pairs = pairs[k - 1 :: n]
    existing = [dst for _, dst in pairs if dst.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise PerceptaError(f"{existing[0]}{more} already exists; pass --overwrite to replace")
    return pairs


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # Python 3.11-3.12 raise RuntimeError for a loop, later ones OSError
        raise PerceptaError(f"{path}: a symbolic link loop (or a path that cannot be resolved)") from None


def process_files(
    inputs: Iterable[str | os.PathLike],
    model: Any,
    output: str | os.PathLike,
    transform: Callable[..., Image.Image],
    *,
    load: Callable[..., Any],
    overwrite: bool = False,
    on_result: Callable[[FileResult], None] | None = None,
    batch: int = 1,
    shard: tuple[int, int] | None = None,
    **options: Any,
) -> list[FileResult]:
    """Apply ``transform(rgb, load(model), **options)`` (``stylize``, ``upscale``) to image files or folders of
    them, writing into ``output``.

    Outputs are planned (and refused) by :func:`plan_outputs` before the model loads (on
    ``options["device"]``). A file that cannot be read, processed or written is reported in its
    :class:`FileResult` and the run goes on; ``on_result`` sees each result as it comes. Each input's EXIF
    orientation is applied and its alpha carried over (resized to the output by ``save_image``).
    ``seconds`` is the network's time (I/O excluded; a batch's time shared out among its images).

    ``batch`` > 1: consecutive images of one size (after ``max_size``) go through the network together, up
    to ``batch`` at a time -- what keeps a GPU busy (the CLI's default there); on a CPU one at a time is as
    fast. A batch that fails is retried image by image, so that each file gets its own result.

    ``shard=(k, n)``: only every n-th file of the planned run, starting at the k-th (1-based), so that n
    machines or jobs (a Slurm array, a Kubernetes indexed job, GNU parallel) share one collection; the whole
    run is planned (and refused) first, the same on every shard.
    """
    if batch < 1:
        raise ValueError(f"batch must be >= 1, not {batch}")
    pairs = plan_outputs(inputs, output, overwrite, shard)
    backend = {"backend": options["backend"]} if "backend" in options else {}
    run = _Run(transform, load(model, options.get("device", "cpu"), **backend), options, on_result)
    if batch == 1:
        for src, dst in pairs:
            run.one(src, dst)
    else:
        run.batched(pairs, batch)
    return run.results


@dataclass
class _Run:
    """One :func:`process_files` call: the transform with its loaded model and options, and the results."""

    transform: Callable[..., Any]
    loaded: Any
    options: dict[str, Any]
    on_result: Callable[[FileResult], None] | None
    results: list[FileResult] = field(default_factory=list)

    def done(self, result: FileResult) -> None:
        self.results.append(result)
        if self.on_result is not None:
            self.on_result(result)

    def one(self, src: Path, dst: Path) -> None:
        result = FileResult(src, dst)
        try:
            img = load_image(src)
            start = time.perf_counter()
            out = self.transform(img.rgb, self.loaded, **self.options)
            result.seconds = time.perf_counter() - start
            save_image(out, dst, img.alpha)
        except PerceptaError as exc:
            result.error = _error_for(src, exc)
        self.done(result)

    def batched(self, pairs: list[tuple[Path, Path]], batch: int) -> None:
        group: list[tuple[Path, Path, Any, Image.Image]] = []
        max_size = self.options.get("max_size")
        for src, dst in pairs:
            try:
                img = load_image(src)
            except PerceptaError as exc:
                self.flush(group)  # results in input order
                self.done(FileResult(src, dst, error=_error_for(src, exc)))
                continue
            rgb = resize_long_side(img.rgb, max_size)  # as stylize resizes a PIL image: Lanczos
            if group and (rgb.size != group[0][3].size or len(group) == batch):
                self.flush(group)
            group.append((src, dst, img, rgb))
        self.flush(group)

    def flush(self, group: list[tuple[Path, Path, Any, Image.Image]]) -> None:
        """One forward pass for the images of ``group`` (resized already), then each one's file."""
        if not group:
            return
        arrays = {**self.options, "max_size": None} if "max_size" in self.options else self.options
        start = time.perf_counter()
        try:
            outs = self.transform(np.concatenate([to_array(rgb) for *_, rgb in group]), self.loaded, **arrays)
        except PerceptaError:  # one image's problem (or the batch's size): find out image by image
            for src, dst, *_ in group:
                self.one(src, dst)
        else:
            share = (time.perf_counter() - start) / len(group)
            for (src, dst, img, _), out in zip(group, outs):
                result = FileResult(src, dst, share)
                try:
                    save_image(from_array(out), dst, img.alpha)
                except PerceptaError as exc:
                    result.error = _error_for(src, exc)
                self.done(result)
        group.clear()


def _error_for(src: Path, exc: Exception) -> str:
    return str(exc) if str(src) in str(exc) else f"{src}: {exc}"
