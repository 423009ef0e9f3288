"""Image transformation networks f_W (paper section 3.1 and supp. "Network architectures"), built from a
:class:`~percepta.arch.NetConfig`.

Style transfer (section 3.1, supp. Table 1): ``STYLE_ARCH`` after a 40-pixel reflection pad, with
*unpadded* residual convs whose shortcut is centre-cropped, so that the output has the input's size.
Super-resolution x4 / x8: ``sr_arch(f)``: c9s1-64, four padded residual blocks, log2(f) stride-1/2
convs, c9s1-3. The config's fields are the flagged deviations (see :mod:`percepta.arch`); one more is
built in: the paper trains and tests on sizes that are multiples of 4; here inputs are first
reflection-padded to a multiple of the network's downsampling factor and the output cropped back, so
the output is exactly the input's size (times ``scale``) for any H x W.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .arch import STYLE_ARCH, NetConfig, Norm, Upsample, sr_arch, style_arch

__all__ = ["STYLE_ARCH", "NetConfig", "ResidualBlock", "TransformNet", "sr_arch", "style_arch"]


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
            nn.Conv2d(channels, channels, 3, padding=pad),
            _norm(norm, channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=pad),
            _norm(norm, channels),
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
        for i, layer in enumerate(config.layers):
            last = i == len(config.layers) - 1
            cout = 3 if last else max(1, round(layer.channels * config.width))
            if layer.op == "R":
                if cout != cin:
                    raise ValueError(f"residual block R{layer.channels} needs {cout} input channels, got {cin}")
                layers.append(ResidualBlock(cout, config.norm, config.residual == "valid"))
            else:
                if layer.op == "u":
                    layers.append(_upsample(config.upsample, cin, cout))
                else:  # "c" and "d" (a 3x3 stride-2 conv)
                    k = layer.kernel
                    layers.append(nn.Conv2d(cin, cout, k, stride=layer.stride, padding=k // 2))
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

    def with_margin(self, margin: int) -> TransformNet:
        """A copy of this network, same weights (in eval mode), run behind a ``margin`` px reflection margin
        (``NetConfig.margin``): the margin is not a weight, so a trained network can get one afterwards."""
        net = TransformNet(dataclasses.replace(self.config, margin=margin)).to(next(self.parameters()).device)
        net.load_state_dict(self.state_dict())
        return net.eval()

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        cfg = self.config
        f = cfg.down_factor
        # pad to a multiple of the downsampling factor, and to at least 2 cells at the coarsest level
        extra_h, extra_w = max(-(-h // f), 2) * f - h, max(-(-w // f), 2) * f - w
        p, m = cfg.pad, cfg.margin  # the pad is eaten by unpadded residual blocks, the margin cropped below
        if p or m or extra_h or extra_w:
            x = _reflect_pad(x, (p + m, p + m + extra_w, p + m, p + m + extra_h))
        return self.output(self.body(x), x, h, w)

    def output(self, y: Tensor, x: Tensor, h: int, w: int) -> Tensor:
        """The output layer on the body's result ``y`` for the padded input ``x`` of an ``h`` x ``w`` image:
        the scaled tanh (or, with ``skip="bicubic"``, the bicubic upsampling of ``x`` added), cropped to the
        image (the ``margin`` and the padding to a multiple of the downsampling factor cut off)."""
        s, m = self.config.scale, self.config.margin
        if self.config.skip == "bicubic":
            y = y + F.interpolate(x, scale_factor=s, mode="bicubic", align_corners=False)
            y = y[:, :, m * s : (m + h) * s, m * s : (m + w) * s]
            # clamped only outside training, so that out-of-range outputs still get gradients there
            return y if self.training else y.clamp(0.0, 1.0)
        y = (torch.tanh(y) + 1.0) / 2.0
        return y[:, :, m * s : (m + h) * s, m * s : (m + w) * s]


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
