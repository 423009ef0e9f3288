"""Architectures as short strings, and the config a model file stores to rebuild its network.

An architecture is written as in the authors' fast-neural-style code (paper supp., "Network architectures")::

    c9s1-32   9x9 conv, stride 1, 32 filters, then normalisation + ReLU
    d64       3x3 conv, stride 2 (downsampling), 64 filters, normalisation + ReLU
    R128      residual block: two 3x3 convs of 128 filters (supp. Fig. 1)
    u64       x2 upsampling to 64 filters: stride-1/2 (transposed) conv, or resize + conv
    c9s1-3    the last layer: no normalisation; a scaled tanh maps it to the output range

Deliberate deviations from the paper, each a field of :class:`NetConfig`:

* ``norm="instance"`` -- instance normalisation (Ulyanov et al. 2016) instead of batch norm; the
  authors' own later models use it, it is better for style transfer. Paper: ``"batch"``.
* ``upsample="resize"`` -- nearest-neighbour x2 upsampling then a 3x3 conv, instead of a stride-1/2
  conv, which avoids checkerboard artefacts (Odena et al. 2016). Paper: ``"transpose"``.
* ``width`` -- multiplies every hidden layer's filter count (0.5 = half width, ~4x fewer FLOPs). Paper: 1.
* ``skip="bicubic"`` (super-resolution) -- the network predicts a correction added to the bicubic
  upsampling of its input (a global residual, as in VDSR, Kim et al. 2016) instead of the whole image
  through a tanh; its last conv starts at zero, so an untrained network *is* bicubic, and short training
  budgets cannot fall below it or shift colours. Paper: ``"none"``.
* ``margin`` -- pixels of reflection added on every side before a network with padded convs and cropped
  off after, so that the zero padding of its convs falls outside the picture instead of drawing lines
  along its edges (every bundled style model: :data:`EDGE_MARGIN`). The paper's style network
  has unpadded residual blocks behind a 40-pixel reflection pad (``pad``) instead. Paper: 0.

This module needs no torch: ``percepta models`` reads model files' configs without loading it.
:mod:`percepta.nets` builds the networks.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Literal

from .hyperparams import STYLE_BLOCKS

STYLE_ARCH = "c9s1-32,d64,d128,R128,R128,R128,R128,R128,u64,u32,c9s1-3"


#: The slim real-time style network of the ``-fast`` models (a deviation from the paper's architecture,
#: chosen by measuring candidates with ONNX Runtime on a 2-core CPU): three stride-2 downsamplings, the
#: first straight from the RGB input (a 3x3 stride-2 conv with 16 filters sees every input value of its
#: 2x2 cell, so nothing is lost), so the residual blocks run at 1/8 resolution; 8 channels and a 3x3 output
#: conv at full resolution instead of 32 and 9x9; padded residual convs (``residual="same"``), so no
#: 40-pixel reflection pad. About 8k multiply-adds per pixel against ~33k for the half-width ``wave`` and
#: ~126k for the paper's network; trained by distillation from the full model (``--teacher``), so that it
#: looks like it. (An earlier candidate with a full-resolution 5x5 input conv and 5x5 output conv, 10k
#: multiply-adds, ran 1.3x slower: small-channel convolutions at full resolution are memory-bound.)
FAST_STYLE_ARCH = "d16,d32,d64,R64,R64,R64,u32,u16,u8,c3s1-3"
#: The bundled style models' ``margin``: 16 px (two cells at the ``-fast`` models' 1/8 resolution, a multiple
#: of every network's downsampling factor so that tiles stay aligned). Measured on the bundled ``wave-fast`` at
#: 512 px: the mean step between its first output rows was 24.5 / 13.4 / 19.2 (a band of lines; 16.5 inside
#: the picture) without it, 3.2 / 4.4 / 7.9 with it, the same with 32; it costs 13% more work at 512x512, 6% at
#: 1024x1024. The full models (unpadded residual blocks, but zero-padded 9x9 and stride-2 convs) drew fainter
#: lines (``the_scream``: edge strips up to 2.2x as busy as the inside, :func:`percepta.metrics.edge_busyness`)
#: and got the margin after training (``scripts/train_bundled_models.py --add-margin``).
EDGE_MARGIN = 16


def style_arch(blocks: int = STYLE_BLOCKS) -> str:
    """The paper's style network with ``blocks`` residual blocks (paper: 5)."""
    if not 1 <= blocks <= 16:
        raise ValueError(f"residual blocks must be 1..16, not {blocks}")
    return ",".join(["c9s1-32", "d64", "d128"] + ["R128"] * blocks + ["u64", "u32", "c9s1-3"])


Norm = Literal["batch", "instance", "none"]
Upsample = Literal["transpose", "resize"]
Skip = Literal["none", "bicubic"]
Task = Literal["style", "sr"]

_TOKEN = re.compile(r"^(?:c(?P<k>\d+)s(?P<s>\d+)-(?P<c>\d+)|(?P<op>[dRu])(?P<n>\d+))$")


def sr_arch(scale: int) -> str:
    """Super-resolution architecture for a power-of-two ``scale`` (supplementary, SR networks)."""
    steps = int(math.log2(scale))
    if scale < 2 or 2**steps != scale:
        raise ValueError(f"super-resolution scale must be a power of two >= 2, not {scale}")
    return ",".join(["c9s1-64"] + ["R64"] * 4 + ["u64"] * steps + ["c9s1-3"])


#: Architectures beyond these are refused (a damaged or hostile model file could ask for terabytes):
#: the paper's networks have 1.7M (style) and 1.6M (SR x8) parameters and 17 layers.
MAX_PARAMETERS = 100_000_000
MAX_LAYERS = 64
#: Channels of one layer (after ``width``): the paper's widest is 128; activations grow with it per pixel.
MAX_CHANNELS = 1024


@dataclass(frozen=True)
class Layer:
    """One parsed architecture token: ``op`` is ``c`` (conv), ``d`` (down), ``R`` (residual) or ``u`` (up)."""

    op: str
    channels: int
    kernel: int = 3
    stride: int = 1


def parse_layer(token: str) -> Layer:
    """``"c9s1-32"`` -> Layer("c", 32, 9, 1); ``"d64"`` -> Layer("d", 64, 3, 2); a bad token raises ValueError."""
    m = _TOKEN.match(token)
    if m is None:
        raise ValueError(f"bad layer {token!r}")
    if m["op"]:
        return Layer(m["op"], int(m["n"]), 3, 2 if m["op"] == "d" else 1)
    return Layer("c", int(m["c"]), int(m["k"]), int(m["s"]))


@dataclass(frozen=True)
class NetConfig:
    """Everything needed to rebuild a transformation network; stored in every model file."""

    task: Task = "style"
    arch: str = STYLE_ARCH
    norm: Norm = "batch"
    upsample: Upsample = "transpose"
    residual: Literal["valid", "same"] = "valid"  # unpadded convs + cropped shortcut (style) or padded (SR)
    width: float = 1.0
    skip: Skip = "none"  # "bicubic": output = bicubic(input) + network (super-resolution only)
    margin: int = 0  # reflection added on every side and cropped off after (padded networks)

    def __post_init__(self) -> None:
        if self.norm not in ("batch", "instance", "none"):
            raise ValueError(f"norm must be batch, instance or none, not {self.norm!r}")
        if self.upsample not in ("transpose", "resize"):
            raise ValueError(f"upsample must be transpose or resize, not {self.upsample!r}")
        if self.residual not in ("valid", "same"):
            raise ValueError(f"residual must be valid or same, not {self.residual!r}")
        if not 0 < self.width <= 4:
            raise ValueError(f"width must be in (0, 4], not {self.width}")
        if self.skip not in ("none", "bicubic"):
            raise ValueError(f"skip must be none or bicubic, not {self.skip!r}")
        if not (isinstance(self.margin, int) and 0 <= self.margin <= 256):
            raise ValueError(f"margin must be a whole number of pixels from 0 to 256, not {self.margin!r}")
        for token in self.tokens:
            if not _TOKEN.match(token):
                raise ValueError(f"bad layer {token!r} in architecture {self.arch!r}")
        if not self.tokens[-1].startswith("c") or not self.tokens[-1].endswith("-3"):
            raise ValueError(f"architecture {self.arch!r} must end with an RGB conv such as c9s1-3")
        if len(self.tokens) > MAX_LAYERS:
            raise ValueError(f"architecture has {len(self.tokens)} layers, over the limit of {MAX_LAYERS}")
        for layer in self.layers:
            if not (1 <= layer.kernel <= 15 and 1 <= layer.stride <= 4 and layer.channels >= 1):
                raise ValueError(f"architecture {self.arch!r} has an unusable layer {layer}")
            if round(layer.channels * self.width) > MAX_CHANNELS:
                raise ValueError(
                    f"architecture {self.arch!r} (width {self.width}) has a layer of "
                    f"{round(layer.channels * self.width)} channels, over the limit of {MAX_CHANNELS}"
                )
        if self.parameter_count() > MAX_PARAMETERS:
            raise ValueError(
                f"architecture {self.arch!r} (width {self.width}) needs {self.parameter_count():,} "
                f"parameters, over the limit of {MAX_PARAMETERS:,}"
            )

    @property
    def tokens(self) -> list[str]:
        return [t.strip() for t in self.arch.split(",") if t.strip()]

    @property
    def layers(self) -> list[Layer]:
        return [parse_layer(t) for t in self.tokens]

    def parameter_count(self) -> int:
        """Weights and biases of the convolutions (normalisation parameters aside), without building the network."""
        total, cin = 0, 3
        layers = self.layers
        for i, layer in enumerate(layers):
            cout = 3 if i == len(layers) - 1 else max(1, round(layer.channels * self.width))
            if layer.op == "R":
                total += 2 * (9 * cout * cout + cout)
            else:
                total += layer.kernel**2 * cin * cout + cout
            cin = cout
        return total

    @property
    def down_factor(self) -> int:
        return 2 ** sum(t.startswith("d") for t in self.tokens)

    @property
    def scale(self) -> int:
        """Output size / input size: 1 for style transfer, 4 or 8 for super-resolution."""
        ups = sum(t.startswith("u") for t in self.tokens)
        return 2**ups // self.down_factor

    @property
    def pad(self) -> int:
        """Input reflection padding that unpadded residual blocks eat up (40 for the paper's style net)."""
        if self.residual != "valid":
            return 0
        total, factor = 0, 1
        for token in self.tokens:
            factor = factor * 2 if token.startswith("d") else factor // 2 if token.startswith("u") else factor
            if token.startswith("R"):
                total += 2 * max(factor, 1)  # two unpadded 3x3 convs: 2 pixels per side at this level
        return total

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def style(
        cls, norm: Norm = "batch", upsample: Upsample = "transpose", width: float = 1.0, blocks: int = STYLE_BLOCKS
    ) -> NetConfig:
        return cls("style", style_arch(blocks), norm, upsample, "valid", width)

    @classmethod
    def fast_style(cls) -> NetConfig:
        """The slim real-time network of the ``-fast`` models (:data:`FAST_STYLE_ARCH`): instance norm,
        resize-convolution, padded residual blocks, a :data:`EDGE_MARGIN` reflection margin."""
        return cls("style", FAST_STYLE_ARCH, "instance", "resize", "same", 1.0, margin=EDGE_MARGIN)

    def macs_per_pixel(self) -> float:
        """Multiply-adds of the convolutions per input pixel (padding and normalisation aside): the work
        that bounds inference speed (``benchmarks/inference.py`` reports it as a share of the CPU's peak)."""
        total, cin, level = 0.0, 3, 1.0  # level: this layer's pixels per input pixel
        layers = self.layers
        for i, layer in enumerate(layers):
            cout = 3 if i == len(layers) - 1 else max(1, round(layer.channels * self.width))
            if layer.op == "R":
                total += 2 * 9 * cout * cout * level
            else:
                level = level / 4 if layer.op == "d" else level * 4 if layer.op == "u" else level / layer.stride**2
                # a stride-1/2 conv touches each output pixel with ~1/4 of its taps; resize-conv with all
                taps = 0.25 if layer.op == "u" and self.upsample == "transpose" else 1.0
                total += layer.kernel**2 * cin * cout * level * taps
            cin = cout
        return total

    @classmethod
    def super_resolution(
        cls, scale: int, norm: Norm = "batch", upsample: Upsample = "transpose", width: float = 1.0, skip: Skip = "none"
    ) -> NetConfig:
        return cls("sr", sr_arch(scale), norm, upsample, "same", width, skip)
