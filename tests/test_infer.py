"""Stylisation: any input size, alpha and EXIF kept, colour preservation, strength, bundled models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import percepta
from percepta.cli import main
from percepta.image import load_image, to_tensor
from percepta.infer import keep_colors
from percepta.losses import LossWeights, PerceptualLoss
from percepta.modelfile import BUNDLED_DIR, available_models, save_model
from percepta.nets import NetConfig, TransformNet

from .conftest import CITY, LANDSCAPE, PHOTOS, STYLES, photo

BUNDLED_ALL = sorted(p.name.removesuffix(".safetensors") for p in BUNDLED_DIR.glob("*.safetensors"))
BUNDLED = [name for name in BUNDLED_ALL if not name.startswith("sr_")]  # style models (SR: test_upscale.py)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    net = TransformNet(NetConfig.style("instance", "resize", 0.25, 1))
    return save_model(tmp_path_factory.mktemp("m") / "tiny.safetensors", net, {"name": "tiny"})


def test_api_pil_and_tensor(model_file) -> None:
    img = Image.open(CITY).convert("RGB").resize((131, 97))
    out = percepta.stylize(img, model_file)
    assert isinstance(out, Image.Image) and out.size == (131, 97)
    t = to_tensor(img)
    y = percepta.stylize(t[0], model_file)
    assert y.shape == (3, 97, 131)
    assert np.abs(np.asarray(out, dtype=float) - y.permute(1, 2, 0).numpy() * 255).max() <= 1.0
    assert percepta.stylize(img, model_file, max_size=64).size == (64, 47)


def test_strength_and_preserve_color(model_file) -> None:
    x = photo(CITY, 48)
    assert torch.allclose(percepta.stylize(x, model_file, strength=0.0), x)
    full = percepta.stylize(x, model_file)
    half = percepta.stylize(x, model_file, strength=0.5)
    assert torch.allclose(half, 0.5 * full + 0.5 * x, atol=1e-6)
    kept = percepta.stylize(x, model_file, preserve_color=True)

    def chroma(t: torch.Tensor) -> torch.Tensor:
        r, g, b = t.unbind(1)
        y = 0.299 * r + 0.587 * g + 0.114 * b
        return torch.stack([b - y, r - y], 1)

    inside = (kept > 0.01) & (kept < 0.99)  # away from clipping, chroma is the input's
    assert (chroma(kept) - chroma(x)).abs()[inside.all(1)[:, None].expand(-1, 2, -1, -1)].max() < 0.02
    assert (chroma(full) - chroma(x)).abs().mean() > 2 * (chroma(kept) - chroma(x)).abs().mean()
    with pytest.raises(ValueError):
        percepta.stylize(x, model_file, strength=1.5)


def test_preserve_color_keeps_luminance() -> None:
    rng = np.random.default_rng(0)
    styled, original = rng.random((1, 3, 8, 8), np.float32), rng.random((1, 3, 8, 8), np.float32)
    out = keep_colors(styled, original)
    lum = lambda t: 0.299 * t[:, 0] + 0.587 * t[:, 1] + 0.114 * t[:, 2]  # noqa: E731
    ok = ((out > 0) & (out < 1)).all(1)
    assert np.allclose(lum(out)[ok], lum(styled)[ok], atol=2e-3)


def test_cli_keeps_alpha_exif_and_folders(model_file, tmp_path, capsys) -> None:
    rgba = Image.open(LANDSCAPE).convert("RGBA").resize((61, 45))
    alpha = Image.linear_gradient("L").resize((61, 45))
    rgba.putalpha(alpha)
    rgba.save(tmp_path / "a.png")
    rotated = Image.open(CITY).convert("RGB").resize((80, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    rotated.save(tmp_path / "r.jpg", exif=exif)
    out = tmp_path / "out"
    assert (
        main(["stylize", str(tmp_path / "a.png"), str(tmp_path / "r.jpg"), "-m", str(model_file), "-o", str(out)]) == 0
    )
    a = load_image(out / "a.png")
    assert a.size == (61, 45) and a.alpha is not None
    assert np.abs(np.asarray(a.alpha, dtype=int) - np.asarray(alpha, dtype=int)).max() <= 1
    assert load_image(out / "r.jpg").size == (40, 80)  # upright, as displayed
    folder_out = tmp_path / "out2"
    assert main(["stylize", str(tmp_path), "-m", str(model_file), "-o", str(folder_out), "--max-size", "32"]) == 0
    written = sorted(str(p.relative_to(folder_out)) for p in folder_out.rglob("*") if p.is_file())
    assert written == ["a.png", "out/a.png", "out/r.jpg", "r.jpg"]  # subfolders mirrored, nothing flattened


def test_models_command_lists_bundled(capsys) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in BUNDLED_ALL:
        assert name in out


def test_at_least_four_bundled_style_models() -> None:
    assert len(BUNDLED) >= 4 and all(percepta.load_model(n).task == "style" for n in BUNDLED)
    assert set(BUNDLED_ALL) <= set(available_models())
    assert {"sr_x4_feat", "sr_x4_pixel", "sr_x8_feat"} <= set(BUNDLED_ALL)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_model_carries_its_style(name: str, lossnet) -> None:
    """A shipped model moves a photo towards its painting's style and keeps the content recognisable."""
    model = percepta.load_model(name)
    meta = model.meta
    assert meta["iterations"] > 0 and meta["style_image"] and meta["final_losses"]["total"] > 0
    city = photo(CITY, 128)
    styled = percepta.stylize(city, model)
    style = to_tensor(Image.open(STYLES / meta["style_image"]).convert("RGB").resize((128, 128)))
    loss = PerceptualLoss(LossWeights(content=0.0, tv=0.0), lossnet)
    loss.set_style(style)
    assert loss(styled).total < 0.7 * loss(city).total  # closer to the painting's Grams (measured 0.16-0.30)
    # the city stays recognisable: in relu2_2 features its own photo is the nearest of the test photos
    content = PerceptualLoss(LossWeights(style=0.0, tv=0.0), lossnet)
    others = [photo(p, 128) for p in sorted(PHOTOS.glob("*.jpg")) if p != CITY]
    assert content(styled, city).total < min(content(styled, other).total for other in others)


def test_max_size_applies_to_tensors_too() -> None:
    """Video frames arrive as tensors: --max-size downscales them as it does PIL images (never up)."""
    x = photo(CITY, 60, square=False)  # 107 x 60
    assert percepta.stylize(x, "wave", max_size=50).shape[-2:] == (28, 50)
    assert percepta.stylize(x[0], "wave", max_size=500).shape == x[0].shape
