"""`percepta bench`: each experiment runs at tiny sizes and reports measured numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from percepta.arch import NetConfig
from percepta.cli import main
from percepta.experiments import bench_objective, bench_reconstruct, bench_speed
from percepta.train import TrainOptions, train

from .conftest import CITY, LANDSCAPE, PHOTOS, STYLES


@pytest.fixture(scope="module")
def tiny_style_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    opts = TrainOptions(
        "style",
        str(PHOTOS),
        str(folder / "tiny.safetensors"),
        style=str(STYLES / "wave.jpg"),
        size=32,
        style_size=64,
        iters=2,
        val_every=0,
        progress=False,
        net=NetConfig.style(norm="instance", upsample="resize", width=0.25, blocks=1),
    )
    return train(opts)


def test_speed_is_measured(tmp_path) -> None:
    table = bench_speed(tmp_path, sizes=(32, 64), iters=(2, 4))
    rows = json.loads((tmp_path / "speed.json").read_text())
    assert len(rows) == 4 and table.count("\n") == 5
    by = {(r["size"], r["iters"]): r for r in rows}
    for size in (32, 64):
        assert by[size, 4]["optimization_seconds"] > by[size, 2]["optimization_seconds"] > 0
        assert by[size, 2]["network_seconds"] == by[size, 4]["network_seconds"] > 0
        assert not by[size, 2]["estimated"]
    assert by[64, 4]["optimization_seconds"] != by[32, 4]["optimization_seconds"]
    assert "Machine:" in (tmp_path / "speed.md").read_text()


def test_quick_speed_extrapolates_and_says_so(tmp_path, capsys) -> None:
    assert main(["bench", "speed", "--sizes", "32", "--iters", "100,300", "--quick", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "speed.json").read_text())
    assert all(r["estimated"] for r in rows)
    assert rows[1]["optimization_seconds"] == pytest.approx(3 * rows[0]["optimization_seconds"])
    assert "(estimated)" in capsys.readouterr().out


def test_objective_curve_and_crossing(tmp_path, tiny_style_model) -> None:
    images = [CITY, LANDSCAPE]
    table = bench_objective(tmp_path, str(tiny_style_model), images, iters=4, sizes=(32, 48))
    data = json.loads((tmp_path / "objective.json").read_text())
    assert [d["size"] for d in data] == [32, 48]
    for d in data:
        assert len(d["curve"]) == 5 and d["curve"][-1] < d["curve"][0]
        assert d["network_loss"] > 0 and len(d["network_losses"]) == 2
        assert d["crossing"] is None or 0 <= d["crossing"] <= 4
        assert d["init"] == "noise"  # the paper's baseline by default
    assert data[0]["curve"] != data[1]["curve"]
    assert "network reached at" in table and (tmp_path / "objective.png").stat().st_size > 1000


def test_objective_baseline_starts_from_white_noise_as_the_paper(tmp_path, tiny_style_model) -> None:
    """Section 4.1: the baseline's image "is initialized with white noise"; --init content starts from the photo."""
    from percepta.experiments import objective_loss, optimization_curve, square_crop, training_weights
    from percepta.image import load_rgb, resize_long_side, to_tensor
    from percepta.modelfile import load_model
    from percepta.optimization import initial_image

    weights, style_path, style_size = training_weights(load_model(tiny_style_model))
    loss = objective_loss(weights, to_tensor(resize_long_side(load_rgb(style_path), style_size)))
    x = square_crop(CITY, 32)
    noise = initial_image(x, "noise")
    assert noise.std() > 0.25 and (noise - x).abs().mean() > 0.2  # uniform noise, nothing of the photo
    with torch.no_grad():
        at_noise, at_photo = (loss(start, x).as_floats()["total"] for start in (noise, x))
    assert at_noise > 2 * at_photo  # white noise is the far worse start
    assert optimization_curve(loss, x, 1)[0] == pytest.approx(at_noise, rel=1e-5)
    assert optimization_curve(loss, x, 1, init="content")[0] == pytest.approx(at_photo, rel=1e-5)

    main(["bench", "objective", "-m", str(tiny_style_model), "--images", str(CITY), "--iters", "2",
          "--sizes", "32", "--init", "content", "--out", str(tmp_path)])  # fmt: skip
    assert json.loads((tmp_path / "objective.json").read_text())[0]["init"] == "content"
    assert "from the photo itself" in (tmp_path / "objective.md").read_text()


def test_reconstruction_grid(tmp_path) -> None:
    path = bench_reconstruct(tmp_path, CITY, size=32, iters=3)
    with Image.open(path) as grid:
        assert grid.size == (4 * 32, 3 * (32 + 14))
        pixels = torch.from_numpy(np.asarray(grid.convert("L"), dtype=np.float32))
    assert pixels.std() > 10  # pictures, not a blank canvas
    assert (
        "relu4_3" in (tmp_path / "reconstruct.md").read_text() or "Grams" in (tmp_path / "reconstruct.md").read_text()
    )
