"""percepta: perceptual losses for real-time style transfer and super-resolution.

Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution",
ECCV 2016. Public API::

    import percepta
    out = percepta.stylize(pil_image, "wave")               # bundled model name or file path
    model = percepta.load_model("wave")                      # Model(net, meta, path)
    result = percepta.optimize(content, style, iters=100)    # Gatys et al.'s baseline (tensors)
    percepta.train_style(TrainOptions(...))                  # see percepta.train.TrainOptions
"""

__version__ = "0.1.0"

from .errors import ImageError, ModelFileError, PerceptaError, WeightsError  # noqa: E402
from .infer import stylize  # noqa: E402
from .modelfile import Model, load_model  # noqa: E402
from .optimize import reconstruct, stylize_by_optimization as optimize  # noqa: E402
from .train import TrainOptions, train  # noqa: E402


def train_style(options: TrainOptions, resume: str | None = None):  # noqa: ANN201
    """Train a style transfer network (``options.task == "style"``); returns the model file's path."""
    if options.task != "style":
        raise ValueError("train_style needs TrainOptions(task='style', ...)")
    return train(options, resume)


__all__ = ["ImageError", "Model", "ModelFileError", "PerceptaError", "TrainOptions", "WeightsError",
           "load_model", "optimize", "reconstruct", "stylize", "train", "train_style", "__version__"]
