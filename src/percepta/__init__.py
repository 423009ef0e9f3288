"""percepta: perceptual losses for real-time style transfer and super-resolution.

Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution",
ECCV 2016. Public API::

    import percepta
    out = percepta.stylize(pil_image, "wave")               # bundled model name or file path
    model = percepta.load_model("wave")                      # Model(net, meta, path)
    result = percepta.optimize(content, style, iters=100)    # Gatys et al.'s baseline (tensors)
    big = percepta.upscale(pil_image, "sr_x4_feat")          # super-resolution x4 (or sr_x8_feat)
    report = percepta.evaluate_sr(["photo.jpg"], 4, ["sr_x4_pixel"])  # PSNR / SSIM / relu2_2 vs bicubic
    scores = percepta.evaluate_style(["out.jpg"], ["photo.jpg"], "painting.jpg")  # content loss, style ratio
    percepta.export_model(percepta.load_model("wave"), "onnx", "wave.onnx")  # dynamic H x W, runs in onnxruntime
    percepta.train_style("painting.jpg")          # a model of your painting in ~10 CPU minutes (quick recipe)
    percepta.train_style(TrainOptions("style", "photos/", "mine.safetensors", style="painting.jpg"))  # the paper's

Each name is imported on first use (PEP 562), so ``import percepta`` and the command line's ``--help``
do not pay for torch. ``stylize`` and ``upscale`` take PIL images, numpy arrays or torch tensors and return
the same kind; they run each model's own graph on ONNX Runtime and need no torch (the light install);
``optimize``, the evaluations, ``export_model`` and training need ``percepta[train]``. The modules:
docs/architecture.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import ImageError, ModelFileError, PerceptaError, WeightsError

#: public name -> (module, attribute)
_API = {
    "stylize": ("infer", "stylize"), "upscale": ("upscaling", "upscale"), "degrade": ("data", "degrade"),
    "optimize": ("optimization", "stylize_by_optimization"), "reconstruct": ("optimization", "reconstruct"),
    "load_model": ("modelfile", "load_model"), "Model": ("modelfile", "Model"), "NetConfig": ("arch", "NetConfig"),
    "evaluate_sr": ("evaluate", "evaluate_sr"), "evaluate_style": ("evaluate", "evaluate_style"),
    "LossWeights": ("hyperparams", "LossWeights"),
    "TrainOptions": ("train.options", "TrainOptions"), "train_style": ("train.painting", "train_style"),
    "train_sr": ("train.loop", "train_sr"), "export_model": ("export", "export_model"),
}  # fmt: skip

__all__ = [
    "ImageError", "LossWeights", "Model", "ModelFileError", "NetConfig", "PerceptaError", "TrainOptions",
    "WeightsError", "__version__", "degrade", "evaluate_sr", "evaluate_style", "export_model", "load_model", "optimize",
    "reconstruct", "stylize", "train_sr", "train_style", "upscale",
]  # fmt: skip

if TYPE_CHECKING:
    from .arch import NetConfig
    from .data import degrade
    from .evaluate import evaluate_sr, evaluate_style
    from .export import export_model
    from .hyperparams import LossWeights
    from .infer import stylize
    from .modelfile import Model, load_model
    from .optimization import reconstruct
    from .optimization import stylize_by_optimization as optimize
    from .train.loop import train_sr
    from .train.options import TrainOptions
    from .train.painting import train_style
    from .upscaling import upscale


def __getattr__(name: str) -> Any:
    if name in _API:
        module, attribute = _API[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attribute)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
