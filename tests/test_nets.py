"""Transformation networks follow the supplementary material's architectures, for any input size."""

from __future__ import annotations

import pytest
import torch

from percepta.nets import STYLE_ARCH, NetConfig, TransformNet, sr_arch


@pytest.mark.parametrize(
    "config", [NetConfig.style(), NetConfig.style("instance", "resize", 0.5, 3)], ids=["paper", "cpu-recipe"]
)
@pytest.mark.parametrize("hw", [(97, 131), (256, 256), (1, 1), (5, 300)])
def test_style_output_is_input_size(config: NetConfig, hw: tuple[int, int]) -> None:
    net = TransformNet(config).eval()
    with torch.no_grad():
        y = net(torch.rand(1, 3, *hw))
    assert y.shape == (1, 3, *hw)
    assert y.min() >= 0.0 and y.max() <= 1.0


@pytest.mark.parametrize("scale", [4, 8])
@pytest.mark.parametrize("hw", [(37, 53), (36, 36), (1, 2)])
def test_sr_output_is_scale_times_input(scale: int, hw: tuple[int, int]) -> None:
    net = TransformNet(NetConfig.super_resolution(scale)).eval()
    with torch.no_grad():
        y = net(torch.rand(1, 3, *hw))
    assert y.shape == (1, 3, hw[0] * scale, hw[1] * scale)


def test_paper_style_architecture() -> None:
    cfg = NetConfig.style()
    assert cfg.arch == STYLE_ARCH and cfg.pad == 40 and cfg.scale == 1 and cfg.down_factor == 4
    net = TransformNet(cfg)
    # supplementary Table 1: 256x256 input padded to 336, 84x84 after downsampling, each residual
    # block takes 4 pixels off, 64x64 after the fifth
    sizes = []
    x = torch.nn.functional.pad(torch.rand(1, 3, 256, 256), (40, 40, 40, 40), mode="reflect")
    for layer in net.body:
        x = layer(x)
        if type(layer).__name__ == "ResidualBlock":
            sizes.append(x.shape[-1])
    assert sizes == [80, 76, 72, 68, 64]
    assert isinstance(net.body[1], torch.nn.BatchNorm2d)
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules())


def test_options_change_the_network() -> None:
    net = TransformNet(NetConfig.style("instance", "resize", 0.5))
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in net.modules())
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules())
    assert net.body[0].out_channels == 16
    assert sr_arch(8).count("u64") == 3 and NetConfig.super_resolution(8).scale == 8


def test_centre_alignment() -> None:
    """A style net's output pixel (i, j) depends on the input around (i, j): no shift from the padding."""
    net = TransformNet(NetConfig.style("instance")).eval()
    x = torch.rand(1, 3, 192, 192, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    net(x)[0, :, 90, 100].sum().backward()
    grad = x.grad.abs().sum(1)[0]
    rows, cols = torch.meshgrid(torch.arange(192.0), torch.arange(192.0), indexing="ij")
    centroid = (float((grad * rows).sum() / grad.sum()), float((grad * cols).sum() / grad.sum()))
    assert abs(centroid[0] - 90) <= 1.5 and abs(centroid[1] - 100) <= 1.5, centroid


@pytest.mark.parametrize(
    "bad",
    [
        dict(norm="group"),
        dict(upsample="bilinear"),
        dict(width=0.0),
        dict(arch="c9s1-32,x5,c9s1-3"),
        dict(arch="c9s1-32,d64"),
    ],
)
def test_bad_configs_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        NetConfig(**bad)


@pytest.mark.parametrize("scale", [4, 8])
def test_bicubic_skip_starts_as_bicubic(scale: int) -> None:
    """skip="bicubic" (flagged deviation): the untrained network is exactly bicubic upsampling."""
    from percepta.metrics import bicubic_upscale

    net = TransformNet(NetConfig.super_resolution(scale, upsample="resize", skip="bicubic")).eval()
    x = torch.rand(1, 3, 13, 10, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = net(x)
    assert y.shape == (1, 3, 13 * scale, 10 * scale)
    assert torch.allclose(y, bicubic_upscale(x, scale), atol=1e-6)
    net.body[-1].bias.data.fill_(0.5)  # a trained correction is added, then clamped to the image range
    raw = torch.nn.functional.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    with torch.no_grad():
        assert torch.allclose(net(x), (raw + 0.5).clamp(0, 1), atol=1e-6)


def test_bicubic_skip_needs_an_sr_network() -> None:
    with pytest.raises(ValueError, match="skip"):
        NetConfig(skip="lanczos")
    with pytest.raises(ValueError, match="super-resolution"):
        TransformNet(NetConfig(skip="bicubic"))
