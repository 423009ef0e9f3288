"""Your own painting as a model (issue 24): the recipes, the bundled photos and base model, the preview, the
installation by name, and the one-call API."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from percepta.train.recipes import BUNDLED_PHOTOS, PUBLIC_DOMAIN, QUICK_BASE, recipe

ROOT = Path(__file__).resolve().parents[1]
PAINTING = ROOT / "src" / "percepta" / "examples" / "hokusai_great_wave.jpg"
TINY = {"size": 32, "style_size": 64, "width": 0.25, "blocks": 1, "norm": "instance", "upsample": "resize"}


def _env(tmp_path: Path) -> dict[str, str]:
    src = str(ROOT / "src")
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "2",
            "XDG_DATA_HOME": str(tmp_path / "data"), "PERCEPTA_CACHE": str(tmp_path / "cache")}  # fmt: skip


def _percepta(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "percepta", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip


def test_train_style_needs_only_the_painting(tmp_path) -> None:
    """The README's "Your own painting" commands in an empty folder, a time budget the only flag added: the
    quick recipe, warm-started from the shipped base, on the bundled photos; the model and its preview are
    left there and nothing else, the preview's numbers are printed, and ``-m my_painting`` works by name."""
    from PIL import Image

    from percepta.modelfile import load_model

    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Your own painting", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].split() for line in block.splitlines() if line.startswith("percepta ")]
    assert [c[1] for c in commands] == ["train", "stylize"]
    work = tmp_path / "somewhere"
    work.mkdir()
    (work / "my_painting.jpg").write_bytes(PAINTING.read_bytes())
    Image.open(PAINTING).convert("RGB").resize((64, 40)).save(work / "photo.jpg")
    env = _env(tmp_path)
    done = _percepta([*commands[0][1:], "--minutes", "0.1"], work, env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in work.iterdir()) == ["my_painting.jpg", "my_painting.safetensors",
                                                      "my_painting_preview.jpg", "photo.jpg"]  # fmt: skip
    err = done.stderr
    assert "recipe quick" in err and "0.1 minutes" in err and "from scratch" not in err
    assert "style ratio" in err and "motif scale" in err and "installed as my_painting" in err
    model = load_model(work / "my_painting.safetensors")
    opts = model.meta["options"]
    assert opts["init_from"] == str(QUICK_BASE) and opts["data"] == str(BUNDLED_PHOTOS)
    assert model.config.margin == 16 and model.config.width == 0.5 and model.meta["iterations"] >= 1
    preview = Image.open(work / "my_painting_preview.jpg")
    assert preview.height == 288 and preview.width > 3 * 288  # painting | photo | result
    run = _percepta(commands[1][1:], work, env)
    assert run.returncode == 0 and Image.open(work / "photo_my_painting.jpg").size == (64, 40), run.stderr
    # the install is checked before any training: with the name taken, a run stops at once
    taken = _percepta(["train", "style", "--style", "my_painting.jpg", "--install", "--minutes", "0.1", "-o",
                       str(tmp_path / "my_painting.safetensors")], work, env)  # fmt: skip
    assert taken.returncode == 1 and "installed already" in taken.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "my_painting.safetensors").exists()


def test_recipes_fill_in_only_what_was_not_given() -> None:
    from percepta.cli import build_parser
    from percepta.commands.train import train_options

    def opts(*flags: str):
        notes: list[str] = []
        args = build_parser().parse_args(["train", "style", "--style", "dir/s.jpg", *flags])
        return train_options(args, notes.append), notes

    quick, _ = opts()
    assert (quick.size, quick.style_size, quick.net.width, quick.time_budget) == (128, 256, 0.5, 600)
    assert quick.data == str(BUNDLED_PHOTOS) and quick.output == "s.safetensors" and quick.margin == 16
    assert quick.init_from == (str(QUICK_BASE) if QUICK_BASE.is_file() else None)
    from percepta.modelfile import cache_dir

    assert (
        Path(quick.checkpoint).is_relative_to(cache_dir() / "train")
        and quick.log_dir.parent == Path(quick.checkpoint).parent
    )  # checkpoint and log together in the cache
    given, notes = opts("--width", "0.25", "--style-weight", "1e-4", "--iters", "7", "--data", "photos")
    assert given.net.width == 0.25 and given.loss.style == 1e-4 and given.iters == 7 and given.data == "photos"
    assert given.init_from is None and any("from scratch" in n for n in notes)
    assert given.time_budget is None  # --iters alone: the iterations decide
    assert quick.amp == "auto" and opts("--amp", "off")[0].amp == "off"  # bf16 where the CPU has native bf16
    assert opts("--minutes", "2")[0].time_budget == 120
    gpu, _ = opts("--device", "cuda")  # auto: the paper's recipe on a GPU
    assert (gpu.size, gpu.iters, gpu.net.norm, gpu.time_budget, gpu.amp) == (256, 40_000, "batch", None, "off")
    cpu, _ = opts("--recipe", "cpu")
    assert cpu.net.arch.count("R") == 5 and cpu.loss.gram_reduction == "mean" and cpu.init_from is None
    beside, _ = opts("--checkpoint", "run.ckpt", "-o", "m.safetensors")
    assert beside.checkpoint == "run.ckpt" and beside.log_dir == Path("m-training")
    with pytest.raises(ValueError, match="unknown recipe"):
        recipe("slow")


def _losses(path: Path) -> list[dict[str, str]]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_several_paintings_take_turns(tmp_path) -> None:
    """With ``more_styles`` iteration i's style target is painting i mod K: two runs that differ only in their
    second painting have the same first iteration and a different second one."""
    from PIL import Image

    from percepta.arch import NetConfig
    from percepta.train import TrainOptions, train

    grey = tmp_path / "grey.png"
    Image.new("RGB", (64, 64), (128, 128, 128)).save(grey)
    style = {}
    for name, second in (("same", str(PAINTING)), ("other", str(grey))):
        opts = TrainOptions("style", str(BUNDLED_PHOTOS), str(tmp_path / f"{name}.safetensors"), style=str(PAINTING),
                            more_styles=(second,), net=NetConfig.style("instance", "resize", 0.25, 1), size=32,
                            style_size=64, iters=2, val_every=0, progress=False)  # fmt: skip
        train(opts)
        style[name] = [float(r["style"]) for r in _losses(tmp_path / f"{name}-training" / "losses.csv")]
    assert style["same"][0] == style["other"][0] and style["same"][1] != style["other"][1]


def test_models_install_and_remove(tmp_path, monkeypatch, capsys) -> None:
    from percepta.cli import main
    from percepta.modelfile import BUNDLED_DIR, resolve_model, user_models_dir

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    source = BUNDLED_DIR / "udnie-fast.safetensors"
    assert main(["models", "install", str(source), "--name", "mine"]) == 0
    assert resolve_model("mine") == user_models_dir() / "mine.safetensors"
    assert (user_models_dir() / "mine.safetensors").read_bytes() == source.read_bytes()
    for argv, words in ((["models", "install", str(source), "--name", "mine"], "installed already"),
                        (["models", "install", str(source), "--name", "wave"], "bundled model"),
                        (["models", "install", str(PAINTING)], "not a percepta model"),
                        (["models", "install", str(source), "--name", "../up"], "not a usable model name"),
                        (["models", "remove", "wave"], "no installed user model")):  # fmt: skip
        capsys.readouterr()
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1, err
    assert main(["models", "install", str(source), "--name", "mine", "--overwrite"]) == 0
    assert main(["models", "remove", "mine"]) == 0 and not (user_models_dir() / "mine.safetensors").exists()
    shared = tmp_path / "shared"  # a name $PERCEPTA_MODELS holds: -m NAME would find that one, not the install
    shared.mkdir()
    (shared / "theirs.safetensors").write_bytes(source.read_bytes())
    monkeypatch.setenv("PERCEPTA_MODELS", str(shared))
    capsys.readouterr()
    assert main(["models", "install", str(source), "--name", "theirs"]) == 1
    assert "$PERCEPTA_MODELS" in capsys.readouterr().err and not (user_models_dir() / "theirs.safetensors").exists()


def test_train_style_given_a_painting_runs_a_recipe(tmp_path) -> None:
    """``percepta.train_style("painting.jpg", ...)``: the recipe with the keywords given, the preview beside it."""
    import percepta
    from percepta.modelfile import load_model
    from percepta.train import TrainOptions

    out = tmp_path / "api.safetensors"
    path = percepta.train_style(str(PAINTING), output=str(out), iters=2, progress=False, **TINY)
    assert Path(path) == out and (tmp_path / "api_preview.jpg").is_file()
    assert load_model(out).meta["iterations"] == 2
    with pytest.raises(TypeError, match="recipe keywords"):
        percepta.train_style(TrainOptions("style", "d", "m.safetensors", style="s.jpg"), minutes=3)


def test_the_base_model_and_the_photos_ship_with_credits() -> None:
    """The quick recipe's base: the quick network, trained on the public-domain paintings only; the bundled
    training photos: each credited, the preview's photo not among them."""
    from percepta.modelfile import read_meta
    from percepta.train.painting import PREVIEW_PHOTO

    config, meta = read_meta(QUICK_BASE)
    quick = recipe("quick").net
    assert (config.arch, config.width, config.norm, config.upsample) == (quick.arch, quick.width, quick.norm,
                                                                         quick.upsample)  # fmt: skip
    paintings = [meta["options"]["style"], *meta["options"]["more_styles"]]
    assert sorted(Path(p).stem for p in paintings) == sorted(PUBLIC_DOMAIN)
    photos = sorted(p.name for p in BUNDLED_PHOTOS.glob("*.jpg"))
    credits = (BUNDLED_PHOTOS / "CREDITS.md").read_text()
    assert len(photos) >= 20 and all(f"`{name}`" in credits for name in photos)
    assert "picos" not in " ".join(photos).lower() and PREVIEW_PHOTO.is_file()
