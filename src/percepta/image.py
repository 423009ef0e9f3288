"""Images for percepta: formats, decoding and encoding, folders of images, resizing (Pillow + numpy).

Every user-facing failure raises :class:`percepta.errors.ImageError` with a one-line
message that names the file.  Decoding normalises any supported source to an 8-bit
RGB image plus an optional 8-bit alpha plane, with EXIF orientation applied. This module is the one
place that knows the file formats (:data:`IMAGE_SUFFIXES`, :data:`SAVE_FORMATS`), walks folders for
images (:func:`images_in`) and resizes (:func:`resize_long_side`, :func:`resize_short_side`,
:func:`center_square`). torch is imported only by the tensor conversions.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from struct import error as struct_error
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import ImageError, ImageTooLargeError, PerceptaError
from .fsutil import atomic_write
from .limits import MAX_PIXELS  # width*height, checked from the header before any pixel is decoded

if TYPE_CHECKING:  # torch is imported lazily: decoding alone should not pay for it
    import torch

SAVE_FORMATS: dict[str, str] = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
"""Output extension (lower case) -> Pillow format name."""

IMAGE_SUFFIXES: frozenset[str] = frozenset({*SAVE_FORMATS, ".gif"})
"""Input extensions (lower case) found in folders: every format :func:`load_image` reads (GIF: first frame)."""

_ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF"})
# EXIF orientation -> transpose that brings the image upright (as ImageOps.exif_transpose).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _fail(path: str | os.PathLike, cause: object, error: type[ImageError] = ImageError) -> ImageError:
    return error(_one_line(f"{os.fspath(path)}: {cause}"))


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image: 8-bit RGB, optional 8-bit alpha ("L", same size), source path."""

    rgb: Image.Image
    alpha: Image.Image | None = None
    path: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image."""
        return self.rgb.size


def _grey_to_8bit(im: Image.Image) -> Image.Image:
    """Scale a 16/32-bit integer or float greyscale image to 8-bit "L" (no clipping of 16-bit)."""
    a = np.asarray(im)
    if im.mode == "F":
        # Float data: assumed to be 0..1 when max <= 1, else 0..255 (then clipped).
        a = np.nan_to_num(a.astype(np.float64))
        if a.size and a.max() <= 1.0:
            a = a * 255.0
    else:
        # I;16* and I: assumed 16-bit range 0..65535 (values outside it are clipped).
        a = np.clip(a.astype(np.float64), 0, 65535) * (255.0 / 65535.0)
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))


def _grey_transparency(im: Image.Image) -> Image.Image | None:
    """Alpha plane from a greyscale tRNS colour key (info["transparency"] is an int)."""
    key = im.info.get("transparency")
    if not isinstance(key, int):
        return None
    return Image.fromarray(np.where(np.asarray(im) == key, 0, 255).astype(np.uint8))


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    """CMYK -> RGB through the embedded ICC profile when there is a usable one, else Pillow's formula."""
    icc = im.info.get("icc_profile")
    if icc:
        from PIL import ImageCms

        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            out = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            if out is not None:
                return out
        except (OSError, ValueError, ImageCms.PyCMSError) as exc:  # a broken profile: Pillow's formula instead
            warnings.warn(f"ignoring an unusable CMYK colour profile ({_one_line(exc)})", stacklevel=2)
    return im.convert("RGB")


def _lab_to_rgb(im: Image.Image) -> Image.Image:
    from PIL import ImageCms

    lab, srgb = ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB")
    return ImageCms.applyTransform(im, ImageCms.buildTransform(lab, srgb, "LAB", "RGB"))


def _split(im: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """Convert a decoded image of any supported mode to (RGB, alpha-or-None)."""
    mode = im.mode
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or (mode in ("P", "RGB", "L", "1") and "transparency" in im.info):
        rgba = im.convert("RGBA")
        return rgba.convert("RGB"), rgba.getchannel("A")
    if mode in ("RGB", "RGBX", "P", "L", "1", "YCbCr", "HSV"):
        return im.convert("RGB"), None
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _grey_to_8bit(im).convert("RGB"), (None if mode == "F" else _grey_transparency(im))
    if mode == "CMYK":
        return _cmyk_to_rgb(im), None
    if mode == "LAB":
        return _lab_to_rgb(im), None
    raise ValueError(f"unsupported image mode {mode!r}")


def load_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Decode the first frame of an image file to a :class:`LoadedImage`.

    Raises ImageError (one line, naming the file) if the file is missing, a directory,
    empty, not an image, truncated/corrupt, larger than ``max_pixels`` or of an
    unsupported mode.  The pixel limit is checked from the header before decoding; going over it
    (or over Pillow's decompression-bomb guard) raises the subclass :class:`ImageTooLargeError`.
    Conversions: L/1/P/YCbCr/HSV/LAB -> RGB; RGBA/LA/P or L with transparency -> RGB +
    alpha; 16-bit grey scaled by 255/65535 (rounded); 32-bit float grey taken as 0..1
    if its max is <= 1, else 0..255; CMYK through its embedded ICC profile if any.
    """
    p = Path(path)
    try:
        if not p.exists():
            raise _fail(p, "file not found")
        if p.is_dir():
            raise _fail(p, "is a directory, not an image file")
        if p.stat().st_size == 0:
            raise _fail(p, "file is empty (0 bytes)")
    except OSError as e:
        raise _fail(p, f"cannot access file ({e.strerror or e})") from e
    return _decode(p, os.fspath(p), max_pixels, os.fspath(path))


def decode_image(data: bytes, name: str = "image", max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """:func:`load_image` for an image held in memory (an upload): the same checks, conversions and errors,
    which name the image ``name``; an empty ``data`` is an :class:`ImageError` too."""
    if not data:
        raise _fail(name, "file is empty (0 bytes)")
    return _decode(io.BytesIO(data), name, max_pixels, name)


def _decode(source: Path | io.BytesIO, p: str, max_pixels: int, path: str) -> LoadedImage:
    """Decode ``source`` (a file, or bytes in memory) as :func:`load_image` describes; errors name ``p``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as im:
                w, h = im.size
                if w * h > max_pixels:
                    why = f"image is {w}x{h} = {w * h} pixels, over the limit of {max_pixels} pixels"
                    raise _fail(p, why, ImageTooLargeError)
                try:
                    im.load()  # full decode: detects truncation and corruption
                except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct_error) as e:
                    raise _fail(p, f"truncated or corrupt image data ({_one_line(e)})") from e
                try:
                    orientation = im.getexif().get(0x0112)
                except Exception:  # noqa: BLE001 -- any unreadable EXIF block: the image is taken as upright
                    orientation = None
                try:
                    rgb, alpha = _split(im)
                except ValueError as e:
                    raise _fail(p, f"{e}") from e
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise _fail(p, f"image is too large (decompression-bomb guard: {_one_line(e)})", ImageTooLargeError) from e
    except UnidentifiedImageError as e:
        raise _fail(p, "not a recognised image file (supported: JPEG, PNG, WebP, BMP, TIFF, GIF)") from e
    except OSError as e:
        cause = e.strerror or f"truncated or corrupt image data ({_one_line(e)})"
        raise _fail(p, f"cannot read image: {cause}") from e
    except Exception as e:  # any other decoder failure is a corrupt file
        raise _fail(p, f"cannot decode image ({type(e).__name__}: {_one_line(e)})") from e
    method = _ORIENTATION.get(orientation) if isinstance(orientation, int) else None
    if method is not None:
        rgb = rgb.transpose(method)
        alpha = alpha.transpose(method) if alpha is not None else None
    rgb.info.clear()  # drop EXIF/ICC so a later save cannot re-rotate or re-tag the pixels
    return LoadedImage(rgb=rgb, alpha=alpha, path=path)


def load_rgb(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode an image file to 8-bit RGB (alpha discarded); see :func:`load_image`."""
    return load_image(path, max_pixels).rgb


#: JPEG and WebP quality of written images and of the server's results
JPEG_QUALITY = 95


def image_size(data: bytes, name: str = "image", max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """(width, height) of an image in memory from its header alone, with :func:`decode_image`'s limits and
    messages: the quick check an upload gets before a worker decodes its pixels."""
    if not data:
        raise _fail(name, "file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit below decides
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
    except Image.DecompressionBombError as e:
        raise _fail(name, f"image is too large (decompression-bomb guard: {_one_line(e)})", ImageTooLargeError) from e
    except UnidentifiedImageError as e:
        raise _fail(name, "not a recognised image file (supported: JPEG, PNG, WebP, BMP, TIFF, GIF)") from e
    except Exception as e:
        raise _fail(name, f"truncated or corrupt image header ({type(e).__name__}: {_one_line(e)})") from e
    if w * h > max_pixels:
        raise _fail(name, f"image is {w}x{h} = {w * h} pixels, over the limit of {max_pixels} pixels",
                    ImageTooLargeError)  # fmt: skip
    return w, h


def encode_image(rgb: Image.Image, alpha: Image.Image | None = None, fmt: str = "PNG",
                 quality: int = JPEG_QUALITY) -> bytes:  # fmt: skip
    """``rgb`` as the bytes of an image file in ``fmt`` (a Pillow format name, e.g. ``PNG``, ``JPEG``; ``jpg`` and
    lower case accepted). ``alpha`` is put back for PNG, WebP and TIFF (resized with LANCZOS to the RGB size if
    needed, e.g. after super-resolution); JPEG and BMP cannot hold it, so it is dropped (no compositing).
    ``quality`` (1-100) applies to JPEG and WebP."""
    fmt = {"JPG": "JPEG"}.get(fmt.upper(), fmt.upper())
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be between 1 and 100, got {quality}")
    out = rgb if rgb.mode == "RGB" else rgb.convert("RGB")
    if alpha is not None and fmt in _ALPHA_FORMATS:
        a = alpha if alpha.mode == "L" else alpha.convert("L")
        if a.size != out.size:
            a = a.resize(out.size, Image.Resampling.LANCZOS)
        out = out.copy()
        out.putalpha(a)
    params: dict[str, object] = {
        "JPEG": {"quality": quality},
        "WEBP": {"quality": quality},
        "PNG": {"compress_level": 6},
        "TIFF": {"compression": "tiff_lzw"},
    }.get(fmt, {})
    buffer = io.BytesIO()
    out.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def save_image(rgb: Image.Image, path: str | os.PathLike, alpha: Image.Image | None = None,
               quality: int = JPEG_QUALITY) -> None:  # fmt: skip
    """Write ``rgb`` (and ``alpha``, where the format holds it: :func:`encode_image`) to ``path`` atomically, the
    format chosen by the extension. Parent directories are created; the file is written to a temporary name in
    the same directory and renamed, so a failure never leaves a partial output."""
    p = Path(path)
    fmt = SAVE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise _fail(p, f"unsupported output extension {p.suffix or '(none)'!r}; supported: {', '.join(SAVE_FORMATS)}")
    if not 1 <= quality <= 100:
        raise _fail(p, f"quality must be between 1 and 100, got {quality}")
    try:
        data = encode_image(rgb, alpha, fmt, quality)
        with atomic_write(p) as f:
            f.write(data)
    except Exception as e:
        cause = e.strerror if isinstance(e, OSError) and e.strerror else _one_line(e)
        raise _fail(p, f"cannot write image ({cause})") from e


def to_array(img: Image.Image) -> np.ndarray:
    """PIL image -> float32 array of shape (1, 3, H, W) with values in [0, 1] (the light path's batches)."""
    a = np.asarray(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(a.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(255.0)


def from_array(a: np.ndarray) -> Image.Image:
    """Array (1, 3, H, W) or (3, H, W) in [0, 1] -> 8-bit RGB image (clamped, rounded half up; NaN -> 0)."""
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3 or a.shape[0] != 3:
        raise ValueError(f"expected an array of shape (1,3,H,W) or (3,H,W), got {tuple(a.shape)}")
    hwc = np.floor(a.transpose(1, 2, 0).astype(np.float32) * np.float32(255.0) + np.float32(0.5))
    return Image.fromarray(np.nan_to_num(np.clip(hwc, 0.0, 255.0), nan=0.0).astype(np.uint8))


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL image -> float32 tensor of shape (1, 3, H, W) with values in [0, 1]."""
    import torch

    return torch.from_numpy(to_array(img))


def to_pil(t: torch.Tensor | np.ndarray) -> Image.Image:
    """Tensor or array (1, 3, H, W) or (3, H, W) in [0, 1] -> 8-bit RGB image (clamped, rounded)."""
    if isinstance(t, np.ndarray):
        return from_array(t)
    if t.dim() not in (3, 4) or t.shape[-3] != 3 or (t.dim() == 4 and t.shape[0] != 1):
        raise ValueError(f"expected a tensor of shape (1,3,H,W) or (3,H,W), got {tuple(t.shape)}")
    return from_array(t.detach().float().cpu().numpy())


# --- folders ------------------------------------------------------------------------------------------


def images_in(folder: str | os.PathLike) -> list[Path]:
    """Every image file under ``folder``, recursively, sorted (by :data:`IMAGE_SUFFIXES`, any case)."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, folders expanded to the images they contain (:func:`images_in`)."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        files += images_in(path) if path.is_dir() else [path]
    if not files:
        raise PerceptaError("no input images")
    return files


# --- resizing -----------------------------------------------------------------------------------------


def _resized(img: Image.Image, factor: float, resample: int, reducing_gap: float | None = None) -> Image.Image:
    size = (max(1, round(img.width * factor)), max(1, round(img.height * factor)))
    return img if size == img.size else img.resize(size, resample, reducing_gap=reducing_gap)


def resize_long_side(
    img: Image.Image, size: int | None, *, upscale: bool = False, resample: int = Image.Resampling.LANCZOS
) -> Image.Image:
    """Scale so that the longer side is ``size`` (never up unless ``upscale``); ``None`` keeps the image."""
    if not size or (max(img.size) <= size and not upscale):
        return img
    return _resized(img, size / max(img.size), resample)


BILINEAR, LANCZOS = Image.Resampling.BILINEAR, Image.Resampling.LANCZOS


def resize_array(x: np.ndarray, height: int, width: int, resample: int = BILINEAR) -> np.ndarray:
    """A batch (N, C, H, W) resized to ``height`` x ``width``: a Pillow filter (default bilinear) on each float
    channel, antialiased when it shrinks."""
    if x.shape[-2:] == (height, width):
        return x
    planes = [
        np.asarray(Image.fromarray(np.ascontiguousarray(plane, np.float32)).resize((width, height), resample))
        for image in x for plane in image
    ]  # fmt: skip
    return np.stack(planes).reshape(x.shape[0], x.shape[1], height, width)


def shrink_array(x: np.ndarray, size: int | None) -> np.ndarray:
    """A batch (N, C, H, W) downscaled (never up) so that its longer side is at most ``size``: Pillow's
    antialiased bilinear filter on each float channel, with :func:`resize_long_side`'s rounding (what
    ``torch.nn.functional.interpolate(..., antialias=True)`` computes, within float rounding); ``None`` keeps it."""
    if not size or max(x.shape[-2:]) <= size:
        return x
    factor = size / max(x.shape[-2:])
    return resize_array(x, max(1, round(x.shape[-2] * factor)), max(1, round(x.shape[-1] * factor)))


def shrink_tensor(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """:func:`shrink_array` for a tensor batch (on the CPU)."""
    import torch

    if not size or max(x.shape[-2:]) <= size:
        return x
    return torch.from_numpy(shrink_array(x.detach().float().cpu().numpy(), size))


def resize_short_side(
    img: Image.Image, size: int, *, resample: int = Image.Resampling.BILINEAR, reducing_gap: float | None = None
) -> Image.Image:
    """Scale (up or down) so that the shorter side is ``size``."""
    return _resized(img, size / min(img.size), resample, reducing_gap)


def center_square(img: Image.Image, size: int, resample: int = Image.Resampling.BILINEAR) -> Image.Image:
    """The paper's test images: shorter side resized to ``size``, then the centre ``size`` x ``size``."""
    img = resize_short_side(img, size, resample=resample)
    left, top = round((img.width - size) / 2), round((img.height - size) / 2)
    return img.crop((left, top, left + size, top + size))
