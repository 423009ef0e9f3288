"""The look measures of issue 23 (`percepta.lookmetrics`): change and motif scale, against independent
computations on tiny synthetic images."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageFilter

from percepta.lookmetrics import JUDGE_WIDTH, change, luminance, motif_scale


def stripes(width: int, height: int, wavelength: float, angle: float = 0.0) -> np.ndarray:
    """An RGB float image (0..1) of a grey sinusoid of ``wavelength`` px across direction ``angle``."""
    yy, xx = np.mgrid[0:height, 0:width].astype(float)
    along = xx * math.cos(angle) + yy * math.sin(angle)
    grey = 0.5 + 0.3 * np.sin(2 * math.pi * along / wavelength)
    return np.repeat(grey[:, :, None], 3, axis=2)


def slow_motif_scale(rgb: np.ndarray, max_wavelength: float = 256.0) -> float:
    """The definition written out with loops: BT.601 luminance, mean removed, Hann window from its formula,
    a DFT by direct sums, the energy-weighted mean radial frequency over bins with 1/f <= max_wavelength,
    as a wavelength."""
    h, w, _ = rgb.shape
    y = 0.299 * rgb[:, :, 0] + 0.587 * rgb[:, :, 1] + 0.114 * rgb[:, :, 2]
    y = y - y.mean()

    def hann(n: int) -> list[float]:
        return [1.0] if n == 1 else [0.5 - 0.5 * math.cos(2 * math.pi * i / (n - 1)) for i in range(n)]

    wy, wx = hann(h), hann(w)
    weighted_f = total = 0.0
    for u in range(h):
        for v in range(w):
            fy = (u if u <= (h - 1) // 2 else u - h) / h  # the signed frequency of bin u, cycles per pixel
            fx = (v if v <= (w - 1) // 2 else v - w) / w
            f = math.hypot(fx, fy)
            if f == 0 or 1 / f > max_wavelength:
                continue
            phase = [[-2 * math.pi * (fy * r + fx * c) for c in range(w)] for r in range(h)]
            coefficient = sum(
                y[r, c] * wy[r] * wx[c] * complex(math.cos(phase[r][c]), math.sin(phase[r][c]))
                for r in range(h)
                for c in range(w)
            )
            energy = abs(coefficient) ** 2
            weighted_f += energy * f
            total += energy
    return total / weighted_f


def test_motif_scale_matches_a_direct_computation_on_a_tiny_image() -> None:
    rgb = np.random.default_rng(0).random((9, 12, 3))
    assert motif_scale(rgb, width=None) == pytest.approx(slow_motif_scale(rgb), rel=1e-9)
    # and with a wavelength cut that leaves some bins out (here everything longer than 4 px)
    assert motif_scale(rgb, width=None, max_wavelength=4.0) == pytest.approx(slow_motif_scale(rgb, 4.0), rel=1e-9)
    assert motif_scale(rgb, width=None, max_wavelength=4.0) < motif_scale(rgb, width=None)


@pytest.mark.parametrize(("wavelength", "angle"), [(32.0, 0.0), (12.0, math.pi / 2), (20.0, 0.6), (60.0, 0.0)])
def test_a_sinusoid_gives_its_wavelength(wavelength: float, angle: float) -> None:
    image = stripes(512, 384, wavelength, angle)
    assert motif_scale(image) == pytest.approx(wavelength, rel=0.03)


def test_the_output_is_judged_at_512_px_wide() -> None:
    # stripes of 16 px on a 256 px wide image are 32 px once it is judged 512 px wide; at its own size, 16
    image = stripes(256, 192, 16.0)
    assert luminance(image).shape == (384, JUDGE_WIDTH)
    assert motif_scale(image) == pytest.approx(32.0, rel=0.03)
    assert motif_scale(image, width=None) == pytest.approx(16.0, rel=0.03)
    # structures longer than 256 px (at the judged size) are left out: a lone 300 px wave has no energy left
    # but the window's spread around it
    assert motif_scale(stripes(512, 384, 300.0)) < 300.0


def test_blur_lengthens_the_wavelength() -> None:
    noise = (np.random.default_rng(1).random((256, 512, 3)) * 255).astype(np.uint8)
    sharp = Image.fromarray(noise)
    blurred = sharp.filter(ImageFilter.GaussianBlur(3))
    assert motif_scale(blurred) > 2 * motif_scale(sharp)


def test_change_of_an_image_with_itself_is_zero() -> None:
    photo = Image.fromarray((np.random.default_rng(2).random((60, 80, 3)) * 255).astype(np.uint8))
    assert change(photo, photo) == 0.0
    assert change(np.asarray(photo), photo) == 0.0  # arrays (uint8) and PIL images alike


def test_change_of_a_known_offset() -> None:
    photo = np.random.default_rng(3).uniform(0.2, 0.7, (48, 64, 3))
    # BT.601 weights sum to 1: adding 0.1 to every channel adds 0.1 to the luminance everywhere
    assert change(photo + 0.1, photo) == pytest.approx(0.1, abs=1e-6)
    assert change(photo + 0.1, photo, width=None) == pytest.approx(0.1, abs=1e-12)
    # only the red channel: 0.299 * 0.2
    red = photo.copy()
    red[:, :, 0] += 0.2
    assert change(red, photo, width=None) == pytest.approx(0.299 * 0.2, abs=1e-12)


def test_change_matches_a_direct_computation_and_pairs_sizes() -> None:
    rng = np.random.default_rng(4)
    output, photo = rng.random((5, 7, 3)), rng.random((5, 7, 3))
    lum = [0.299 * a[:, :, 0] + 0.587 * a[:, :, 1] + 0.114 * a[:, :, 2] for a in (output, photo)]
    expected = math.sqrt(sum((a - b) ** 2 for a, b in zip(lum[0].ravel(), lum[1].ravel())) / 35)
    assert change(output, photo, width=None) == pytest.approx(expected, rel=1e-12)
    # a photo of another size is resized to the output's judged size: a flat grey photo at any size
    grey = np.full((100, 150, 3), 0.5)
    assert change(np.full((30, 40, 3), 0.75), grey) == pytest.approx(0.25, abs=1e-6)


def test_flat_image_and_bad_input() -> None:
    assert math.isnan(motif_scale(np.full((20, 30, 3), 0.5)))
    with pytest.raises(ValueError, match="H x W x 3"):
        change(np.zeros((4, 4)), np.zeros((4, 4)))
