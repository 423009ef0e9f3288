"""Tests for percepta.image: decoding edge cases, saving, tensor conversion."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from percepta import image as pimg
from percepta.errors import ImageError, PerceptaError

from .conftest import PHOTOS


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """A 64x48 RGB crop of a real photo (non-square, so rotations show)."""
    with Image.open(PHOTOS / "opencv_baboon.jpg") as im:
        return im.convert("RGB").crop((100, 50, 164, 98))


def arr(im: Image.Image) -> np.ndarray:
    return np.asarray(im).astype(np.int16)


def with_orientation(value: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif


@pytest.mark.parametrize("value, method", [(6, Image.Transpose.ROTATE_270), (8, Image.Transpose.ROTATE_90)])
def test_exif_orientation_png_exact(tmp_path, photo, value, method):
    p = tmp_path / "o.png"
    photo.save(p, exif=with_orientation(value))
    got = pimg.load_image(p)
    assert got.size == (48, 64)
    assert np.array_equal(arr(got.rgb), arr(photo.transpose(method)))
    assert got.alpha is None and got.path == str(p)


@pytest.mark.parametrize("value, method", [(6, Image.Transpose.ROTATE_270), (8, Image.Transpose.ROTATE_90)])
def test_exif_orientation_jpeg(tmp_path, photo, value, method):
    p = tmp_path / "o.jpg"
    photo.save(p, quality=95, exif=with_orientation(value))
    rgb = pimg.load_rgb(p)
    assert rgb.size == (48, 64) and rgb.mode == "RGB"
    assert np.abs(arr(rgb) - arr(photo.transpose(method))).mean() < 6


def test_greyscale_to_rgb(tmp_path, photo):
    grey = photo.convert("L")
    grey.save(tmp_path / "g.png")
    rgb = pimg.load_rgb(tmp_path / "g.png")
    a = arr(rgb)
    assert rgb.mode == "RGB" and np.array_equal(a[..., 0], arr(grey))
    assert np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 1], a[..., 2])


def test_16bit_greyscale_scaled_not_clipped(tmp_path):
    p = tmp_path / "g16.png"
    Image.fromarray(np.array([[65535, 32768], [0, 257]], dtype=np.uint16)).save(p)
    with Image.open(p) as im:
        assert im.mode in ("I;16", "I")  # really stored as 16-bit
    rgb = pimg.load_rgb(p)
    assert arr(rgb)[..., 0].tolist() == [[255, 128], [0, 1]]


def test_16bit_real_content(tmp_path, photo):
    grey = arr(photo.convert("L")).astype(np.uint16)
    Image.fromarray(grey * 257).save(tmp_path / "g16.png")
    assert np.array_equal(arr(pimg.load_rgb(tmp_path / "g16.png"))[..., 1], grey)


def test_float_image(tmp_path):
    p = tmp_path / "f.tif"
    Image.fromarray(np.array([[0.0, 0.5], [1.0, 0.25]], dtype=np.float32)).save(p)
    assert arr(pimg.load_rgb(p))[..., 2].tolist() == [[0, 128], [255, 64]]


def test_palette_transparency_to_alpha(tmp_path, photo):
    pal = photo.quantize(16)
    idx = np.asarray(pal)
    pal.save(tmp_path / "p.png", transparency=int(idx[0, 0]))
    got = pimg.load_image(tmp_path / "p.png")
    assert got.alpha is not None and got.alpha.mode == "L" and got.alpha.size == got.size
    assert np.array_equal(np.asarray(got.alpha), np.where(idx == idx[0, 0], 0, 255))
    assert np.array_equal(arr(got.rgb), arr(pal.convert("RGB")))


def test_gif_first_frame(tmp_path, photo):
    frames = [photo.quantize(32), photo.transpose(Image.Transpose.ROTATE_180).quantize(32)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    rgb = pimg.load_rgb(tmp_path / "a.gif")
    assert np.array_equal(arr(rgb), arr(frames[0].convert("RGB")))


def test_rgba_roundtrip_png(tmp_path, photo):
    alpha = Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1)))
    p = tmp_path / "out" / "deep" / "a.png"  # parents are created
    pimg.save_image(photo, p, alpha=alpha)
    got = pimg.load_image(p)
    assert np.array_equal(arr(got.rgb), arr(photo))
    assert got.alpha is not None and np.array_equal(arr(got.alpha), arr(alpha))


def test_la_source(tmp_path, photo):
    Image.merge("LA", [photo.convert("L"), photo.getchannel("R")]).save(tmp_path / "la.png")
    got = pimg.load_image(tmp_path / "la.png")
    assert np.array_equal(arr(got.alpha), arr(photo.getchannel("R")))


def test_alpha_resized_to_upscaled_rgb(tmp_path, photo):
    alpha = Image.new("L", photo.size, 255)
    alpha.paste(0, (0, 0, 32, 48))  # left half transparent
    big = photo.resize((128, 96))
    pimg.save_image(big, tmp_path / "sr.webp", alpha=alpha)  # WebP holds alpha too
    pimg.save_image(big, tmp_path / "sr.png", alpha=alpha)
    got = pimg.load_image(tmp_path / "sr.png")
    a = arr(got.alpha)
    assert got.alpha.size == (128, 96) and a[:, :56].max() == 0 and a[:, 72:].min() == 255
    assert pimg.load_image(tmp_path / "sr.webp").alpha.size == (128, 96)


def test_alpha_dropped_for_jpeg_and_bmp(tmp_path, photo):
    for name in ("x.jpg", "x.bmp"):
        pimg.save_image(photo, tmp_path / name, alpha=Image.new("L", photo.size, 0))
        with Image.open(tmp_path / name) as im:
            assert im.mode == "RGB"
    assert np.array_equal(arr(pimg.load_rgb(tmp_path / "x.bmp")), arr(photo))


def test_cmyk_jpeg(tmp_path, photo):
    photo.convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    with Image.open(tmp_path / "c.jpg") as im:
        assert im.mode == "CMYK"
    assert np.abs(arr(pimg.load_rgb(tmp_path / "c.jpg")) - arr(photo)).mean() < 4
    # a broken embedded profile falls back to Pillow's conversion instead of failing
    photo.convert("CMYK").save(tmp_path / "bad.jpg", quality=95, icc_profile=b"not an icc profile")
    with pytest.warns(UserWarning, match="colour profile"):
        assert np.abs(arr(pimg.load_rgb(tmp_path / "bad.jpg")) - arr(photo)).mean() < 4


@pytest.mark.parametrize(
    "name, opts",
    [("a.webp", {"lossless": True}), ("a.bmp", {}), ("a.tif", {}), ("a.tiff", {"compression": "tiff_lzw"})],
)
def test_lossless_formats_load_exactly(tmp_path, photo, name, opts):
    photo.save(tmp_path / name, **opts)
    assert np.array_equal(arr(pimg.load_rgb(tmp_path / name)), arr(photo))


@pytest.mark.parametrize("name", ["a.png", "a.jpg", "a.webp", "a.bmp", "a.tif", "a.TIFF", "a.jpeg"])
def test_save_formats(tmp_path, photo, name):
    pimg.save_image(photo, tmp_path / name)
    with Image.open(tmp_path / name) as im:
        assert im.format == pimg.SAVE_FORMATS[Path(name).suffix.lower()] and im.size == photo.size


def one_line_error(path, **kw) -> str:
    with pytest.raises(ImageError) as ei:
        pimg.load_image(path, **kw)
    msg = str(ei.value)
    assert "\n" not in msg and str(path) in msg and isinstance(ei.value, PerceptaError)
    return msg


def test_truncated_jpeg(tmp_path, photo):
    full = tmp_path / "full.jpg"
    photo.resize((256, 192)).save(full, quality=95)
    data = full.read_bytes()
    (tmp_path / "half.jpg").write_bytes(data[: len(data) // 2])
    assert "truncated" in one_line_error(tmp_path / "half.jpg")


def test_bad_files(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("hello\nworld\n")
    assert "empty" in one_line_error(tmp_path / "empty.png")
    assert "not a recognised image" in one_line_error(tmp_path / "notes.jpg")
    assert "not found" in one_line_error(tmp_path / "missing.png")
    assert "directory" in one_line_error(tmp_path)


def test_too_many_pixels_checked_before_decoding(tmp_path, photo):
    p = tmp_path / "big.png"
    photo.save(p)
    msg = one_line_error(p, max_pixels=1000)
    assert "64x48" in msg and "1000" in msg
    # header intact, pixel data cut off: the size check must fire before any decoding
    (tmp_path / "cut.png").write_bytes(p.read_bytes()[:100])
    assert "limit" in one_line_error(tmp_path / "cut.png", max_pixels=1000)
    assert "truncated" in one_line_error(tmp_path / "cut.png")


@pytest.mark.parametrize("limit", [2000, 1000])  # Pillow's warning, then its error
def test_pillow_decompression_bomb_guard(tmp_path, photo, monkeypatch, limit):
    photo.save(tmp_path / "b.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    assert "too large" in one_line_error(tmp_path / "b.png")


def test_save_errors(tmp_path, photo):
    with pytest.raises(ImageError, match=r"\.png") as ei:
        pimg.save_image(photo, tmp_path / "out.gifx")
    assert "\n" not in str(ei.value)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ImageError) as ei:
        pimg.save_image(photo, tmp_path / "afile" / "out.png")  # parent is a file
    assert "\n" not in str(ei.value)
    with pytest.raises(ImageError):
        pimg.save_image(photo, tmp_path / "q.jpg", quality=0)


def test_atomic_save_leaves_nothing_behind(tmp_path, photo, monkeypatch):
    target = tmp_path / "out.png"
    pimg.save_image(photo, target)
    before = target.read_bytes()
    pimg.save_image(photo.transpose(Image.Transpose.ROTATE_180), target)  # overwrite
    assert os.listdir(tmp_path) == ["out.png"] and target.read_bytes() != before

    def broken_save(self, fp, *a, **k):
        fp.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    kept = target.read_bytes()
    with pytest.raises(ImageError, match="disk full"):
        pimg.save_image(photo, target)
    with pytest.raises(ImageError):
        pimg.save_image(photo, tmp_path / "new.png")
    assert os.listdir(tmp_path) == ["out.png"] and target.read_bytes() == kept


def test_tensor_roundtrip_exact(photo):
    import torch

    t = pimg.to_tensor(photo)
    assert t.shape == (1, 3, 48, 64) and t.dtype == torch.float32
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0
    assert np.array_equal(arr(pimg.to_pil(t)), arr(photo))
    assert np.array_equal(arr(pimg.to_pil(t[0].requires_grad_())), arr(photo))


def test_to_pil_clamps_and_rounds():
    import torch

    t = torch.tensor([-0.5, 1.5, 127.6 / 255, 127.4 / 255]).view(1, 1, 4).expand(3, 1, 4)
    assert arr(pimg.to_pil(t))[0, :, 0].tolist() == [0, 255, 128, 127]
    with pytest.raises(ValueError):
        pimg.to_pil(torch.zeros(2, 3, 4, 4))
