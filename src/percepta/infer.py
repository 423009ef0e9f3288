"""Inference: run a trained transformation network in one forward pass (paper section 4.1, "Speed").

:func:`stylize` takes a PIL image or a tensor and returns the same kind. Options beyond the paper:
``preserve_colors`` (keep the input's colours, the style only in luminance, after Gatys et al. 2016
"Preserving color in neural artistic style transfer": the output's Y with the input's Cb and Cr) and
``strength`` (a linear blend with the input). :func:`process_files` is the one loop over files and folders
that ``stylize`` and ``upscale`` share: it keeps each input's EXIF orientation (applied) and alpha channel,
mirrors input subfolders, never writes over an input or (without ``overwrite``) an existing file, and goes
on past a file that fails, reporting it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from PIL import Image
from torch import Tensor

from .errors import ImageError, PerceptaError
from .fsutil import check_writable
from .image import (
    SAVE_FORMATS,
    images_in,
    load_image,
    resize_long_side,
    save_image,
    shrink_tensor,
    to_pil,
    to_tensor,
)
from .modelfile import Model, load_model
from .runtime import tune_allocator
from .tiling import OVERLAP, TILE, TILE_ABOVE, frozen_statistics, run_tiled

#: Larger inputs are refused (ask for ``max_size``): the style network's activations would not fit.
MAX_INFERENCE_PIXELS = 16_000_000
#: Larger super-resolution outputs are refused before any work: the result alone would need gigabytes
#: (100 MP is 1.2 GB as float32, e.g. a 2500 x 2500 photo at x4).
MAX_OUTPUT_PIXELS = 100_000_000

ImageLike = TypeVar("ImageLike", Image.Image, Tensor)


def as_batch(image: Image.Image | Tensor, max_size: int | None = None) -> Tensor:
    """A PIL image or an RGB tensor ((3, H, W) or (N, 3, H, W) in [0, 1]) as a float32 CPU batch (N, 3, H, W),
    downscaled first (never up) so that its longer side is at most ``max_size`` (PIL: Lanczos; tensors:
    antialiased bilinear, the same rounding)."""
    if isinstance(image, Image.Image):
        return to_tensor(resize_long_side(image.convert("RGB"), max_size))
    if image.dim() not in (3, 4) or image.shape[-3] != 3:
        raise ValueError(f"expected an RGB tensor (3, H, W) or (N, 3, H, W), got {tuple(image.shape)}")
    return shrink_tensor((image if image.dim() == 4 else image.unsqueeze(0)).detach().float().cpu(), max_size)


def like_input(batch: Tensor, image: ImageLike) -> ImageLike:
    """``batch`` back in the kind :func:`as_batch` was given: a PIL image, or a tensor of its rank."""
    if isinstance(image, Image.Image):
        return to_pil(batch)
    return batch if image.dim() == 4 else batch[0]


def preserve_color(styled: Tensor, original: Tensor) -> Tensor:
    """Luminance-only transfer: the styled image's Y (ITU-R BT.601) with the original's chroma."""

    def to_ycbcr(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        r, g, b = x.unbind(1)
        y = 0.299 * r + 0.587 * g + 0.114 * b
        return y, (b - y) * 0.564, (r - y) * 0.713

    y, _, _ = to_ycbcr(styled)
    _, cb, cr = to_ycbcr(original)
    r = y + 1.403 * cr
    g = y - 0.344 * cb - 0.714 * cr
    b = y + 1.773 * cb
    return torch.stack([r, g, b], 1).clamp(0.0, 1.0)


def run_network(model: Model, x: Tensor, backend: str = "auto") -> Tensor:
    """One forward pass of ``model`` on (N, 3, H, W) in [0, 1] with the tuned inference path
    (:mod:`percepta.backends`; ``backend="eager"`` is the plain fp32 network); the result on the CPU."""
    from .backends import run

    return run(model, x, backend)


def run_style_tiled(model: Model, x: Tensor, tile: int, overlap: int = OVERLAP, backend: str = "auto") -> Tensor:
    """A style network on ``x`` in feathered tiles, every instance-norm layer using statistics of the whole
    (downscaled) image (:mod:`percepta.tiling`); bounded memory for any size. Each image gets its own copy of
    the network with those statistics frozen in, run on ``backend`` without caching it (on the CPU: exported
    to ONNX Runtime, a fraction of a second, then every tile at ONNX speed); networks without instance norm
    run as they are, on the cached path."""
    if getattr(model.net, "kind", None) and model.config.norm == "instance":
        raise ImageError(
            f"{x.shape[-1]}x{x.shape[-2]} needs tiling, which an exported instance-norm graph cannot do "
            "without seams; use the .safetensors model or a smaller --max-size"
        )
    align = model.config.down_factor
    overlap = min(overlap, tile // 4)  # small tiles (tests, tiny machines): a quarter of the tile
    if getattr(model.net, "kind", None) or model.config.norm != "instance":
        return run_tiled(lambda t: run_network(model, t, backend), x, tile, overlap, align)
    from .backends import one_off_runner

    outputs = []
    for image in x.split(1):
        frozen = Model(frozen_statistics(model.net, image), {**model.meta, "name": f"{model.name} (tiled)"})
        runner = one_off_runner(frozen, backend)
        with torch.inference_mode():
            outputs.append(run_tiled(runner, image, tile, overlap, align))
    return torch.cat(outputs)


@dataclass
class Blend:
    """Several style models at once (``wave:0.6,udnie:0.4``; weights default to 1 and are normalised).

    ``mode="outputs"`` (the default) blends the models' outputs, which works for any models.
    ``mode="weights"`` runs one network whose weights are the weighted mean of theirs. Measured by
    ``scripts/blend_modes.py`` (``docs/blends.md``), a 50/50 wave/starry_night weight blend sits nearer both
    paintings' Grams than the output blend, which averages two pictures into a paler one; it needs one
    architecture and, to mean anything, models fine-tuned from a common ancestor, as the bundled ones are.
    ``strength`` and ``preserve_colors`` apply to the blend. One model is a blend of one.
    """

    models: list[Model]
    weights: list[float]
    mode: str = "outputs"
    backend: str = "auto"

    def __post_init__(self) -> None:
        if self.mode not in ("outputs", "weights"):
            raise ValueError(f"blend mode must be outputs or weights, not {self.mode!r}")
        self._mixed: Model | None = None
        if self.mode == "weights" and len(self.models) > 1:
            if len({m.config for m in self.models}) > 1:
                raise PerceptaError("a weights blend needs models of one architecture; use the outputs blend")
            states = [m.net.state_dict() for m in self.models]
            mixed = {k: sum(w * s[k] for w, s in zip(self.weights, states)) if v.is_floating_point() else v
                     for k, v in states[0].items()}  # fmt: skip
            net = type(self.models[0].net)(self.models[0].config)
            net.load_state_dict(mixed)
            device = next(self.models[0].net.parameters()).device
            self._mixed = Model(net.to(device).eval(), {"name": self.name})

    @property
    def task(self) -> str:
        return "style" if all(m.task == "style" for m in self.models) else "mixed"

    @property
    def name(self) -> str:
        if len(self.models) == 1:
            return self.models[0].name
        return ",".join(f"{m.name}:{w:.3g}" for m, w in zip(self.models, self.weights))

    @classmethod
    def load(
        cls, spec: str | os.PathLike | Model | Blend, device: str = "cpu", mode: str = "outputs", backend: str = "auto"
    ) -> Blend:
        """A model name or file, or ``name[:weight],name[:weight],...``; ``backend``: see :mod:`percepta.backends`."""
        if isinstance(spec, Blend):
            return spec
        if isinstance(spec, Model) or Path(spec).is_file() or ("," not in str(spec) and ":" not in str(spec)):
            return cls([load_model(spec, device)], [1.0], mode, backend)
        models, weights = [], []
        for part in str(spec).split(","):
            name, _, weight = part.strip().rpartition(":") if ":" in part else (part.strip(), "", "1")
            try:
                value = float(weight)
            except ValueError:
                raise PerceptaError(
                    f"bad blend {spec!r}: {weight!r} is not a weight (use name:0.5,other:0.5)"
                ) from None
            if not (value > 0 and value < float("inf")):
                raise PerceptaError(f"bad blend {spec!r}: weights must be positive, not {weight}")
            models.append(load_model(name, device))
            weights.append(value)
        return cls(models, [w / sum(weights) for w in weights], mode, backend)

    def __call__(self, x: Tensor, tile: int = 0) -> Tensor:
        """The blend on ``x``; with ``tile`` > 0, each network runs in tiles (:func:`run_style_tiled`)."""

        def one(model: Model) -> Tensor:
            if tile:
                return run_style_tiled(model, x, tile, backend=self.backend)
            return run_network(model, x, self.backend)

        if self._mixed is not None:
            return one(self._mixed)
        if len(self.models) == 1:
            return one(self.models[0])
        out = one(self.models[0]) * self.weights[0]
        for model, weight in zip(self.models[1:], self.weights[1:]):
            out += one(model) * weight
        return out


def stylize(
    image: ImageLike,
    model: str | os.PathLike | Model | Blend,
    *,
    max_size: int | None = None,
    preserve_colors: bool = False,
    strength: float = 1.0,
    device: str = "cpu",
    backend: str = "auto",
    tile: int | None = None,
) -> ImageLike:
    """Stylise a PIL image or an RGB tensor ((3, H, W) or (N, 3, H, W) in [0, 1]) with a style model, or a
    :class:`Blend` of several (``"wave:0.6,udnie:0.4"``).

    The output has the input's size (after the optional ``max_size`` downscale). ``backend``: the inference
    path (:mod:`percepta.backends`; ``auto`` is the fastest here). ``tile``: run in feathered tiles of this
    many pixels with shared instance-norm statistics (:mod:`percepta.tiling`); ``None`` tiles images over
    :data:`~percepta.tiling.TILE_ABOVE` pixels, ``0`` never tiles.
    """
    tune_allocator()
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, not {strength}")
    if tile is not None and tile < 0:
        raise ValueError(f"tile must be >= 0, not {tile}")
    model = Blend.load(model, device, backend=backend)
    if model.task != "style":
        bad = next(m for m in model.models if m.task != "style")
        raise PerceptaError(f"{bad.name} is a {bad.task} model, not a style model")
    x = as_batch(image, max_size)
    pixels = x.shape[-2] * x.shape[-1]
    if tile is None:
        tile = TILE if pixels > TILE_ABOVE else 0
    tile = tile if tile and max(x.shape[-2:]) > tile else 0
    limit = MAX_OUTPUT_PIXELS if tile else MAX_INFERENCE_PIXELS
    if pixels > limit:
        how = "in tiles" if tile else "untiled; tiles allow more"
        raise ImageError(
            f"{x.shape[-1]}x{x.shape[-2]} is too large to stylise (limit {limit:,} pixels {how}); "
            "use max_size / --max-size"
        )
    y = model(x, tile)
    if preserve_colors:
        y = preserve_color(y, x)
    if strength < 1.0:
        y = strength * y + (1.0 - strength) * x
    return like_input(y, image)


# --- files and folders --------------------------------------------------------------------------------


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
    inputs: Iterable[str | os.PathLike], output: str | os.PathLike, overwrite: bool = False
) -> list[tuple[Path, Path]]:
    """(input, output) pairs: ``output`` itself for a single file input, else files inside folder ``output``
    that mirror each input folder's subfolders (an input file given by name goes to the top).

    Checked before any work: no output may be an input, two inputs may not share an output, and an
    existing output is an error unless ``overwrite``. Formats Pillow cannot write (GIF) become PNG.
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
    sources = {p.resolve() for p, _ in pairs}
    seen: dict[Path, Path] = {}
    for src, dst in pairs:
        key = dst.resolve()
        if key in sources:
            raise PerceptaError(f"{dst}: the output would overwrite an input; choose another output")
        if key in seen:
            raise PerceptaError(f"{seen[key]} and {src} would both be written to {dst}; give them separate runs")
        seen[key] = src
    for folder in dict.fromkeys(dst.parent for _, dst in pairs):  # fail now, not after the first image
        check_writable(folder / ".percepta-probe")
    existing = [dst for _, dst in pairs if dst.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise PerceptaError(f"{existing[0]}{more} already exists; pass --overwrite to replace")
    return pairs


def process_files(
    inputs: Iterable[str | os.PathLike],
    model: str | os.PathLike | Model,
    output: str | os.PathLike,
    transform: Callable[..., Image.Image],
    *,
    overwrite: bool = False,
    on_result: Callable[[FileResult], None] | None = None,
    load: Callable[..., Any] = load_model,
    batch: int = 1,
    **options: Any,
) -> list[FileResult]:
    """Apply ``transform(rgb, load(model), **options)`` (:func:`stylize`, ``upscale``) to image files or folders of
    them, writing into ``output``.

    Outputs are planned (and refused) by :func:`plan_outputs` before the model loads (on
    ``options["device"]``). A file that cannot be read, processed or written is reported in its
    :class:`FileResult` and the run goes on; ``on_result`` sees each result as it comes. Each input's EXIF
    orientation is applied and its alpha carried over (resized to the output by ``save_image``).
    ``seconds`` is the network's time (I/O excluded; a batch's time shared out among its images).

    ``batch`` > 1: consecutive images of one size (after ``max_size``) go through the network together, up
    to ``batch`` at a time -- what keeps a GPU busy (the CLI's default there); on a CPU one at a time is as
    fast. A batch that fails is retried image by image, so that each file gets its own result.
    """
    if batch < 1:
        raise ValueError(f"batch must be >= 1, not {batch}")
    pairs = plan_outputs(inputs, output, overwrite)
    loaded = load(model, options.get("device", "cpu"))
    results: list[FileResult] = []

    def done(result: FileResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    def one(src: Path, dst: Path) -> None:
        result = FileResult(src, dst)
        try:
            img = load_image(src)
            start = time.perf_counter()
            out = transform(img.rgb, loaded, **options)
            result.seconds = time.perf_counter() - start
            save_image(out, dst, img.alpha)
        except PerceptaError as exc:
            result.error = _error_for(src, exc)
        done(result)

    if batch == 1:
        for src, dst in pairs:
            one(src, dst)
        return results
    group: list[tuple[Path, Path, Any, Image.Image]] = []

    def flush() -> None:
        if not group:
            return
        start = time.perf_counter()
        try:
            outs = transform(torch.stack([to_tensor(rgb)[0] for *_, rgb in group]), loaded, **tensor_options)
        except PerceptaError:  # one image's problem (or the batch's size): find out image by image
            for src, dst, *_ in group:
                one(src, dst)
        else:
            share = (time.perf_counter() - start) / len(group)
            for (src, dst, img, _), out in zip(group, outs):
                result = FileResult(src, dst, share)
                try:
                    save_image(to_pil(out[None]), dst, img.alpha)
                except PerceptaError as exc:
                    result.error = _error_for(src, exc)
                done(result)
        group.clear()

    max_size = options.get("max_size")
    tensor_options = {**options, "max_size": None} if "max_size" in options else options
    for src, dst in pairs:
        try:
            img = load_image(src)
        except PerceptaError as exc:
            flush()  # results in input order
            done(FileResult(src, dst, error=_error_for(src, exc)))
            continue
        rgb = resize_long_side(img.rgb, max_size)  # as stylize resizes a PIL image: Lanczos
        if group and (rgb.size != group[0][3].size or len(group) == batch):
            flush()
        group.append((src, dst, img, rgb))
    flush()
    return results


def _error_for(src: Path, exc: Exception) -> str:
    return str(exc) if str(src) in str(exc) else f"{src}: {exc}"


def stylize_files(inputs: Iterable[str | os.PathLike], model: str | os.PathLike | Model, output: str | os.PathLike,
                  **options: Any) -> list[FileResult]:  # fmt: skip
    """Stylise image files (or folders of them) into ``output``; ``options`` are :func:`stylize`'s and
    :func:`process_files`'s."""
    return process_files(inputs, model, output, stylize, load=Blend.load, **options)
