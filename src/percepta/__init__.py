"""percepta: perceptual losses for real-time style transfer and super-resolution.

Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution",
ECCV 2016. Public API::

    import percepta
    out = percepta.stylize(pil_image, "wave")               # bundled model name or file path
    model = percepta.load_model("wave")                      # Model(net, meta, path)
    result = percepta.optimize(content, style, iters=100)    # Gatys et al.'s baseline (tensors)
    big = percepta.upscale(pil_image, "sr_x4_feat")          # super-resolution x4 (or sr_x8_feat)
    report = percepta.evaluate_sr(["photo.jpg"], 4, ["sr_x4_pixel"])  # PSNR / SSIM / relu2_2 vs bicubic
    percepta.train_style(TrainOptions(...))                  # see percepta.train.TrainOptions

``percepta.upscale`` is the function; the module of the same name is ``percepta.upscale`` in
``sys.modules`` (``from percepta.upscale import upscale_files``).
"""

__version__ = "0.1.0"

from .errors import ImageError, ModelFileError, PerceptaError, WeightsError  # noqa: E402
from .data import degrade  # noqa: E402
from .infer import stylize  # noqa: E402
from .metrics import evaluate_sr  # noqa: E402
from .modelfile import Model, load_model  # noqa: E402
from .optimize import reconstruct, stylize_by_optimization as optimize  # noqa: E402
from .train import TrainOptions, train  # noqa: E402
from .upscale import upscale  # noqa: E402  (the function shadows the module attribute, by design)


def train_style(options: TrainOptions, resume: str | None = None):  # noqa: ANN201
    """Train a style transfer network (``options.task == "style"``); returns the model file's path."""
    if options.task != "style":
        raise ValueError("train_style needs TrainOptions(task='style', ...)")
    return train(options, resume)


__all__ = ["ImageError", "Model", "ModelFileError", "PerceptaError", "TrainOptions", "WeightsError", "degrade",
           "evaluate_sr", "load_model", "optimize", "reconstruct", "stylize", "train", "train_style", "upscale",
           "__version__"]
