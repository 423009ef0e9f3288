"""SR evaluation: PSNR/SSIM on Y against scikit-image, feature distance, degrade, evaluate_sr."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from percepta.data import degrade
from percepta.errors import PerceptaError
from percepta.evaluate import evaluate_sr
from percepta.image import save_image, to_pil
from percepta.metrics import feature_distance, psnr_y, quantize, rgb_to_y, shave, ssim_y
from percepta.modelfile import save_model
from percepta.nets import NetConfig, TransformNet

from .conftest import PHOTOS, photo


@pytest.fixture(scope="module")
def baboon() -> torch.Tensor:
    return photo(PHOTOS / "opencv_baboon.jpg", 64)


def _noisy(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return quantize(TF.gaussian_blur(x, [5, 5], [0.8, 0.8]) + 0.03 * torch.randn(x.shape, generator=g))


def _y_numpy(x: torch.Tensor, border: int) -> np.ndarray:
    """Independent reference: MATLAB rgb2ycbcr's Y in numpy, on uint8 levels, border shaved."""
    rgb = np.rint(x[0].permute(1, 2, 0).numpy().astype(np.float64) * 255.0) / 255.0
    y = 16.0 + rgb @ np.array([65.481, 128.553, 24.966])
    return y[border:-border, border:-border]


def test_rgb_to_y_and_shave() -> None:
    x = torch.tensor([0.0, 1.0]).view(2, 1, 1, 1).expand(2, 3, 4, 5)
    y = rgb_to_y(x)
    assert y.shape == (2, 4, 5)
    assert torch.allclose(y[0], torch.tensor(16.0)) and torch.allclose(y[1], torch.tensor(235.0))
    assert rgb_to_y(x[1]).shape == (4, 5)
    assert shave(y, 1).shape == (2, 2, 3) and shave(y, 0).shape == y.shape
    with pytest.raises(ValueError):
        shave(y, 2)


@pytest.mark.parametrize("border", [2, 4])
def test_psnr_ssim_match_skimage(baboon: torch.Tensor, border: int) -> None:
    sr = _noisy(baboon)
    ref, out = _y_numpy(baboon, border), _y_numpy(sr, border)
    expected_psnr = peak_signal_noise_ratio(ref, out, data_range=255)
    expected_ssim = structural_similarity(
        ref, out, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, win_size=11
    )
    assert psnr_y(sr, baboon, border) == pytest.approx(expected_psnr, abs=1e-6)
    assert ssim_y(sr, baboon, border) == pytest.approx(expected_ssim, abs=1e-6)
    assert psnr_y(sr[0], baboon[0], border) == pytest.approx(expected_psnr, abs=1e-6)  # (3, H, W)
    assert 15 < expected_psnr < 40 and 0.2 < expected_ssim < 0.99
    # a batch reports the mean of its images
    other = _noisy(baboon, seed=1)
    both = psnr_y(torch.cat([sr, other]), baboon.expand(2, -1, -1, -1), border)
    assert both == pytest.approx((psnr_y(sr, baboon, border) + psnr_y(other, baboon, border)) / 2)


def test_identical_images(baboon: torch.Tensor) -> None:
    assert psnr_y(baboon, baboon, 4) == math.inf
    assert ssim_y(baboon, baboon, 4) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        psnr_y(baboon, baboon[:, :, :-1], 4)


def test_feature_distance(lossnet, baboon: torch.Tensor) -> None:
    assert feature_distance(baboon, baboon, lossnet) == 0.0
    slight = feature_distance(TF.gaussian_blur(baboon, [7, 7], [0.7, 0.7]), baboon, lossnet)
    strong = feature_distance(TF.gaussian_blur(baboon, [13, 13], [2.5, 2.5]), baboon, lossnet)
    assert 0 < slight < strong
    # eq. 2 by hand: mean squared difference of relu2_2 activations
    blurred = TF.gaussian_blur(baboon, [7, 7], [0.7, 0.7])
    with torch.no_grad():
        a, b = lossnet(blurred, ["relu2_2"])["relu2_2"], lossnet(baboon, ["relu2_2"])["relu2_2"]
    assert slight == pytest.approx(float(((a - b) ** 2).mean()), rel=1e-4)


def test_degrade_definition() -> None:
    hr = photo(PHOTOS / "opencv_fruits.jpg", 212)[:, :, :148, :]
    assert hr.shape[-2:] == (148, 212)
    lr = degrade(hr, 4)
    assert lr.shape == (1, 3, 37, 53)
    blurred = TF.gaussian_blur(hr, [7, 7], [1.0, 1.0])  # sigma 1, +-3 sigma, reflected borders
    expected = F.interpolate(blurred, size=(37, 53), mode="bicubic", antialias=True, align_corners=False)
    assert torch.allclose(lr, expected.clamp(0, 1), atol=1e-6)
    assert degrade(hr, 4, sigma=0).shape == (1, 3, 37, 53)
    assert degrade(hr[:, :, :144, :208], 8).shape == (1, 3, 18, 26)
    with pytest.raises(ValueError):
        degrade(hr[:, :, :147], 4)


def test_evaluate_sr(tmp_path, lossnet) -> None:
    torch.manual_seed(0)
    model = save_model(
        tmp_path / "tiny-sr.safetensors", TransformNet(NetConfig.super_resolution(4, width=0.25)), {"name": "tiny-sr"}
    )
    paths = []
    for name, size in (("opencv_baboon.jpg", 50), ("opencv_fruits.jpg", 45)):
        path = tmp_path / f"{name}.png"
        save_image(to_pil(photo(PHOTOS / name, size, square=False)), path)
        paths.append(path)
    report = evaluate_sr(paths, 4, [model], lossnet=lossnet)
    assert report.images == [p.name for p in paths] and report.scale == report.border == 4
    assert [s.method for s in report.summary] == ["bicubic", "tiny-sr"]
    assert len(report.rows) == 4 and {r.image for r in report.rows} == set(report.images)
    bicubic = report.summary[0]
    assert 15 < bicubic.psnr < 40 and 0 < bicubic.ssim < 1 and bicubic.feature > 0
    untrained = report.summary[1]
    assert untrained.psnr < bicubic.psnr and untrained.feature > bicubic.feature
    rows = [r.psnr for r in report.rows if r.method == "bicubic"]
    assert bicubic.psnr == pytest.approx(sum(rows) / 2)
    md = report.to_markdown()
    assert "| bicubic |" in md and "| tiny-sr |" in md and paths[0].name in md
    data = json.loads(report.to_json())
    assert {s["method"] for s in data["summary"]} == {"bicubic", "tiny-sr"} and len(data["rows"]) == 4
    with pytest.raises(PerceptaError, match="x8"):
        evaluate_sr(paths, 8, [model], lossnet=lossnet)


def test_eval_cli_writes_markdown_and_json(tmp_path, capsys) -> None:
    from percepta.cli import main

    path = tmp_path / "fruits.png"
    save_image(to_pil(photo(PHOTOS / "opencv_fruits.jpg", 64, square=False)), path)
    assert main(["eval", "sr", str(path), "--scale", "4", "-m", "sr_x4_pixel", "--out", str(tmp_path / "report")]) == 0
    printed = capsys.readouterr().out
    md = (tmp_path / "report" / "eval_x4.md").read_text()
    assert md == printed.rstrip("\n") + "\n" and "| sr_x4_pixel |" in md
    data = json.loads((tmp_path / "report" / "eval_x4.json").read_text())
    assert [s["method"] for s in data["summary"]] == ["bicubic", "sr_x4_pixel"] and data["images"] == ["fruits.png"]
