"""Super-resolution inference: exact sizes, tiling, PIL/tensor, histogram matching, alpha, bad models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from percepta.errors import PerceptaError
from percepta.image import load_image, to_pil, to_tensor
from percepta.infer import run_network
from percepta.modelfile import Model, save_model
from percepta.nets import NetConfig, TransformNet
from percepta.upscaling import upscale, upscale_files

from .conftest import CITY, PHOTOS, SR_CROPS, photo


def _sr_model(scale: int = 4, norm: str = "batch", upsample: str = "transpose", skip: str = "none") -> Model:
    """A tiny random-init SR network in eval mode, with non-trivial batch-norm running statistics."""
    torch.manual_seed(scale)
    net = TransformNet(NetConfig.super_resolution(scale, norm, upsample, width=0.25, skip=skip))  # type: ignore[arg-type]
    if skip != "none":  # a non-zero correction on top of bicubic
        torch.nn.init.normal_(net.body[-1].weight, std=0.01)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return Model(net.eval(), {"name": f"tiny-x{scale}"})


@pytest.fixture(scope="module")
def lr() -> torch.Tensor:
    return photo(PHOTOS / "opencv_baboon.jpg", 53, square=False)[:, :, :37, :53]  # H 37, W 53


@pytest.mark.parametrize("scale", [4, 8])
def test_exact_sizes(lr: torch.Tensor, scale: int) -> None:
    model = _sr_model(scale)
    assert lr.shape[-2:] == (37, 53)
    y = upscale(lr, model, tile=16)
    assert y.shape == (1, 3, 37 * scale, 53 * scale)
    assert upscale(lr[0], model, tile=0).shape == (3, 37 * scale, 53 * scale)
    assert float(y.min()) >= 0 and float(y.max()) <= 1


@pytest.mark.parametrize("upsample,skip", [("transpose", "none"), ("resize", "none"), ("resize", "bicubic")])
def test_tiled_matches_untiled(lr: torch.Tensor, upsample: str, skip: str) -> None:
    model = _sr_model(4, upsample=upsample, skip=skip)
    whole = upscale(lr, model, tile=0)
    assert torch.equal(whole, run_network(model, lr))
    tiled = upscale(lr, model, tile=16, overlap=16)  # 3 x 4 tiles; context covers the receptive field
    assert (tiled - whole).abs().max() < 1e-4
    # with too little context the outputs differ, but only near the tile seams (row 32, column 32)
    seams = upscale(lr, model, tile=32, overlap=2)
    diff = (seams - whole).abs().amax(dim=(0, 1))
    assert diff.max() > 1e-5
    assert diff[: 18 * 4, : 18 * 4].max() < 1e-4  # > 14 low-resolution pixels from both seams


def test_instance_norm_runs_untiled(lr: torch.Tensor) -> None:
    model = _sr_model(4, norm="instance")
    assert torch.equal(upscale(lr, model, tile=16, overlap=0), run_network(model, lr))


def test_pil_in_pil_out(lr: torch.Tensor) -> None:
    model = _sr_model(4)
    img = to_pil(lr)
    assert img.size == (53, 37)
    out = upscale(img, model, tile=24)
    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == (212, 148)
    ref = upscale(to_tensor(img), model, tile=24)
    assert np.abs(np.asarray(out, dtype=float) - ref[0].permute(1, 2, 0).numpy() * 255).max() <= 1.0
    grey = upscale(img.convert("L"), model)
    assert grey.size == (212, 148) and grey.mode == "RGB"


def test_match_histogram(lr: torch.Tensor) -> None:
    model = _sr_model(4)
    plain = upscale(lr, model)
    matched = upscale(lr, model, match_histogram=True)
    assert matched.shape == plain.shape and float(matched.min()) >= 0 and float(matched.max()) <= 1
    target = lr.mean(dim=(2, 3))
    before = (plain.mean(dim=(2, 3)) - target).abs()
    after = (matched.mean(dim=(2, 3)) - target).abs()
    assert (after < before).all() and after.max() < 0.01
    # per channel, the output's sorted values follow the input's quantiles
    for c in range(3):
        q = torch.tensor([0.1, 0.5, 0.9])
        assert torch.allclose(
            torch.quantile(matched[0, c].flatten(), q), torch.quantile(lr[0, c].flatten(), q), atol=0.02
        )


def test_wrong_task_and_bad_options(lr: torch.Tensor, tmp_path) -> None:
    style = save_model(tmp_path / "style.safetensors", TransformNet(NetConfig.style("instance", "resize", 0.25, 1)))
    with pytest.raises(PerceptaError, match="not a super-resolution model"):
        upscale(lr, style)
    with pytest.raises(ValueError):
        upscale(lr, _sr_model(4), tile=-1)
    with pytest.raises(ValueError):
        upscale(lr[0, :1], _sr_model(4))


def test_upscale_files_keeps_alpha(tmp_path) -> None:
    rgb = Image.open(CITY).convert("RGB").resize((23, 17))
    alpha = Image.linear_gradient("L").resize((23, 17))
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    src = tmp_path / "in.png"
    rgba.save(src)
    model = save_model(tmp_path / "sr.safetensors", _sr_model(4).net, {"name": "sr"})
    (result,) = upscale_files([src], model, tmp_path / "out.png", tile=8, overlap=16)
    dst = result.output
    out = Image.open(dst)
    assert out.mode == "RGBA" and out.size == (92, 68)
    loaded = load_image(dst)
    assert loaded.alpha is not None
    a = np.asarray(loaded.alpha, dtype=float)
    assert a[0].mean() < 40 and a[-1].mean() > 215  # the gradient survives the x4 resize
    # folder in -> folder out
    targets = [r.output for r in upscale_files([tmp_path], model, tmp_path / "outdir")]
    assert [p.name for p in targets] == ["in.png", "out.png"] and all(p.is_file() for p in targets)


@pytest.fixture(scope="module")
def held_out_crops() -> list[torch.Tensor]:
    """192 x 192 crops of two photos the bundled SR models never saw (scripts/train_sr_models.HELD_OUT)."""
    return [
        to_tensor(Image.open(SR_CROPS / name).convert("RGB"))
        for name in ("plasma_ColorfulCups_crop.png", "opencv_building_crop.png")
    ]


def test_bundled_sr_models_beat_bicubic(held_out_crops: list[torch.Tensor]) -> None:
    """Section 4.2's claims on held-out photos: the pixel-loss model wins PSNR, the feature-loss model
    has the lowest relu2_2 distance; x8: the feature model beats bicubic on both."""
    from percepta.data import degrade
    from percepta.lossnet import VGG16LossNetwork
    from percepta.metrics import bicubic_upscale, feature_distance, psnr_y, quantize

    vgg = VGG16LossNetwork(["relu2_2"])
    scores: dict[str, list[tuple[float, float]]] = {}
    for s, methods in [(4, ("bicubic", "sr_x4_pixel", "sr_x4_feat")), (8, ("bicubic", "sr_x8_feat"))]:
        for hr in held_out_crops:
            lr = quantize(degrade(hr, s))
            for m in methods:
                out = quantize(bicubic_upscale(lr, s) if m == "bicubic" else upscale(lr, m))
                scores.setdefault(f"{m}@{s}", []).append((psnr_y(out, hr, s), feature_distance(out, hr, vgg)))
    psnr = {k: np.mean([p for p, _ in v]) for k, v in scores.items()}
    assert psnr["sr_x4_pixel@4"] > psnr["bicubic@4"] + 1.0, psnr
    for i in range(len(held_out_crops)):
        feat = {k: v[i][1] for k, v in scores.items()}
        assert feat["sr_x4_feat@4"] < min(feat["sr_x4_pixel@4"], feat["bicubic@4"]), feat
        assert feat["sr_x8_feat@8"] < feat["bicubic@8"], feat
    assert psnr["sr_x8_feat@8"] > psnr["bicubic@8"], psnr


def test_python_api_upscale_pil() -> None:
    import percepta

    small = Image.open(PHOTOS / "mate_LadyBird.jpg").convert("RGB").resize((37, 23))
    big = percepta.upscale(small, "sr_x4_feat")
    assert isinstance(big, Image.Image) and big.size == (148, 92)
    assert percepta.upscale(small, "sr_x8_feat").size == (296, 184)


def test_cli_upscale_uses_the_bundled_model_for_the_scale(tmp_path, capsys) -> None:
    from percepta.cli import main

    src = tmp_path / "grey.png"
    Image.open(PHOTOS / "opencv_fruits.jpg").convert("L").resize((21, 17)).save(src)  # greyscale in
    assert main(["upscale", str(src), "--scale", "8", "-o", str(tmp_path / "big.png")]) == 0
    with Image.open(tmp_path / "big.png") as out:
        assert out.size == (168, 136)
    assert main(["upscale", str(src), "--scale", "4", "-m", "wave", "-o", str(tmp_path / "x.png")]) == 1
    assert "not a super-resolution model" in capsys.readouterr().err
