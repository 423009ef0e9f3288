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
    before = out.read_bytes()  # an existing output is refused before the work, kept, and replaced when asked
    assert main([*argv, "-o", str(out)]) == 1 and "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == before and main([*argv, "-o", str(out), "--overwrite"]) == 0


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
    assert ignored_by_resume(["train", "style", "--resume", "m.ckpt", "-o", "m.safetensors", "--amp", "off"]) == []
    from percepta.commands.train import given_flags

    assert "--amp" in given_flags(["train", "style", "--amp=bf16"])  # --resume applies it in either spelling


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


def test_without_o_outputs_go_beside_the_input_named_after_the_model(tmp_path, capsys) -> None:
    """``percepta stylize photo.jpg -m wave`` writes photo_wave.jpg; a second style goes beside it; a folder goes
    to FOLDER_MODEL/; nothing is written over without --overwrite; upscale writes PHOTO_x4."""
    from PIL import Image

    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (40, 30), "teal").save(photo)
    assert main(["stylize", str(photo), "-m", "wave-fast"]) == 0
    assert main(["stylize", str(photo), "-m", "udnie-fast"]) == 0
    assert (tmp_path / "photo_wave-fast.jpg").is_file() and (tmp_path / "photo_udnie-fast.jpg").is_file()
    assert main(["stylize", str(photo), "-m", "wave-fast"]) == 1
    assert "already exists" in capsys.readouterr().err
    folder = tmp_path / "album"
    folder.mkdir()
    Image.new("RGB", (40, 30), "olive").save(folder / "a.png")
    assert main(["stylize", str(folder), "-m", "wave-fast"]) == 0
    assert (tmp_path / "album_wave-fast" / "a.png").is_file()
    assert main(["upscale", str(photo)]) == 0
    assert Image.open(tmp_path / "photo_x4.jpg").size == (160, 120)
    assert main(["stylize", str(photo), str(folder), "-m", "wave-fast"]) == 1
    assert "need -o" in capsys.readouterr().err


def test_one_spelling_of_each_option_across_the_cli_the_api_and_http() -> None:
    """stylize's options are spelled alike on the command line (flags), in Python (keywords) and over HTTP (form
    fields), and the model option is -m/--model in every command that takes models."""
    import inspect

    from percepta.cli import build_parser
    from percepta.infer import stylize
    from percepta.serve.routes import api_stylize

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    flags = {s.lstrip("-").replace("-", "_") for a in sub["stylize"]._actions for s in a.option_strings}
    python = set(inspect.signature(stylize).parameters) - {"image", "model", "preserve_colors"}
    http = set(inspect.signature(api_stylize).parameters) - {"request", "image", "format"}
    shared = {"preserve_color", "strength", "max_size", "style_scale"}
    assert shared <= flags and shared <= python and shared <= http
    assert {"model"} <= http and "model" in flags
    for name in ("stylize", "sheet"):
        assert any("--model" in a.option_strings and "-m" in a.option_strings for a in sub[name]._actions), name
    evaluate = next(a for a in sub["eval"]._actions if a.dest == "task").choices["style"]
    assert any("--model" in a.option_strings for a in evaluate._actions)
    assert parser.parse_args(["sheet", "p.jpg", "--models", "wave", "-o", "s.png"]).models == ["wave"]  # old


def test_the_model_list_fits_100_columns(capsys) -> None:
    from percepta.cards import LINE_WIDTH

    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 10 and max(len(line) for line in lines) <= LINE_WIDTH == 100
    assert any(line.startswith("composition_vii-fast ") and " fast " in line for line in lines)  # names whole


def test_optimize_takes_pil_images_like_the_rest() -> None:
    from PIL import Image

    import percepta

    photo = Image.new("RGB", (32, 24), "teal")
    painting = Image.effect_noise((32, 32), 60).convert("RGB")
    result = percepta.optimize(photo, painting, iters=2, progress=False)
    assert result.pil().size == (32, 24) and result.final["total"] <= result.initial["total"]


def test_every_quick_start_command_in_the_readme_runs(tmp_path, monkeypatch, capsys) -> None:
    """The README's quick start, as a new user types it in a folder with their photo (serve: its --help)."""
    from pathlib import Path

    from PIL import Image

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].split() for line in block.splitlines() if line.startswith("percepta ")]
    assert len(commands) >= 5
    monkeypatch.chdir(tmp_path)
    Image.open(CITY).convert("RGB").resize((96, 64)).save("photo.jpg")
    Image.open(CITY).convert("RGB").resize((40, 30)).save("small.jpg")
    for argv in commands:
        if argv[1] == "serve":
            with pytest.raises(SystemExit) as done:
                main([*argv[1:], "--help"])
            assert done.value.code == 0
            continue
        assert main(argv[1:]) == 0, argv
    assert Path("photo_wave.jpg").is_file() and Image.open("small_x4.jpg").size == (160, 120)


def test_shards_of_a_folder_run_cover_every_file_once(tmp_path, capsys) -> None:
    """``--shard K/N``: N jobs over one folder write each output exactly once between them."""
    from PIL import Image

    src = tmp_path / "album"
    (src / "sub").mkdir(parents=True)
    for i in range(7):
        Image.new("RGB", (24, 16), (i * 30, 90, 140)).save(src / ("sub" if i % 3 == 0 else "") / f"{i}.png")
    written = []
    for k in (1, 2, 3):
        assert main(["stylize", str(src), "-m", "wave-fast", "-o", str(tmp_path / "out"), "--shard", f"{k}/3",
                     "--json"]) == 0  # fmt: skip
        written += [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    outputs = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*.png"))
    assert len(written) == 7 and len(outputs) == 7 and len(set(outputs)) == 7
    with pytest.raises(SystemExit):
        main(["stylize", str(src), "-m", "wave-fast", "-o", str(tmp_path / "x"), "--shard", "4/3"])
