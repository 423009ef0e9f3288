"""Training options: every hyper-parameter of a run, with the paper's defaults (sections 4.1 and 4.2).

The network and the loss are their own objects, built by keyword: a :class:`~percepta.arch.NetConfig`
(whose fields are the flagged architecture deviations) and a :class:`~percepta.losses.LossWeights`. Both
default to the paper's for the task; the numbers and their sources are in :mod:`percepta.hyperparams`::

    TrainOptions("style", "photos/", "wave.safetensors", style="wave.jpg",
                 net=NetConfig.style(norm="instance", upsample="resize"), loss=LossWeights(style=5e-5))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from .. import hyperparams as hp
from ..arch import EDGE_MARGIN, NetConfig
from ..hyperparams import LossWeights
from ..runtime import AMP_MODES

Task = Literal["style", "sr"]


@dataclass
class TrainOptions:
    """One training run. ``None`` fields take the task's paper default in ``__post_init__``."""

    task: Task
    data: str  # folder of training photos, searched recursively
    output: str  # the model file to write (.safetensors)
    style: str | None = None  # style image (task "style")
    #: further style images: iteration i's style target is painting i mod K of (style, *more_styles), a base
    #: model across several paintings that warm-starts fast to a new one (``--recipe quick``; not in the paper)
    more_styles: Sequence[str] = ()
    net: NetConfig | None = None  # default: NetConfig.style() or NetConfig.super_resolution(4)
    loss: LossWeights | None = None  # default: LossWeights() or LossWeights.super_resolution("feat")
    size: int | None = None  # crop: style 256 (paper), SR high-resolution patch 288 (paper)
    style_size: int | None = hp.STYLE_IMAGE_SIZE  # longer side of the style image; None: as loaded
    #: style: each training photo's shorter side is resized to this once, then cropped to ``size``; None: to
    #: ``size`` (the paper's 256 x 256 COCO photos are whole scenes; a larger value shows scenes at a larger
    #: scale in small, cheap crops: not in the paper)
    photo_size: int | None = None
    #: style, scale augmentation: each crop shows its photo at a random shorter side between this and
    #: ``photo_size`` (or ``size``); None: always at ``photo_size`` (the paper's one scale; not in the paper)
    photo_size_min: int | None = None
    batch_size: int = hp.BATCH_SIZE
    lr: float = hp.LEARNING_RATE
    #: ``linear``: the learning rate falls linearly to zero over the run, its iterations or its time budget,
    #: whichever ends it first (budgeted training: Li, Yumer & Ramanan, ICLR 2020); the paper keeps it constant
    lr_decay: Literal["none", "linear"] = "none"
    iters: int | None = None  # style 40,000 (paper), SR 200,000 (paper)
    time_budget: float | None = None  # stop and save the model after this many seconds (resumed runs included)
    seed: int = 0
    exclude: Sequence[str] = ()  # photo file names kept out of training (held-out)
    checkpoint: str | None = None  # default: <output>.ckpt
    checkpoint_every: int = 100
    logs: str | None = None  # folder of losses.csv and validation images; default: OUTPUT's name + "-training"
    val_every: int = 500
    val_images: Sequence[str] = ()
    init_from: str | None = None  # warm start from a model file with the same architecture
    teacher: str | None = None  # distillation: the content (and pixel) target is this style model's output
    teacher_margin: int = EDGE_MARGIN  # the teacher runs behind this reflection margin (its edge lines untaught)
    half: bool = False  # store the final model's weights as fp16
    margin: int = 0  # the saved model runs behind this reflection margin (NetConfig.margin; weights trained without)
    amp: Literal["auto", "off", "bf16", "fp16"] = "off"  # mixed precision (fp16 with a gradient scaler); paper: fp32
    overwrite: bool = False  # replace an existing model file at ``output``
    device: str = "cpu"
    progress: bool = True
    extra_meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in ("style", "sr"):
            raise ValueError(f"task must be 'style' or 'sr', not {self.task!r}")
        style = self.task == "style"
        if self.net is None:
            self.net = NetConfig.style() if style else NetConfig.super_resolution(hp.SR_SCALES[0])
        elif isinstance(self.net, dict):
            self.net = NetConfig(**self.net)
        if self.loss is None:
            self.loss = LossWeights() if style else LossWeights.super_resolution("feat")
        elif isinstance(self.loss, dict):
            self.loss = LossWeights(**self.loss)
        if self.lr_decay not in hp.LR_DECAYS:
            raise ValueError(f"lr_decay must be one of {', '.join(hp.LR_DECAYS)}, not {self.lr_decay!r}")
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {', '.join(AMP_MODES)}, not {self.amp!r}")
        if self.teacher and self.task != "style":
            raise ValueError("a teacher model distils style networks only")
        if self.net.task != self.task:
            raise ValueError(f"a {self.task} run needs a {self.task} network, not {self.net.task}")
        if self.size is None:
            self.size = hp.STYLE_CROP if style else hp.SR_PATCH
        from ..limits import MAX_STYLE_SIZE, MAX_TRAIN_SIZE

        if not 1 <= self.size <= MAX_TRAIN_SIZE:
            raise ValueError(f"size (the training crop) must be between 1 and {MAX_TRAIN_SIZE} px, not {self.size}")
        if self.photo_size is not None and not self.size <= self.photo_size <= MAX_TRAIN_SIZE:
            raise ValueError(f"photo size must be between the crop ({self.size} px) and {MAX_TRAIN_SIZE} px, "
                             f"not {self.photo_size}")  # fmt: skip
        if self.photo_size_min is not None and not self.size <= self.photo_size_min <= (self.photo_size or self.size):
            raise ValueError(f"the smallest photo size must be between the crop ({self.size} px) and the photo size "
                             f"({self.photo_size or self.size} px), not {self.photo_size_min}")  # fmt: skip
        if self.style_size is not None and not 1 <= self.style_size <= MAX_STYLE_SIZE:
            raise ValueError(f"style size must be between 1 and {MAX_STYLE_SIZE} px, not {self.style_size}")
        if self.iters is None:
            self.iters = hp.STYLE_ITERATIONS if style else hp.SR_ITERATIONS
        self.exclude, self.val_images = tuple(self.exclude), tuple(self.val_images)
        self.more_styles = tuple(self.more_styles)

    @property
    def scale(self) -> int:
        """Super-resolution factor (1 for style transfer)."""
        return self.net.scale

    @property
    def style_images(self) -> tuple[str, ...]:
        """Every style image of the run, the one given first."""
        return (self.style, *self.more_styles) if self.style else tuple(self.more_styles)

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.checkpoint) if self.checkpoint else Path(self.output).with_suffix(".ckpt")

    @property
    def log_dir(self) -> Path:
        if self.logs:
            return Path(self.logs)
        out = Path(self.output)
        return out.with_name(out.name.split(".")[0] + "-training")

    def to_dict(self) -> dict[str, Any]:
        """The options as plain data (``net`` and ``loss`` nested), as checkpoints and model files store them."""
        return {k: v for k, v in asdict(self).items() if k not in ("progress", "extra_meta")}

    @classmethod
    def stored_in(cls, meta: dict[str, Any]) -> TrainOptions | None:
        """The options a model file's metadata records (either layout), or None when absent or unusable: the
        one reader of ``meta["options"]`` (model cards, Fig. 5's objective)."""
        stored = meta.get("options")
        if not isinstance(stored, dict):
            return None
        try:
            return cls.from_dict(stored)
        except (TypeError, ValueError, KeyError):
            return None

    @classmethod
    def from_dict(cls, stored: dict[str, Any], **overrides: Any) -> TrainOptions:
        """Options from :meth:`to_dict`'s data, or from the flat layout of percepta's first model files."""
        stored = dict(stored)
        if "net" not in stored:
            stored = _from_flat(stored)
        known = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in stored.items() if k in known}, **overrides})


def _from_flat(old: dict[str, Any]) -> dict[str, Any]:
    """The network and loss fields stored flat beside the others: the first model files' layout, and the command
    line's (``percepta train``: ``--norm``, ``--style-weight``, ...)."""
    net_keys = dict(
        norm=old.get("norm", "batch"), upsample=old.get("upsample", "transpose"), width=old.get("width", 1.0)
    )
    layers = tuple(old.get("content_layers", hp.CONTENT_LAYERS))
    if old.get("task") == "sr":
        net = NetConfig.super_resolution(old.get("scale", 4), skip=old.get("skip", "none"), **net_keys)
        loss = LossWeights.super_resolution(
            old.get("sr_loss", "feat"),
            content=old.get("content_weight", hp.CONTENT_WEIGHT),
            tv=old.get("tv_weight", hp.TV_WEIGHT),
            content_layers=layers,
        )
    else:
        net = NetConfig.style(blocks=old.get("blocks", hp.STYLE_BLOCKS), **net_keys)
        loss = LossWeights(
            content=old.get("content_weight", hp.CONTENT_WEIGHT),
            style=old.get("style_weight", hp.STYLE_WEIGHT),
            tv=old.get("tv_weight", hp.TV_WEIGHT),
            content_layers=layers,
            style_layers=tuple(old.get("style_layers", hp.STYLE_LAYERS)),
            gram_reduction=old.get("gram_reduction", "frobenius"),
            style_octaves=old.get("style_octaves") or 1,
            pixel=old.get("pixel_weight", 0.0),
        )
    return {**old, "net": net, "loss": loss}
