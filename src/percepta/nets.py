"""Image transformation networks f_W (paper section 3.1 and supplementary "Network architectures").

An architecture is a short string, as in the authors' fast-neural-style code, that a model file stores
so that every model rebuilds itself::

    c9s1-32   9x9 conv, stride 1, 32 filters, then normalisation + ReLU
    d64       3x3 conv, stride 2 (downsampling), 64 filters, normalisation + ReLU
    R128      residual block: two 3x3 convs of 128 filters (supplementary Fig. 1)
    u64       x2 upsampling to 64 filters: stride-1/2 (transposed) conv, or resize + conv
    c9s1-3    the last layer: no normalisation; a scaled tanh maps it to the output range

Style transfer (section 3.1, supplementary Table 1): ``STYLE_ARCH`` after a 40-pixel reflection pad, with
*unpadded* residual convs whose shortcut is centre-cropped, so that the output has the input's size.
Super-resolution x4 / x8: ``sr_arch(f)``: c9s1-64, four padded residual blocks, log2(f) stride-1/2
convs, c9s1-3.

Deliberate deviations from the paper, each a field of :class:`NetConfig`:

* ``norm="instance"`` -- instance normalisation (Ulyanov et al. 2016) instead of batch norm; the
  authors' own later models use it, it is better for style transfer. Paper: ``"batch"``.
* ``upsample="resize"`` -- nearest-neighbour x2 upsampling then a 3x3 conv, instead of a stride-1/2
  conv, which avoids checkerboard artefacts (Odena et al. 2016). Paper: ``"transpose"``.
* ``width`` -- multiplies every hidden layer's filter count (0.5 = half width, ~4x fewer FLOPs).
* ``skip="bicubic"`` (super-resolution) -- the network predicts a correction added to the bicubic
  upsampling of its input (a global residual, as in VDSR, Kim et al. 2016) instead of the whole image
  through a tanh; its last conv starts at zero, so an untrained network *is* bicubic, and short training
  budgets cannot fall below it or shift colours. Paper: ``"none"``.
* any input size: the paper trains and tests on sizes that are multiples of 4; here inputs are first
  reflection-padded to a multiple of the network's downsampling factor and the output cropped back,
  so the output is exactly the input's size (times ``scale``) for any H x W.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

STYLE_ARCH = "c9s1-32,d64,d128,R128,R128,R128,R128,R128,u64,u32,c9s1-3"


def style_arch(blocks: int = 5) -> str:
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
        for token in self.tokens:
            if not _TOKEN.match(token):
                raise ValueError(f"bad layer {token!r} in architecture {self.arch!r}")
        if not self.tokens[-1].startswith("c") or not self.tokens[-1].endswith("-3"):
            raise ValueError(f"architecture {self.arch!r} must end with an RGB conv such as c9s1-3")

    @property
    def tokens(self) -> list[str]:
        return [t.strip() for t in self.arch.split(",") if t.strip()]

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
    def style(cls, norm: Norm = "batch", upsample: Upsample = "transpose", width: float = 1.0,
              blocks: int = 5) -> "NetConfig":
        return cls("style", style_arch(blocks), norm, upsample, "valid", width)

    @classmethod
    def super_resolution(cls, scale: int, norm: Norm = "batch", upsample: Upsample = "transpose",
                         width: float = 1.0, skip: Skip = "none") -> "NetConfig":
        return cls("sr", sr_arch(scale), norm, upsample, "same", width, skip)


def _norm(kind: Norm, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


class ResidualBlock(nn.Module):
    """Supplementary Fig. 1: conv-norm-ReLU-conv-norm plus the identity, no ReLU after the sum.

    With ``valid=True`` (style networks) the convs are unpadded and the shortcut is centre-cropped
    by 2 pixels on each side, as in the paper; otherwise both convs are zero-padded.
    """

    def __init__(self, channels: int, norm: Norm, valid: bool) -> None:
        super().__init__()
        pad = 0 if valid else 1
        self.crop = 2 if valid else 0
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=pad), _norm(norm, channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=pad), _norm(norm, channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        c = self.crop
        shortcut = x[:, :, c:-c, c:-c] if c else x
        return shortcut + self.body(x)


def _upsample(kind: Upsample, cin: int, cout: int) -> nn.Module:
    if kind == "transpose":  # the paper's "fractionally-strided convolution with stride 1/2"
        return nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1))


class TransformNet(nn.Module):
    """A feed-forward image transformation network built from a :class:`NetConfig`.

    Input: RGB in [0, 1], (N, 3, H, W), any H and W. Output: RGB in [0, 1], (N, 3, H*scale, W*scale);
    the paper's "scaled tanh" output layer, mapped to [0, 1] instead of [0, 255].
    """

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        cin = 3
        tokens = config.tokens
        for i, token in enumerate(tokens):
            m = _TOKEN.match(token)
            assert m is not None
            last = i == len(tokens) - 1
            raw = int(m["c"] or m["n"])
            cout = 3 if last else max(1, round(raw * config.width))
            if m["op"] == "R":
                if cout != cin:
                    raise ValueError(f"residual block {token} needs {cout} input channels, got {cin}")
                layers.append(ResidualBlock(cout, config.norm, config.residual == "valid"))
            else:
                if m["op"] == "d":
                    layers.append(nn.Conv2d(cin, cout, 3, stride=2, padding=1))
                elif m["op"] == "u":
                    layers.append(_upsample(config.upsample, cin, cout))
                else:
                    k, s = int(m["k"]), int(m["s"])
                    layers.append(nn.Conv2d(cin, cout, k, stride=s, padding=k // 2))
                if not last:
                    layers += [_norm(config.norm, cout), nn.ReLU(inplace=True)]
            cin = cout
        self.body = nn.Sequential(*layers)
        if config.skip == "bicubic":
            if config.scale < 2:
                raise ValueError("skip='bicubic' needs an upsampling (super-resolution) architecture")
            last = layers[-1]
            assert isinstance(last, nn.Conv2d)
            nn.init.zeros_(last.weight)  # start as plain bicubic upsampling
            nn.init.zeros_(last.bias)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        cfg = self.config
        f = cfg.down_factor
        # pad to a multiple of the downsampling factor, and to at least 2 cells at the coarsest level
        extra_h, extra_w = max(-(-h // f), 2) * f - h, max(-(-w // f), 2) * f - w
        p = cfg.pad
        if p or extra_h or extra_w:
            x = _reflect_pad(x, (p, p + extra_w, p, p + extra_h))
        y = self.body(x)
        s = cfg.scale
        if cfg.skip == "bicubic":
            y = y + F.interpolate(x, scale_factor=s, mode="bicubic", align_corners=False)
            y = y[:, :, : h * s, : w * s]
            # clamped only outside training, so that out-of-range outputs still get gradients there
            return y if self.training else y.clamp(0.0, 1.0)
        y = (torch.tanh(y) + 1.0) / 2.0
        return y[:, :, : h * s, : w * s]


def _reflect_pad(x: Tensor, pad: tuple[int, int, int, int]) -> Tensor:
    """Reflection padding that also works when the pad exceeds the image (small inputs): repeat it."""
    left, right, top, bottom = pad
    while left or right or top or bottom:
        h, w = x.shape[-2:]
        step = (min(left, w - 1), min(right, w - 1), min(top, h - 1), min(bottom, h - 1))
        if w == 1 or h == 1:
            return F.pad(x, (left, right, top, bottom), mode="replicate")
        x = F.pad(x, step, mode="reflect")
        left, right, top, bottom = (a - b for a, b in zip((left, right, top, bottom), step))
    return x
