"""What users of the quick style tools expect besides single files: blends, a contact sheet, JSON lines
for scripts, and pipes (``-`` for standard input and output)."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import percepta
from percepta.cli import main
from percepta.image import resize_long_side
from percepta.infer import Blend
from percepta.sheet import LABEL_HEIGHT, contact_sheet, style_models

from .conftest import CITY, PHOTOS, photo


def test_a_blend_is_the_weighted_mean_of_the_outputs() -> None:
    x = photo(CITY, 48)
    wave, udnie = percepta.stylize(x, "wave"), percepta.stylize(x, "udnie")
    blended = percepta.stylize(x, "wave:3,udnie:1")
    torch.testing.assert_close(blended, 0.75 * wave + 0.25 * udnie, rtol=0, atol=1e-5)
    half = percepta.stylize(x, "wave:0.6,udnie:0.4", strength=0.5)  # strength applies to the blend
    torch.testing.assert_close(half, 0.5 * (0.6 * wave + 0.4 * udnie) + 0.5 * x, rtol=0, atol=1e-5)
    assert Blend.load("wave:0.6,udnie:0.4").name == "wave:0.6,udnie:0.4"
    for bad, why in [("wave:x", "not a weight"), ("wave:-1,udnie", "positive"), ("wave,sr_x4_feat", "not a style")]:
        with pytest.raises(percepta.PerceptaError, match=why):
            percepta.stylize(x, bad)


def test_contact_sheet_has_the_original_and_every_model(tmp_path, capsys) -> None:
    img = Image.open(CITY).convert("RGB")
    sheet = contact_sheet(img, ["wave", "udnie", "wave:0.5,udnie:0.5"], tile=64, max_size=96)
    cell_w, cell_h = 64, round(64 * img.height / img.width)
    assert sheet.size == (2 * cell_w, 2 * (cell_h + LABEL_HEIGHT))  # 4 pictures, 2 x 2
    a = np.asarray(sheet, dtype=float)
    original, styled = a[:cell_h, :cell_w], a[:cell_h, cell_w:]
    assert np.abs(original - styled).mean() > 10  # the second picture is not the photo again
    assert a[cell_h : cell_h + LABEL_HEIGHT, :cell_w].min() < 100  # a dark label on the white band
    out = tmp_path / "sheet.png"
    assert main(["sheet", str(CITY), "-o", str(out), "--tile", "48", "--max-size", "64"]) == 0
    pictures = len(style_models()) + 1  # every installed style model, and the original
    columns = math.ceil(math.sqrt(pictures))
    with Image.open(out) as written:
        cell_h = resize_long_side(resize_long_side(img, 64), 48).height
        assert written.size == (columns * 48, math.ceil(pictures / columns) * (cell_h + LABEL_HEIGHT))


def test_json_lines_for_scripts(tmp_path, capsys) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.open(CITY).convert("RGB").resize((40, 30)).save(src / "a.png")
    (src / "b.png").write_bytes(b"not an image")
    assert main(["stylize", str(src), "-m", "wave", "-o", str(tmp_path / "out"), "--json"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["input"].endswith("a.png"), r["error"] is None) for r in lines] == [(True, True), (False, False)]
    assert lines[0]["output"].endswith("out/a.png") and lines[0]["ms"] > 0 and "b.png" in lines[1]["error"]
    assert main(["models", "--json"]) == 0
    models = {m["name"]: m for m in map(json.loads, capsys.readouterr().out.splitlines())}
    assert models["wave"]["task"] == "style" and models["sr_x8_feat"]["scale"] == 8
    assert main(["info", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["vgg16_sha256"]) == 64


def test_pipes_read_standard_input_and_write_standard_output() -> None:
    data = (PHOTOS / "mate_Garden.jpg").read_bytes()
    done = subprocess.run([sys.executable, "-m", "percepta", "stylize", "-", "-m", "wave", "-o", "-", "--format",
                           "jpg", "--max-size", "64"], input=data, capture_output=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with Image.open(io.BytesIO(done.stdout)) as out:
        assert out.format == "JPEG" and max(out.size) == 64
    assert b"(" in done.stderr  # the timing line went to stderr, not into the image
    bad = subprocess.run([sys.executable, "-m", "percepta", "stylize", "-", "-m", "wave", "-o", "-"],
                         input=b"junk", capture_output=True, timeout=300)  # fmt: skip
    assert bad.returncode == 1 and not bad.stdout and b"standard input" in bad.stderr


def test_a_weights_blend_is_one_network_with_the_mean_weights(tmp_path, capsys) -> None:
    x = photo(CITY, 40)
    wave, starry = percepta.load_model("wave"), percepta.load_model("starry_night")
    blend = Blend([wave, starry], [0.25, 0.75], mode="weights")
    mean = {k: 0.25 * v + 0.75 * starry.net.state_dict()[k] for k, v in wave.net.state_dict().items()}
    net = type(wave.net)(wave.config).eval()
    net.load_state_dict(mean)
    with torch.no_grad():
        torch.testing.assert_close(blend(x), net(x), rtol=0, atol=1e-5)
    assert not torch.allclose(blend(x), Blend([wave, starry], [0.25, 0.75])(x), atol=1e-3)  # not the outputs' mean
    with pytest.raises(percepta.PerceptaError, match="one architecture"):
        Blend.load("wave,sr_x4_feat", mode="weights")
    out = tmp_path / "w.png"
    assert main(["stylize", str(CITY), "-m", "wave:1,starry_night:3", "--blend", "weights", "-o", str(out)]) == 0
