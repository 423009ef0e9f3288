"""The command line: help, version, info, optimize, and one-line errors with non-zero exits."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from percepta import __version__
from percepta.cli import main

from .conftest import CITY, STYLES


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "percepta", *args], capture_output=True, text=True, timeout=600)


def test_help_and_version(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and __version__ in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0
    for command in ("stylize", "optimize", "train", "models", "info"):
        assert command in out


def test_info_names_the_weights(capsys) -> None:
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "VGG-16 weights:" in out
    assert re.search(r"sha256:\s+[0-9a-f]{64}", out)


def _bad_inputs(tmp: Path) -> dict[str, Path]:
    (tmp / "empty.jpg").write_bytes(b"")
    (tmp / "text.png").write_text("hello")
    data = (CITY).read_bytes()
    (tmp / "truncated.jpg").write_bytes(data[: len(data) // 3])
    return {
        "missing": tmp / "missing.jpg",
        "empty": tmp / "empty.jpg",
        "not an image": tmp / "text.png",
        "truncated": tmp / "truncated.jpg",
        "directory": tmp,
    }


def test_bad_images_give_one_line_errors(tmp_path, capsys) -> None:
    for what, path in _bad_inputs(tmp_path).items():
        code = main(
            [
                "optimize",
                "--content",
                str(path),
                "--style",
                str(STYLES / "wave.jpg"),
                "-o",
                str(tmp_path / "o.png"),
                "--iters",
                "1",
                "--size",
                "32",
            ]
        )
        err = capsys.readouterr().err
        assert code == 1, what
        assert err.startswith("percepta: error:") and err.count("\n") == 1, (what, err)
        assert "Traceback" not in err


def test_bad_model_file_and_name(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    for model in (str(bad), "no-such-model"):
        assert main(["stylize", str(CITY), "-m", model, "-o", str(tmp_path / "o.jpg")]) == 1
        err = capsys.readouterr().err
        assert err.startswith("percepta: error:") and err.count("\n") == 1


def test_real_process_exit_codes(tmp_path) -> None:
    done = run("optimize", "--content", str(tmp_path / "nope.jpg"), "--style", "x", "-o", str(tmp_path / "o.png"))
    assert done.returncode == 1 and "Traceback" not in done.stderr and "nope.jpg" in done.stderr
    done = run("optimize", "--content", "c.jpg", "-o", "o.png", "--style-layers", "relu9_1")
    assert done.returncode == 2 and "unknown layer" in done.stderr


def test_optimize_writes_picture_and_reports_loss(tmp_path, capsys) -> None:
    out = tmp_path / "opt.png"
    argv = ["optimize", "--content", str(CITY), "--style", str(STYLES / "wave.jpg"), "--size", "48", "--iters", "5"]
    assert main([*argv, "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"loss [\d.e+]+ -> [\d.e+]+ \([\d.]+x lower\)", text) and "style" in text
    with Image.open(out) as img:
        assert max(img.size) == 48


def test_optimize_reconstruct_mode(tmp_path, capsys) -> None:
    out = tmp_path / "rec.png"
    argv = ["optimize", "--content", str(CITY), "--reconstruct", "features", "--layer", "relu2_2", "--size", "40"]
    assert main([*argv, "--iters", "3", "-o", str(out)]) == 0
    assert out.is_file()


@pytest.mark.slow
def test_paper_size_optimisation_lowers_loss_tenfold(tmp_path, capsys) -> None:
    """Issue acceptance: 256x256, 100 L-BFGS iterations, default weights: total loss down >= 10x."""
    from percepta.image import save_image, to_pil

    from .conftest import photo

    content = tmp_path / "city256.png"
    save_image(to_pil(photo(CITY, 256)), content)
    assert (
        main(
            [
                "optimize",
                "--content",
                str(content),
                "--style",
                str(STYLES / "wave.jpg"),
                "--size",
                "256",
                "--iters",
                "100",
                "-o",
                str(tmp_path / "o.png"),
            ]
        )
        == 0
    )
    ratio = float(re.search(r"\(([\d.]+)x lower\)", capsys.readouterr().out).group(1))
    assert ratio >= 10.0


def test_resume_names_the_hyper_parameters_it_ignores() -> None:
    """``--resume`` continues with the checkpoint's hyper-parameters; the ones given again are named in a
    warning (places, the device and --iters are this call's own)."""
    from percepta.commands.train import ignored_by_resume

    argv = ["train", "style", "--resume", "m.ckpt", "--style-weight", "1e-4", "--size=128", "--iters", "9",
            "--data", "photos", "-o", "m.safetensors", "--device", "cpu"]  # fmt: skip
    assert ignored_by_resume(argv) == ["--size", "--style-weight"]
    assert ignored_by_resume(["train", "style", "--resume", "m.ckpt", "-o", "m.safetensors"]) == []


def test_train_options_come_from_the_one_flat_mapping() -> None:
    """The command line's flags become TrainOptions through TrainOptions.from_dict, the mapping old model files
    use: every loss weight (the pixel weight too) and network field arrives."""
    from percepta.cli import build_parser
    from percepta.commands.train import train_options

    args = build_parser().parse_args(["train", "style", "--style", "s.jpg", "--data", "d", "-o", "m.safetensors",
                                      "--style-weight", "3e-5", "--pixel-weight", "0.5", "--norm", "instance",
                                      "--blocks", "2", "--width", "0.5", "--exclude", "a.jpg,b.jpg"])  # fmt: skip
    opts = train_options(args)
    assert (opts.loss.style, opts.loss.pixel, opts.net.norm, opts.net.width) == (3e-5, 0.5, "instance", 0.5)
    assert opts.net.arch.count("R") == 2 and opts.exclude == ("a.jpg", "b.jpg")
    sr = train_options(build_parser().parse_args(["train", "sr", "--data", "d", "-o", "m.safetensors", "--scale",
                                                  "8", "--loss", "pixel", "--skip", "bicubic"]))  # fmt: skip
    assert (sr.scale, sr.loss.sr_loss, sr.net.skip, sr.style_size) == (8, "pixel", "bicubic", None)
