"""``style_scale``: the painting's motifs larger or smaller than the model paints them, with the photo's edges
kept (``percepta stylize --style-scale``, the API, the sheet, the server)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from percepta.image import resize_array, to_array
from percepta.infer import detail_upsample, stylize
from percepta.lookmetrics import change, motif_scale
from percepta.modelfile import BUNDLED_DIR, read_meta

from .conftest import CITY, LANDSCAPE

STYLES = sorted(p.stem for p in BUNDLED_DIR.glob("*.safetensors") if read_meta(p)[0].task == "style")


def _photo(path, width: int = 256) -> Image.Image:
    img = Image.open(path).convert("RGB")
    return img.resize((width, round(img.height * width / img.width)), Image.Resampling.LANCZOS)


@pytest.mark.parametrize("name", STYLES)
def test_style_scale_2_paints_larger_motifs_with_every_bundled_style(name: str) -> None:
    photo = _photo(CITY)
    plain, large = stylize(photo, name), stylize(photo, name, style_scale=2.0)
    assert large.size == plain.size == photo.size
    assert motif_scale(large) > 1.1 * motif_scale(plain), (motif_scale(plain), motif_scale(large))
    assert change(large, photo) > 0.6 * change(plain, photo)  # still a painting, not the photo back


def test_a_smaller_style_scale_paints_smaller_motifs() -> None:
    photo = _photo(LANDSCAPE, 192)
    assert motif_scale(stylize(photo, "wave-fast", style_scale=0.5)) < motif_scale(stylize(photo, "wave-fast"))


def test_the_photos_edges_come_back_after_the_small_pass() -> None:
    """With a network that changed nothing, the small pass brought back by detail_upsample is the photo again
    (within a few levels: a Lanczos round trip), where plain upscaling of the small image is blurred."""
    x = to_array(_photo(CITY))
    small = resize_array(x, x.shape[-2] // 2, x.shape[-1] // 2)
    back = detail_upsample(small, x)
    blurred = resize_array(small, *x.shape[-2:])
    assert np.abs(back - x).mean() < 0.25 * np.abs(blurred - x).mean()


def test_style_scale_bounds() -> None:
    with pytest.raises(ValueError, match="style scale"):
        stylize(_photo(CITY, 64), "wave-fast", style_scale=10)


def test_cli_and_server_take_the_style_scale(tmp_path, capsys) -> None:
    import io

    from fastapi.testclient import TestClient

    from percepta.cli import main
    from percepta.serve.app import ServeConfig, create_app

    src = tmp_path / "p.png"
    _photo(CITY, 96).save(src)
    assert main(["stylize", str(src), "-m", "wave-fast", "--style-scale", "2", "-o", str(tmp_path / "o.png")]) == 0
    with pytest.raises(SystemExit):
        main(["stylize", str(src), "-m", "wave-fast", "--style-scale", "9", "-o", str(tmp_path / "x.png")])
    assert "between 0.25 and 4" in capsys.readouterr().err
    assert main(["sheet", str(src), "-m", "wave-fast", "--style-scale", "1.5", "-o", str(tmp_path / "s.png")]) == 0
    with TestClient(create_app(ServeConfig(workers=1, preload=False))) as client:
        ok = client.post("/api/stylize", files={"image": ("p.png", src.read_bytes(), "image/png")},
                         data={"model": "wave-fast", "style_scale": "2"})  # fmt: skip
        bad = client.post("/api/stylize", files={"image": ("p.png", src.read_bytes(), "image/png")},
                          data={"model": "wave-fast", "style_scale": "9"})  # fmt: skip
    assert ok.status_code == 200 and Image.open(io.BytesIO(ok.content)).size == Image.open(src).size
    assert bad.status_code == 400 and "style_scale" in bad.json()["error"]
