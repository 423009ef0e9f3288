"""Inference: run a trained transformation network in one forward pass (paper section 4.1, "Speed").

:func:`stylize` takes PIL images or tensors and returns the same kind. Options beyond the paper:
``preserve_color`` (keep the input's colours, the style only in luminance, after Gatys et al. 2016
"Preserving color in neural artistic style transfer": the output's Y with the input's Cb and Cr) and
``strength`` (a linear blend with the input). :func:`stylize_files` handles files and folders for the CLI,
keeping each input's EXIF orientation (applied) and alpha channel.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import torch
from PIL import Image
from torch import Tensor

from .data import IMAGE_SUFFIXES
from .errors import ImageError, PerceptaError
from .image import load_image, save_image, to_pil, to_tensor
from .modelfile import Model, load_model
from .runtime import tune_allocator

#: Larger inputs are refused (ask for ``max_size``): the style network's activations would not fit.
MAX_INFERENCE_PIXELS = 16_000_000

ImageLike = TypeVar("ImageLike", Image.Image, Tensor)


def resize_to_max(img: Image.Image, max_size: int | None) -> Image.Image:
    """Downscale (never upscale) so that the longer side is at most ``max_size``."""
    if not max_size or max(img.size) <= max_size:
        return img
    factor = max_size / max(img.size)
    size = (max(1, round(img.width * factor)), max(1, round(img.height * factor)))
    return img.resize(size, Image.Resampling.LANCZOS)


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


@torch.inference_mode()
def run_network(model: Model, x: Tensor) -> Tensor:
    """One forward pass of ``model`` on (N, 3, H, W) in [0, 1], on the model's device."""
    device = next(model.net.parameters()).device
    return model.net(x.to(device)).cpu()


def stylize(image: ImageLike, model: str | os.PathLike | Model, *, max_size: int | None = None,
            preserve_colors: bool = False, strength: float = 1.0, device: str = "cpu") -> ImageLike:
    """Stylise a PIL image or an RGB tensor ((3, H, W) or (N, 3, H, W) in [0, 1]) with a style model.

    The output has the input's size (after the optional ``max_size`` downscale, PIL input only).
    """
    tune_allocator()
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, not {strength}")
    model = load_model(model, device)
    if model.task != "style":
        raise PerceptaError(f"{model.name} is a {model.task} model, not a style model")
    if isinstance(image, Image.Image):
        x = to_tensor(resize_to_max(image.convert("RGB"), max_size))
    else:
        x = image if image.dim() == 4 else image.unsqueeze(0)
    if x.shape[-2] * x.shape[-1] > MAX_INFERENCE_PIXELS:
        raise ImageError(f"{x.shape[-1]}x{x.shape[-2]} is too large to stylise in memory "
                         f"(limit {MAX_INFERENCE_PIXELS:,} pixels); use max_size / --max-size")
    y = run_network(model, x)
    if preserve_colors:
        y = preserve_color(y, x)
    if strength < 1.0:
        y = strength * y + (1.0 - strength) * x
    if isinstance(image, Image.Image):
        return to_pil(y)
    return y if image.dim() == 4 else y[0]


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, folders expanded to the images they contain (recursively)."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        else:
            files.append(path)
    if not files:
        raise PerceptaError("no input images")
    return files


def output_paths(inputs: list[Path], output: str | os.PathLike, suffix: str = "") -> list[Path]:
    """One output path per input: ``output`` itself for one file input, else files in folder ``output``."""
    out = Path(output)
    if len(inputs) == 1 and out.suffix and not out.is_dir():
        return [out]
    if out.suffix and not out.is_dir():
        raise PerceptaError(f"{out}: several inputs need an output folder, not a file name")
    ext = lambda p: p.suffix if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff") else ".png"  # noqa: E731
    return [out / f"{p.stem}{suffix}{ext(p)}" for p in inputs]


def process_files(inputs: Iterable[str | os.PathLike], model: str | os.PathLike | Model, output: str | os.PathLike,
                  transform: Callable[[Image.Image, Model], Image.Image], device: str = "cpu") -> list[tuple[Path, float]]:
    """Apply ``transform(rgb, model)`` to image files (or folders of them), writing into ``output``.

    Each input's EXIF orientation is applied and its alpha carried over (resized to the output by
    ``save_image``). Returns each output path with the seconds ``transform`` took (I/O excluded).
    """
    files = expand_inputs(inputs)
    targets = output_paths(files, output)
    loaded = load_model(model, device)
    done = []
    for src, dst in zip(files, targets):
        img = load_image(src)
        start = time.perf_counter()
        result = transform(img.rgb, loaded)
        done.append((dst, time.perf_counter() - start))
        save_image(result, dst, img.alpha)
    return done


def stylize_files(inputs: Iterable[str | os.PathLike], model: str | os.PathLike | Model,
                  output: str | os.PathLike, **options: Any) -> list[tuple[Path, float]]:
    """Stylise image files (or folders of them) into ``output``; ``options`` are :func:`stylize`'s."""
    return process_files(inputs, model, output, lambda rgb, m: stylize(rgb, m, **options),
                         str(options.get("device", "cpu")))
