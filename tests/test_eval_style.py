"""The style yardstick (`percepta eval style`): content loss at relu2_2 and the style ratio."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from percepta.cli import main
from percepta.evaluate import STYLE_EVAL_SIZE, StyleScore, evaluate_style
from percepta.image import load_rgb, resize_long_side, to_tensor
from percepta.lookmetrics import change, motif_scale
from percepta.metrics import feature_distance, style_ratio

from .conftest import CITY, LANDSCAPE, PHOTOS, SHARED, STYLES, needs_shared, photo


def test_style_ratio_matches_an_independent_computation(lossnet) -> None:
    output, painting = photo(CITY, 40), photo(STYLES / "wave.jpg", 56)
    source = photo(LANDSCAPE, 40)
    layers = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")

    def grams(x: torch.Tensor) -> list[torch.Tensor]:  # G = F F^T / (C H W), written out with einsum
        feats = lossnet(x, list(layers))
        return [torch.einsum("chw,dhw->cd", f[0], f[0]) / f[0].numel() for f in feats.values()]

    def distance(x: torch.Tensor) -> float:
        return sum(float(((a - b) ** 2).sum()) for a, b in zip(grams(x), grams(painting)))

    expected = distance(output) / distance(source)
    assert style_ratio(output, source, painting, lossnet) == pytest.approx(expected, rel=1e-5)
    # the content loss is eq. 2 at relu2_2: mean squared difference of the features
    f_out, f_src = lossnet(output, ["relu2_2"])["relu2_2"], lossnet(source, ["relu2_2"])["relu2_2"]
    assert feature_distance(output, source, lossnet) == pytest.approx(float(((f_out - f_src) ** 2).mean()), rel=1e-5)


def test_the_photo_itself_scores_zero_and_one(tmp_path) -> None:
    """An 'output' that is its photo keeps all the content (0) and moves nowhere towards the style (1)."""
    image = tmp_path / "same.png"
    Image.open(CITY).convert("RGB").resize((64, 48)).save(image)
    painted = tmp_path / "painted.png"  # the painting itself, as the yardstick sizes it: exactly its Grams
    resize_long_side(load_rgb(STYLES / "wave.jpg"), STYLE_EVAL_SIZE, upscale=True).save(painted)
    report = evaluate_style([image, painted], [image], STYLES / "wave.jpg")
    same, paint = report.rows
    assert same.content == 0.0 and same.style_ratio == pytest.approx(1.0)
    assert paint.content > 0 and paint.style_ratio == 0.0
    assert not same.pareto_equal_or_better(paint) and not paint.pareto_equal_or_better(same)
    # the look measures (percepta.lookmetrics): no change for the photo itself; the painting, judged 512 px
    # wide like any output, against the photo resized to it
    assert same.change == 0.0 and same.motif_scale == pytest.approx(motif_scale(Image.open(image)))
    assert paint.change == pytest.approx(change(Image.open(painted), Image.open(image))) and paint.change > 0.05
    assert paint.motif_scale == pytest.approx(motif_scale(Image.open(painted)))
    assert report.summary[0].change == same.change and report.summary[1].motif_scale == paint.motif_scale
    assert StyleScore("a", 1.0, 0.2).pareto_equal_or_better(StyleScore("b", 1.0, 0.3))


def test_cli_eval_style_with_models_json_and_out(tmp_path, capsys) -> None:
    src = tmp_path / "photo.png"  # big enough that the model's 16 px margin is a small part of its view
    Image.open(CITY).convert("RGB").resize((160, 120)).save(src)
    assert main(["eval", "style", str(src), "--photos", str(src), "--style", str(STYLES / "wave.jpg"),
                 "--models", "wave", "wave", "--json", "--out", str(tmp_path / "report")]) == 0  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    summary = {s["method"]: s for s in data["summary"]}
    assert list(summary) == ["photo", "wave", "wave#2"]  # two models of one name stay apart
    assert summary["wave"]["content"] == summary["wave#2"]["content"]
    assert summary["photo"]["content"] == 0.0 and summary["photo"]["style_ratio"] == pytest.approx(1.0)
    assert summary["wave"]["content"] > 0 and summary["wave"]["style_ratio"] < 0.7  # the model moves to the style
    assert json.loads((tmp_path / "report" / "eval_style.json").read_text()) == data
    assert summary["photo"]["change"] == 0.0 and summary["wave"]["change"] > 0.05
    assert summary["wave"]["motif_scale"] > 2 and summary["wave"]["motif_scale"] == summary["wave#2"]["motif_scale"]
    markdown = (tmp_path / "report" / "eval_style.md").read_text()
    assert "| wave |" in markdown and "| change | motif scale (px) |" in markdown
    # outputs and photos must pair up
    two = [str(PHOTOS / "opencv_baboon.jpg"), str(PHOTOS / "opencv_fruits.jpg")]
    code = main(["eval", "style", *two, str(src), "--photos", *two, "--style", str(STYLES / "wave.jpg")])
    assert code == 1 and "one per output" in capsys.readouterr().err
    assert to_tensor(Image.open(src)).shape[-1] == 160


@pytest.mark.slow
def test_the_authors_wave_output_on_chicago() -> None:
    """Optional, with the project's shared data: the authors' own wave output keeps chicago recognisable
    and moves it towards the painting (the numbers the style-quality work compares against)."""
    data = needs_shared(SHARED / "reference" / "eccv16" / "chicago_wave.jpg").parents[2]
    report = evaluate_style([data / "reference" / "eccv16" / "chicago_wave.jpg"], [data / "content" / "chicago.jpg"],
                            data / "styles" / "wave.jpg", size=510)  # fmt: skip
    (row,) = report.rows
    assert row.style_ratio < 0.5 and 0 < row.content < 2.5e5  # measured: 0.368 and 1.65e5
    # issue 23's look of the authors' model: a bold repaint with large motifs (measured: 0.298 and 30.6 px)
    assert 0.27 < row.change < 0.33 and 27 < row.motif_scale < 34
