"""Inference: run a trained transformation network in one forward pass (paper section 4.1, "Speed").

:func:`stylize` takes a PIL image, a numpy array or a torch tensor and returns the same kind. The default
path needs no torch: each model's own ONNX graph on ONNX Runtime (:mod:`percepta.graph`); the PyTorch
backends (:mod:`percepta.backends`) run where asked for (:func:`backend_for`). Options beyond the paper:
``preserve_color`` (keep the input's colours, the style only in luminance, after Gatys et al. 2016
"Preserving color in neural artistic style transfer": the output's Y with the input's Cb and Cr) and
``strength`` (a linear blend with the input). Files and folders go through
:func:`percepta.folders.process_files` (:func:`stylize_files`).
"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from .errors import ImageError, PerceptaError
from .folders import FileResult, process_files
from .graph import Graph
from .image import (
    LANCZOS,
    from_array,
    resize_array,
    resize_long_side,
    shrink_array,
    to_array,
)
from .limits import MAX_INFERENCE_PIXELS, MAX_OUTPUT_PIXELS, STYLE_SCALES  # percepta.limits holds every limit
from .modelfile import Model, load_graph, load_model
from .runtime import tune_allocator
from .tiling import OVERLAP, STATS_SIZE, TILE, TILE_ABOVE, run_tiled

#: the smallest tile side (``--tile``): smaller tiles would be mostly overlap
MIN_TILE = 32
#: ``--backend``: ``onnx`` is the model's graph on ONNX Runtime (no torch); the others are PyTorch's
BACKENDS = ("auto", "onnx", "eager", "compile", "fp16")

ImageLike = TypeVar("ImageLike", Image.Image, np.ndarray, Any)
Array = np.ndarray


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def _has_torch() -> bool:
    from importlib.util import find_spec

    return find_spec("torch") is not None


def backend_for(backend: str = "auto", device: str = "cpu") -> str:
    """The backend ``backend`` stands for on ``device``: ``auto`` is ``onnx`` (ONNX Runtime, no torch) except on
    a CUDA device where torch sees one (``fp16``); the PyTorch backends need torch (``percepta[train]``)."""
    if backend not in BACKENDS:
        raise PerceptaError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if backend == "auto":
        if str(device).startswith("cuda") and _has_torch():
            import torch

            return "fp16" if torch.cuda.is_available() else "onnx"
        return "onnx"
    if backend != "onnx" and not _has_torch():
        raise PerceptaError(f"--backend {backend} runs in PyTorch, which is not installed: "
                            "pip install 'percepta[train]', or use the default backend")  # fmt: skip
    return backend


def load_for(spec: str | os.PathLike | Model, device: str = "cpu", backend: str = "auto") -> Model:
    """A model ready for ``backend`` on ``device``: its graph for ``onnx``, its PyTorch network otherwise."""
    if not isinstance(spec, Model) and Path(str(spec)).suffix.lower() in (".pt", ".ts"):
        return load_model(spec)  # a TorchScript export runs in torch, as itself
    if backend_for(backend, device) == "onnx":
        if isinstance(spec, Model) and not isinstance(spec.net, Graph) and getattr(spec.net, "kind", None) is None:
            return Model(_graph_of(spec), spec.meta, spec.path)  # a loaded PyTorch network: its graph, once
        return load_graph(spec, device)
    if isinstance(spec, Model) and isinstance(spec.net, Graph):
        raise PerceptaError(f"{spec.name} is loaded as an ONNX graph; the PyTorch backends need its .safetensors file")
    from .runtime import check_device

    return load_model(spec, check_device(str(device)))


def as_batch(image: Any, max_size: int | None = None) -> Array:
    """A PIL image, or an RGB array or tensor ((3, H, W) or (N, 3, H, W) in [0, 1]), as a float32 batch
    (N, 3, H, W), downscaled first (never up) so that its longer side is at most ``max_size`` (PIL: Lanczos;
    arrays: antialiased bilinear, the same rounding)."""
    if isinstance(image, Image.Image):
        return to_array(resize_long_side(image.convert("RGB"), max_size))
    x = image.detach().float().cpu().numpy() if _is_tensor(image) else np.asarray(image, dtype=np.float32)
    if x.ndim not in (3, 4) or x.shape[-3] != 3:
        raise ValueError(f"expected an RGB array (3, H, W) or (N, 3, H, W), got {tuple(x.shape)}")
    return shrink_array(x if x.ndim == 4 else x[None], max_size).astype(np.float32, copy=False)


def like_input(batch: Array, image: Any) -> Any:
    """``batch`` back in the kind :func:`as_batch` was given: a PIL image, or an array or tensor of its rank."""
    if isinstance(image, Image.Image):
        return from_array(batch)
    if _is_tensor(image):
        import torch

        batch = torch.from_numpy(np.ascontiguousarray(batch))
    return batch if image.ndim == 4 else batch[0]


def detail_upsample(low: Array, photo: Array, detail: float = 1.0) -> Array:
    """A network's output computed at low resolution, brought back to the photo's size without losing its edges:
    the output upscaled (Lanczos: its strokes keep their shape, only larger) plus the photo's own fine detail,
    the luminance lost by shrinking it to the network's size (its edges and small structures), ``detail``
    times. Measured on chicago at 510 px against He & Sun's guided filter, which fits the output to the photo
    in small windows and so smooths away every stroke the photo does not explain (a blurred photo; see
    docs/style_scale.md)."""
    h, w = photo.shape[-2:]
    lum = 0.299 * photo[:, 0:1] + 0.587 * photo[:, 1:2] + 0.114 * photo[:, 2:3]
    lost = lum - resize_array(resize_array(lum, *low.shape[-2:]), h, w, LANCZOS)
    return np.clip(resize_array(low, h, w, LANCZOS) + np.float32(detail) * lost, 0.0, 1.0).astype(np.float32)


def _at_style_scale(model: Blend, x: Array, tile: int, scale: float) -> Array:
    """``model`` on ``x`` with motifs ``scale`` times the size it paints at: the network runs on the photo resized
    by 1 / ``scale`` and the result comes back to the photo's size (:func:`detail_upsample` when it ran smaller,
    an antialiased shrink when it ran larger)."""
    h, w = x.shape[-2:]
    small_h, small_w = max(1, round(h / scale)), max(1, round(w / scale))
    y = model(resize_array(x, small_h, small_w), tile if tile and max(small_h, small_w) > tile else 0)
    return detail_upsample(y, x) if scale > 1 else resize_array(y, h, w)


def keep_colors(styled: Array, original: Array) -> Array:
    """Luminance-only transfer: the styled image's Y (ITU-R BT.601) with the original's chroma."""

    def to_ycbcr(x: Array) -> tuple[Array, Array, Array]:
        r, g, b = x[:, 0], x[:, 1], x[:, 2]
        y = 0.299 * r + 0.587 * g + 0.114 * b
        return y, (b - y) * 0.564, (r - y) * 0.713

    y, _, _ = to_ycbcr(styled)
    _, cb, cr = to_ycbcr(original)
    rgb = np.stack([y + 1.403 * cr, y - 0.344 * cb - 0.714 * cr, y + 1.773 * cb], 1)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32, copy=False)


_graphs: weakref.WeakKeyDictionary[Any, Graph] = weakref.WeakKeyDictionary()


def _graph_of(model: Model) -> Graph:
    """A PyTorch model's graph, exported once per network (``--backend onnx`` on a loaded network)."""
    if model.net not in _graphs:
        _graphs[model.net] = load_graph(model).net
    return _graphs[model.net]


def _finite(y: Array, model: Model) -> Array:
    if not np.isfinite(y).all():
        raise PerceptaError(f"{model.name} produced NaN or infinite values; the model is broken")
    return y


def run_network(model: Model, x: Any, backend: str = "auto") -> Any:
    """One forward pass of ``model`` on (N, 3, H, W) in [0, 1] (an array or a tensor; the result is the same
    kind, on the CPU): its graph on ONNX Runtime, or with a PyTorch network the ``backend`` asked for."""
    arr = as_batch(x)
    if isinstance(model.net, Graph):
        y = model.net(arr)
    elif backend in ("auto", "onnx") and getattr(model.net, "kind", None) != "torchscript":
        y = _graph_of(model)(arr)  # a padded-input graph: exact at every size
    else:
        from .backends import runner

        y = runner(model, "eager" if backend in ("auto", "onnx") else backend)(arr)
    return like_input(_finite(y, model), x)


def run_style_tiled(model: Model, x: Any, tile: int, overlap: int = OVERLAP, backend: str = "auto") -> Any:
    """A style network on ``x`` in feathered tiles, every instance-norm layer using statistics of the whole
    image downscaled to :data:`~percepta.tiling.STATS_SIZE` (:mod:`percepta.tiling`); bounded memory for any
    size. On the light path the model's tiles graph takes the statistics (:meth:`Graph.frozen`); a PyTorch
    network gets a copy with them frozen in (:func:`percepta.backends.frozen_statistics`)."""
    arr = as_batch(x)
    align = model.config.down_factor
    overlap = min(overlap, tile // 4)  # small tiles (tests, tiny machines): a quarter of the tile
    if model.config.norm != "instance":
        y = run_tiled(lambda t: run_network(model, t, backend), arr, tile, overlap, align)
        return like_input(y, x)
    net = model.net
    if getattr(net, "kind", None) == "torchscript" or (isinstance(net, Graph) and not net.has_tiles):
        raise ImageError(
            f"{arr.shape[-1]}x{arr.shape[-2]} needs tiling, which an exported instance-norm graph cannot do "
            "without seams; use the .safetensors model or a smaller --max-size"
        )
    if not isinstance(net, Graph) and backend in ("auto", "onnx"):
        net = _graph_of(model)  # a loaded PyTorch network on the light path: its graphs, exported once
    outputs = []
    for image in np.split(arr, len(arr)):
        small = shrink_array(image, STATS_SIZE)
        if isinstance(net, Graph):
            runner = net.frozen(net.statistics(small))
        else:
            import torch

            from .backends import frozen_statistics, one_off_runner

            frozen = frozen_statistics(net, torch.from_numpy(image), stats_size=STATS_SIZE)
            runner = one_off_runner(frozen, backend)
        outputs.append(_finite(run_tiled(runner, image, tile, overlap, align), model))
    return like_input(np.concatenate(outputs), x)


@dataclass
class Blend:
    """Several style models at once (``wave:0.6,udnie:0.4``; weights default to 1 and are normalised).

    ``mode="outputs"`` (the default) blends the models' outputs, which works for any models.
    ``mode="weights"`` runs one network whose weights are the weighted mean of theirs (mixed in PyTorch, so
    it needs ``percepta[train]``; the mixed network's graph is then exported once). Measured by
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
            self._mixed = self._mix()

    def _mix(self) -> Model:
        if len({m.config for m in self.models}) > 1:
            raise PerceptaError("a weights blend needs models of one architecture; use the outputs blend")
        if not _has_torch():
            raise PerceptaError("a weights blend mixes PyTorch weights: pip install 'percepta[train]', "
                                "or use the outputs blend")  # fmt: skip
        from .nets import TransformNet

        nets = []
        for m in self.models:
            if isinstance(m.net, Graph) and m.path is not None and m.path.suffix.lower() == ".safetensors":
                nets.append(load_model(m.path).net)
            elif isinstance(m.net, TransformNet):
                nets.append(m.net)
            else:
                raise PerceptaError(f"{m.name}: a weights blend needs .safetensors models (an exported graph has no "
                                    "weights to mix); use the outputs blend")  # fmt: skip
        states = [n.state_dict() for n in nets]
        mixed = {k: sum(w * s[k] for w, s in zip(self.weights, states)) if v.is_floating_point() else v
                 for k, v in states[0].items()}  # fmt: skip
        net = TransformNet(self.models[0].config)
        net.load_state_dict(mixed)
        device = next(nets[0].parameters()).device
        return Model(net.to(device).eval(), {"name": self.name})  # run_network runs its graph (exported once)

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
        """A model name or file, or ``name[:weight],name[:weight],...``; ``backend``: see :func:`backend_for`."""
        if isinstance(spec, Blend):
            return spec
        if isinstance(spec, Model) or _is_one_model(spec):
            return cls([load_for(spec, device, backend)], [1.0], mode, backend)
        models, weights = [], []
        for part in str(spec).split(","):
            name, _, weight = part.strip().rpartition(":") if ":" in part else (part.strip(), "", "1")
            try:
                value = float(weight)
            except ValueError:
                raise PerceptaError(
                    f"bad blend {spec!r}: {weight!r} is not a weight (use name:0.5,other:0.5)"
                ) from None
            if not (value > 0 and math.isfinite(value)):
                raise PerceptaError(f"bad blend {spec!r}: weights must be positive and finite, not {weight}")
            models.append(load_for(name, device, backend))
            weights.append(value)
        top = max(weights)  # normalised in two steps, so that huge weights cannot overflow the sum
        weights = [w / top for w in weights]
        return cls(models, [w / sum(weights) for w in weights], mode, backend)

    def __call__(self, x: Array, tile: int = 0) -> Array:
        """The blend on ``x``; with ``tile`` > 0, each network runs in tiles (:func:`run_style_tiled`)."""

        def one(model: Model) -> Array:
            if tile:
                return run_style_tiled(model, x, tile, backend=self.backend)
            return run_network(model, x, self.backend)

        if self._mixed is not None:
            return one(self._mixed)
        if len(self.models) == 1:
            return one(self.models[0])
        out = one(self.models[0]) * np.float32(self.weights[0])
        for model, weight in zip(self.models[1:], self.weights[1:]):
            out += one(model) * np.float32(weight)
        return out


def _is_one_model(spec: str | os.PathLike) -> bool:
    """Whether a ``-m`` value names one model (a file, or a name without blend syntax) rather than a blend."""
    text = str(spec)
    if "," not in text and ":" not in text:
        return True
    try:
        return Path(spec).is_file()
    except OSError:  # a name too long for the file system is a blend spec
        return False


def stylize(
    image: ImageLike,
    model: str | os.PathLike | Model | Blend,
    *,
    max_size: int | None = None,
    preserve_color: bool = False,
    strength: float = 1.0,
    device: str = "cpu",
    backend: str = "auto",
    tile: int | None = None,
    style_scale: float = 1.0,
    preserve_colors: bool | None = None,
) -> ImageLike:
    """Stylise a PIL image or an RGB array or tensor ((3, H, W) or (N, 3, H, W) in [0, 1]) with a style model,
    or a :class:`Blend` of several (``"wave:0.6,udnie:0.4"``).

    The output has the input's size (after the optional ``max_size`` downscale) and kind. ``backend``: the
    inference path (:func:`backend_for`; ``auto`` is the model's graph on ONNX Runtime). ``tile``: run in
    feathered tiles of this many pixels with shared instance-norm statistics (:mod:`percepta.tiling`);
    ``None`` tiles images over :data:`~percepta.tiling.TILE_ABOVE` pixels, ``0`` never tiles.
    ``style_scale``: the size of the painting's motifs, relative to what the model paints (a flagged addition;
    the paper fixes it by the painting's size in training): 2 runs the network at half the size and brings the
    result back with :func:`detail_upsample` (larger motifs, and about 4x faster), 0.5 at twice the size.
    ``preserve_colors`` is the old spelling of ``preserve_color`` (deprecated, kept for one release).
    """
    if preserve_colors is not None:
        import warnings

        warnings.warn("stylize(preserve_colors=...) is now preserve_color=...", DeprecationWarning, stacklevel=2)
        preserve_color = preserve_colors
    tune_allocator()
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, not {strength}")
    if tile is not None and (tile < 0 or 0 < tile < MIN_TILE):
        raise ValueError(f"tile must be 0 (no tiles) or at least {MIN_TILE} px, not {tile}")
    if not STYLE_SCALES[0] <= style_scale <= STYLE_SCALES[1]:
        raise ValueError(f"style scale must be between {STYLE_SCALES[0]} and {STYLE_SCALES[1]}, not {style_scale}")
    model = Blend.load(model, device, backend=backend)
    if model.task != "style":
        bad = next(m for m in model.models if m.task != "style")
        raise PerceptaError(f"{bad.name} is a {bad.task} model, not a style model")
    x = as_batch(image, max_size)
    pixels = round(x.shape[-2] * x.shape[-1] / min(style_scale, 1.0) ** 2)  # what the network sees
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
    y = model(x, tile) if style_scale == 1.0 else _at_style_scale(model, x, tile, style_scale)
    if preserve_color:
        y = keep_colors(y, x)
    if strength < 1.0:
        y = np.float32(strength) * y + np.float32(1.0 - strength) * x
    return like_input(y, image)


def stylize_files(inputs: Iterable[str | os.PathLike], model: str | os.PathLike | Model, output: str | os.PathLike,
                  **options: Any) -> list[FileResult]:  # fmt: skip
    """Stylise image files (or folders of them) into ``output``; ``options`` are :func:`stylize`'s and
    :func:`process_files`'s."""
    return process_files(inputs, model, output, stylize, load=Blend.load, **options)
