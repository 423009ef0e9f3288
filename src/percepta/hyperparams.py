"""Every number of the paper in one place, each with its source; the rest of percepta imports them from here.

Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution", ECCV 2016
("the paper"; "supp." is its supplementary material). Where the paper gives no number, the value is ours
and says where it comes from. This module imports nothing heavy, so the command line can show these
defaults without loading torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

GramReduction = Literal["frobenius", "mean"]

# --- loss network phi (section 3) -----------------------------------------------------------------------

#: VGG-16's ReLU outputs by Caffe name -> index in torchvision's ``vgg16().features`` layout (section 3).
VGG16_TAPS: dict[str, int] = {
    "relu1_1": 1, "relu1_2": 3,
    "relu2_1": 6, "relu2_2": 8,
    "relu3_1": 11, "relu3_2": 13, "relu3_3": 15,
    "relu4_1": 18, "relu4_2": 20, "relu4_3": 22,
    "relu5_1": 25, "relu5_2": 27, "relu5_3": 29,
}  # fmt: skip

#: Section 4.1 (style transfer) and 4.2 (super-resolution): feature reconstruction loss at relu2_2.
CONTENT_LAYERS: tuple[str, ...] = ("relu2_2",)
#: Section 4.1: style reconstruction loss at relu1_2, relu2_2, relu3_3 and relu4_3.
STYLE_LAYERS: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")

# --- loss weights (section 4.1) -------------------------------------------------------------------------

#: lambda_c. The paper gives no value; the authors' released models use 1 (shared/data/README.md).
CONTENT_WEIGHT = 1.0
#: lambda_s, for eq. 4's squared Frobenius norm. The paper gives no value. This one matches the balance of
#: the authors' released models (content 1, style 5 on the mean-of-Gram-entries form): measured on their
#: wave / starry_night / composition_vii outputs for chicago.jpg, 5 x mean = 1.9-2.5e-4 x Frobenius.
STYLE_WEIGHT = 2.5e-4
#: lambda_TV. The paper cross-validates it "between 1e-6 and 1e-4" on a sum-based TV; ours is the mean of
#: squared neighbour differences on the 0..255 scale (see ``losses.total_variation``), where weight 1
#: at 256 x 256 is about 5e-6 of the sum form: inside the paper's range.
TV_WEIGHT = 1.0

# --- training (sections 4.1 and 4.2) --------------------------------------------------------------------

#: Adam's learning rate, both tasks.
LEARNING_RATE = 1e-3
#: The paper keeps it constant ("none"); "linear" (``--lr-decay``, a deviation) lowers it to zero over the run.
LR_DECAYS = ("none", "linear")
#: Batch size, both tasks.
BATCH_SIZE = 4
#: Section 4.1: "we resize each of the 80k training images to 256 x 256".
STYLE_CROP = 256
#: Section 4.1: "40,000 iterations", roughly two epochs over COCO.
STYLE_ITERATIONS = 40_000
#: Longer side of the style image. Not in the paper; the authors' code's usual value (shared/data/README.md).
STYLE_IMAGE_SIZE = 512
#: Supp. Table 1: five residual blocks in the style network.
STYLE_BLOCKS = 5
#: Section 4.2: "288 x 288 patches from 10k images from the MS-COCO training set".
SR_PATCH = 288
#: Section 4.2: "200k iterations".
SR_ITERATIONS = 200_000
#: Section 4.2: low-resolution inputs by "blurring with a Gaussian kernel of width sigma = 1.0 and
#: downsampling with bicubic interpolation".
SR_BLUR_SIGMA = 1.0
#: Section 4.2: factors 4 and 8.
SR_SCALES: tuple[int, ...] = (4, 8)

# --- experiments (section 4.1) --------------------------------------------------------------------------

#: Table 1: image sizes and L-BFGS iteration counts of the optimisation baseline.
SPEED_SIZES: tuple[int, ...] = (256, 512, 1024)
SPEED_ITERATIONS: tuple[int, ...] = (100, 300, 500)
#: Fig. 5 / section 4.1: the networks reach the loss of "about 50 to 100 iterations" of optimisation.
FIG5_ITERATIONS: tuple[int, ...] = (50, 100, 200, 300, 500)
#: Section 4.1, "Baseline": the optimisation's image "is initialized with white noise" (Fig. 5 compares
#: against that). ``"content"`` (start from the photo itself, a far better start) is a stricter yardstick.
FIG5_INIT = "noise"


# --- the loss weights as one object -----------------------------------------------------------------------


def format_default(value: object) -> str:
    """A default as the command line's help shows it: layer tuples as ``relu1_2,relu2_2``."""
    return ",".join(value) if isinstance(value, tuple) else str(value)


def check_layers(layers: Iterable[str]) -> list[str]:
    """Validate VGG-16 tap names, returning them as a list; unknown names raise ``ValueError``."""
    layers = list(layers)
    unknown = [name for name in layers if name not in VGG16_TAPS]
    if unknown:
        raise ValueError(f"unknown VGG-16 layer(s) {', '.join(unknown)}; choose from {', '.join(VGG16_TAPS)}")
    return layers


@dataclass
class LossWeights:
    """Weights lambda of the loss terms and the layers they use; the defaults are style transfer's
    (section 4.1, the numbers above).

    ``gram_reduction="mean"`` is a flagged deviation (``--gram-reduction``): see
    :func:`percepta.losses.style_reconstruction_loss`; with it, use the authors' style weights (e.g. 5) directly.
    """

    content: float = CONTENT_WEIGHT
    style: float = STYLE_WEIGHT
    tv: float = TV_WEIGHT
    pixel: float = 0.0
    content_layers: Sequence[str] = CONTENT_LAYERS
    style_layers: Sequence[str] = STYLE_LAYERS
    gram_reduction: GramReduction = "frobenius"
    style_octaves: int = 1  # a flagged deviation (``--style-octaves``): see percepta.losses.PerceptualLoss

    @classmethod
    def super_resolution(
        cls,
        loss: Literal["feat", "pixel"] = "feat",
        *,
        content: float = CONTENT_WEIGHT,
        tv: float = TV_WEIGHT,
        content_layers: Sequence[str] = CONTENT_LAYERS,
    ) -> LossWeights:
        """Section 4.2: feature reconstruction loss at relu2_2 (``"feat"``) or per-pixel loss, plus TV."""
        if loss == "feat":
            return cls(content=content, style=0.0, tv=tv, content_layers=content_layers)
        if loss == "pixel":
            return cls(content=0.0, style=0.0, tv=tv, pixel=1.0)
        raise ValueError(f"super-resolution loss must be 'feat' or 'pixel', not {loss!r}")

    @property
    def sr_loss(self) -> Literal["feat", "pixel"]:
        """Which of section 4.2's two super-resolution losses these weights are."""
        return "pixel" if self.pixel else "feat"

    def __post_init__(self) -> None:
        for name in ("content", "style", "tv", "pixel"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"the {name} weight must be a finite number >= 0, not {value}")
        self.content_layers = tuple(check_layers(self.content_layers))
        self.style_layers = tuple(check_layers(self.style_layers))
        if not (isinstance(self.style_octaves, int) and 1 <= self.style_octaves <= 4):
            raise ValueError(f"style_octaves must be 1 to 4, not {self.style_octaves!r}")
        if self.gram_reduction not in ("frobenius", "mean"):
            raise ValueError(f"gram_reduction must be 'frobenius' or 'mean', not {self.gram_reduction!r}")
