"""Losses follow the paper's equations 2-5 exactly, including their normalisation."""

from __future__ import annotations

import pytest
import torch

from percepta.losses import (
    LossWeights,
    PerceptualLoss,
    feature_reconstruction_loss,
    gram_matrix,
    pixel_loss,
    style_reconstruction_loss,
    total_variation,
)
from percepta.lossnet import VGG16LossNetwork


def test_feature_loss_is_squared_distance_over_chw() -> None:
    a, b = torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4)
    b[0, 1, 2, 3] = 3.0  # one element differs by 3: ||.||^2 = 9, C*H*W = 24
    assert feature_reconstruction_loss(a, b).item() == pytest.approx(9 / 24)
    # averaged over the batch: a second, identical pair halves it
    assert feature_reconstruction_loss(torch.cat([a, a]), torch.cat([b, a])).item() == pytest.approx(9 / 48)


def test_gram_matrix_normalised_by_chw() -> None:
    f = torch.arange(12, dtype=torch.float32).reshape(1, 2, 2, 3)
    psi = f.reshape(2, 6)
    assert torch.allclose(gram_matrix(f)[0], psi @ psi.T / 12)
    # Grams do not depend on the spatial size: a 2x2 tiling of a feature map has the same Gram
    tiled = f.repeat(1, 1, 2, 2)
    assert torch.allclose(gram_matrix(tiled), gram_matrix(f))


def test_style_loss_is_squared_frobenius_norm() -> None:
    g1, g2 = torch.zeros(1, 3, 3), torch.zeros(1, 3, 3)
    g2[0, 0, 1], g2[0, 2, 2] = 2.0, 1.0
    assert style_reconstruction_loss(g1, g2).item() == pytest.approx(5.0)
    assert style_reconstruction_loss(g1, g2, "mean").item() == pytest.approx(5.0 / 9)
    # a (1, C, C) target broadcasts over a batch; the loss is the batch mean
    assert style_reconstruction_loss(torch.cat([g1, g2]), g2).item() == pytest.approx(2.5)


def test_pixel_and_tv() -> None:
    a = torch.zeros(1, 3, 2, 2)
    b = a.clone()
    b[0, 0, 0, 0] = 0.5
    assert pixel_loss(a, b).item() == pytest.approx(0.25 / 12)
    step = torch.zeros(1, 1, 2, 2)
    step[..., 1] = 1.0  # a vertical edge: horizontal differences are 255, vertical ones 0
    assert total_variation(step).item() == pytest.approx(255.0**2)
    assert total_variation(torch.full((1, 3, 8, 8), 0.3)).item() == 0.0


def test_perceptual_loss_combines_weighted_terms(lossnet: VGG16LossNetwork, content64, wave64) -> None:
    w = LossWeights(content=2.0, style=3e-4, tv=0.5)
    loss = PerceptualLoss(w, lossnet)
    loss.set_style(wave64)
    out = content64.flip(-1)
    terms = loss(out, content64)
    f_out, f_c, f_s = lossnet(out), lossnet(content64), lossnet(wave64)
    content = feature_reconstruction_loss(f_out["relu2_2"], f_c["relu2_2"])
    style = sum(
        style_reconstruction_loss(gram_matrix(f_out[k]), gram_matrix(f_s[k]))
        for k in ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    )
    assert terms.parts["content"].item() == pytest.approx(2.0 * content.item(), rel=1e-5)
    assert terms.parts["style"].item() == pytest.approx(3e-4 * style.item(), rel=1e-5)
    assert terms.parts["tv"].item() == pytest.approx(0.5 * total_variation(out).item(), rel=1e-5)
    assert terms.total.item() == pytest.approx(sum(v.item() for v in terms.parts.values()), rel=1e-6)
    assert loss(content64, content64).parts["content"].item() == 0.0


def test_style_octaves_add_the_halved_images_style_loss(lossnet: VGG16LossNetwork, content64, wave64) -> None:
    """``style_octaves=2``: eq. 4 on the images as given plus eq. 4 on both halved (antialiased), no more."""
    import numpy as np
    from PIL import Image

    w = LossWeights(content=0.0, tv=0.0, style=1.0, gram_reduction="mean")
    plain, octaves = PerceptualLoss(w, lossnet), PerceptualLoss(LossWeights(**{**vars(w), "style_octaves": 2}), lossnet)
    plain.set_style(wave64)
    octaves.set_style(wave64)
    out = content64.flip(-1)

    def halved(t: torch.Tensor) -> torch.Tensor:  # an independent halving: Pillow's antialiased bilinear
        arrays = (t.permute(0, 2, 3, 1).numpy() * 255).astype("float32")
        small = [Image.fromarray(a[..., c], mode="F").resize((a.shape[1] // 2, a.shape[0] // 2), Image.BILINEAR)
                 for a in arrays for c in range(3)]  # fmt: skip
        return torch.tensor(np.stack([np.asarray(i) for i in small])).reshape(t.shape[0], 3, *small[0].size[::-1]) / 255

    f_out, f_s = lossnet(halved(out)), lossnet(halved(wave64))
    coarse = sum(style_reconstruction_loss(gram_matrix(f_out[k]), gram_matrix(f_s[k]), "mean")
                 for k in ("relu1_2", "relu2_2", "relu3_3", "relu4_3"))  # fmt: skip
    expected = plain(out).parts["style"].item() + coarse.item()
    assert octaves(out).parts["style"].item() == pytest.approx(expected, rel=1e-3)
    assert octaves(out).parts["style"].item() > plain(out).parts["style"].item() * 1.05
    with pytest.raises(ValueError, match="style_octaves"):
        LossWeights(style_octaves=0)


def test_style_targets_serve_any_size_and_batch(lossnet: VGG16LossNetwork, content64, wave64) -> None:
    loss = PerceptualLoss(LossWeights(content=0.0, tv=0.0), lossnet)
    loss.set_style(wave64)
    single = loss(content64).total.item()
    batch = loss(content64.repeat(3, 1, 1, 1)).total.item()
    assert batch == pytest.approx(single, rel=1e-5)
    larger = torch.nn.functional.interpolate(content64, size=(96, 80), mode="bilinear")
    assert loss(larger).total.item() > 0


def test_content_target_uses_only_shallow_layers(lossnet: VGG16LossNetwork, content64) -> None:
    feats = PerceptualLoss(LossWeights(), lossnet).content_features(content64)
    assert set(feats) == {"relu2_2"}


def test_style_loss_prefers_the_style(lossnet: VGG16LossNetwork, content64, wave64) -> None:
    loss = PerceptualLoss(LossWeights(content=0.0, tv=0.0), lossnet)
    loss.set_style(wave64)
    assert loss(wave64.flip(-1)).total.item() < 0.5 * loss(content64).total.item()


# --- every loss on every device and dtype, against an independent formula, with gradcheck -----------------

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DTYPES = [torch.float32, torch.float64]


def _features(device: str, dtype: torch.dtype, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 3, 5, 4, generator=g).to(device, dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_losses_match_their_equations_on_any_device_and_dtype(device: str, dtype: torch.dtype) -> None:
    a, b = _features(device, dtype, 0), _features(device, dtype, 1)
    n, c, h, w = a.shape
    tol = {"rtol": 1e-5 if dtype == torch.float32 else 1e-12, "atol": 0}
    # eq. 2 and eq. 5: ||a - b||^2 / (C H W), averaged over the batch
    expected = sum(((a[i] - b[i]) ** 2).sum() for i in range(n)) / (n * c * h * w)
    for fn in (feature_reconstruction_loss, pixel_loss):
        out = fn(a, b)
        assert out.dtype == dtype and out.device.type == device
        torch.testing.assert_close(out, expected, **tol)
    # eq. 3: G[i, j] = sum over positions of F_i F_j / (C H W), written out with einsum
    gram = gram_matrix(a)
    torch.testing.assert_close(gram, torch.einsum("nihw,njhw->nij", a, a) / (c * h * w), **tol)
    # eq. 4: squared Frobenius norm of the Gram difference, batch mean; "mean" divides by C^2
    diff = gram - gram_matrix(b)
    torch.testing.assert_close(style_reconstruction_loss(gram, gram_matrix(b)), (diff**2).sum() / n, **tol)
    torch.testing.assert_close(
        style_reconstruction_loss(gram, gram_matrix(b), "mean"), (diff**2).sum() / (n * c * c), **tol
    )
    # TV: mean squared neighbour differences on the 0..255 scale
    dy = torch.stack([(a[..., i + 1, :] - a[..., i, :]) for i in range(h - 1)]) * 255
    dx = torch.stack([(a[..., j + 1] - a[..., j]) for j in range(w - 1)]) * 255
    torch.testing.assert_close(total_variation(a), (dy**2).mean() + (dx**2).mean(), **tol)


@pytest.mark.parametrize("device", DEVICES)
def test_loss_gradients(device: str) -> None:
    a = _features(device, torch.float64, 2).requires_grad_(True)
    b = _features(device, torch.float64, 3)
    target = gram_matrix(b)
    checks = {
        "feature": lambda x: feature_reconstruction_loss(x, b),
        "gram": gram_matrix,
        "style": lambda x: style_reconstruction_loss(gram_matrix(x), target),
        "style mean": lambda x: style_reconstruction_loss(gram_matrix(x), target, "mean"),
        "pixel": lambda x: pixel_loss(x, b),
        "tv": total_variation,
    }
    for name, fn in checks.items():
        assert torch.autograd.gradcheck(fn, (a,)), name
