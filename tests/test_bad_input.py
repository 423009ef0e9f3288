"""What a hostile new user tries, command by command: each case ends in one clear line and a non-zero exit,
never a traceback, a silent garbage result or a clobbered file (the README's "What percepta does with bad
input" lists the same cases)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save as save_safetensors_bytes

from percepta.arch import NetConfig
from percepta.cli import main
from percepta.errors import ImageError, ModelFileError, PerceptaError
from percepta.hyperparams import LossWeights
from percepta.modelfile import FORMAT, load_model, save_model
from percepta.nets import TransformNet
from percepta.train import TrainingDiverged, TrainOptions, load_checkpoint, train
from percepta.upscaling import upscale

from .conftest import CITY, PHOTOS, STYLES

WAVE = str(STYLES / "wave.jpg")
TINY_NET = NetConfig.style(norm="instance", upsample="resize", width=0.25, blocks=1)
TRAIN_TINY = ["--size", "32", "--style-size", "64", "--norm", "instance", "--upsample", "resize", "--width", "0.25",
              "--blocks", "1", "--val-every", "0", "--checkpoint-every", "2"]  # fmt: skip


def one_line_error(capsys, code: int, expected_code: int = 1, *words: str) -> str:
    """The command failed with ``expected_code`` and said why in one line that names ``words``."""
    err = capsys.readouterr().err.strip().splitlines()
    assert code == expected_code, err
    assert err and err[-1].startswith("percepta: error:"), err
    assert not any("Traceback" in line for line in err)
    for word in words:
        assert word in err[-1], (word, err[-1])
    return err[-1]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_model(
        tmp_path_factory.mktemp("m") / "tiny.safetensors", TransformNet(TINY_NET).eval(), {"name": "tiny"}
    )


@pytest.fixture
def train_dir(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("opencv_baboon.jpg", "opencv_fruits.jpg", "mate_Garden.jpg"):
        shutil.copy(PHOTOS / name, folder / name)
    return folder


def crafted_model(
    path: Path, config: dict | str, meta: object = None, tensors: dict | None = None, version: str = "1"
) -> Path:
    """A safetensors file with a percepta header written by hand (for damaged or hostile metadata)."""
    header = {"format": FORMAT, "format_version": version,
              "config": config if isinstance(config, str) else json.dumps(config),
              "meta": json.dumps(meta if meta is not None else {})}  # fmt: skip
    path.write_bytes(save_safetensors_bytes(tensors or {"w": torch.zeros(1)}, metadata=header))
    return path


# --- 1. devices ------------------------------------------------------------------------------------------

BAD_DEVICES = ["tpu", "cuda:99", "gpu0"] + ([] if torch.cuda.is_available() else ["cuda", "cuda:0"])
BAD_DEVICES += [] if torch.backends.mps.is_available() else ["mps"]


@pytest.mark.parametrize("device", BAD_DEVICES)
@pytest.mark.parametrize("command", ["stylize", "upscale", "train", "bench"])
def test_unavailable_devices_are_one_line_errors(tmp_path, capsys, tiny_model, train_dir, command, device) -> None:
    argv = {
        "stylize": ["stylize", str(CITY), "-m", str(tiny_model), "-o", str(tmp_path / "o.jpg")],
        "upscale": ["upscale", str(CITY), "-o", str(tmp_path / "o.png")],
        "train": ["train", "style", "--style", WAVE, "--data", str(train_dir), "-o", str(tmp_path / "m.safetensors")],
        "bench": ["bench", "speed", "--sizes", "32", "--iters", "1", "--out", str(tmp_path / "b")],
    }[command]
    one_line_error(capsys, main([*argv, "--device", device]), 1, device)
    assert not [p for p in tmp_path.iterdir() if p.name != "photos"]  # nothing written


# --- 2. images too small for the loss network --------------------------------------------------------------


def test_images_too_small_for_the_loss_network(tmp_path, capsys, train_dir) -> None:
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (3, 2), "red").save(tiny)
    out = str(tmp_path / "o.png")
    cases = [
        ["optimize", "--content", str(tiny), "--style", WAVE, "-o", out, "--iters", "1"],
        ["optimize", "--content", str(CITY), "--style", str(tiny), "-o", out, "--iters", "1"],
        ["optimize", "--content", str(CITY), "--style", WAVE, "-o", out, "--iters", "1", "--size", "4"],
        ["optimize", "--content", str(CITY), "--style", WAVE, "-o", out, "--iters", "1", "--size", "32",
         "--style-size", "2"],
        ["train", "style", "--style", WAVE, "--data", str(train_dir), "-o", str(tmp_path / "m.safetensors"),
         *TRAIN_TINY, "--iters", "1", "--size", "4"],
    ]  # fmt: skip
    for argv in cases:
        one_line_error(capsys, main(argv), 1, "too small for the loss network")
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "m.safetensors").exists()


# --- 3. write errors, found before the work ----------------------------------------------------------------


def test_unwritable_outputs_fail_before_the_work(tmp_path, capsys, train_dir) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    one_line_error(capsys, main(["eval", "sr", str(CITY), "--out", str(blocker)]), 1, "--out needs a folder")
    two = [str(CITY), str(PHOTOS / "opencv_baboon.jpg")]
    one_line_error(capsys, main(["stylize", *two, "-m", "wave", "-o", str(blocker / "out")]), 1, "is a file")
    one_line_error(capsys, main(["stylize", str(CITY), "-m", "wave", "-o", str(tmp_path / "o.xyz")]), 1, ".xyz")
    one_line_error(capsys, main(["eval", "sr", str(CITY), "--out", str(blocker / "sub")]), 1, "cannot write")
    argv = ["train", "style", "--style", WAVE, "--data", str(train_dir), *TRAIN_TINY, "--iters", "1"]
    one_line_error(capsys, main([*argv, "-o", str(blocker / "m.safetensors")]), 1, "cannot write")
    one_line_error(capsys, main([*argv, "-o", str(tmp_path / "m.safetensors"), "--checkpoint",
                                 str(blocker / "c.ckpt")]), 1, "cannot write")  # fmt: skip
    assert blocker.read_text() == "not a folder"


def test_a_full_disk_during_a_checkpoint_keeps_the_last_one(tmp_path, train_dir, monkeypatch) -> None:
    opts = TrainOptions("style", str(train_dir), str(tmp_path / "m.safetensors"), style=WAVE, net=TINY_NET, size=32,
                        style_size=64, iters=2, checkpoint_every=1, val_every=0, progress=False)  # fmt: skip
    real_save = torch.save
    calls = {"n": 0}

    def save_then_fill_the_disk(obj, fh, *args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real_save(obj, fh, *args, **kw)

    monkeypatch.setattr(torch, "save", save_then_fill_the_disk)
    with pytest.raises(PerceptaError, match="No space left on device"):
        train(opts)
    assert load_checkpoint(tmp_path / "m.ckpt")["iteration"] == 1  # the first checkpoint is intact
    assert not list(tmp_path.glob(".*.tmp")) and not (tmp_path / "m.safetensors").exists()


# --- 4. memory limits -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arch, width, why",
    [
        ("c9s1-60000,c9s1-3", 1.0, "channels, over the limit"),
        ("c9s1-32,d64,d128,R128,u64,u32,c9s1-3", 1e6, "width must be"),
        (",".join(["c15s1-1024"] * 20 + ["c9s1-3"]), 1.0, "parameters, over"),
    ],
)
def test_architectures_too_large_to_build_are_refused(tmp_path, arch, width, why) -> None:
    path = crafted_model(tmp_path / "huge.safetensors", NetConfig.style().to_dict() | {"arch": arch, "width": width})
    with pytest.raises(ModelFileError, match=why):
        load_model(path)


def test_upscale_refuses_outputs_too_large_to_hold() -> None:
    with pytest.raises(ImageError, match="over the limit of 100 MP"):
        upscale(torch.zeros(1, 3, 2600, 2600), "sr_x4_feat")


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the peak memory from Linux's /proc")
def test_models_reads_headers_only(tmp_path) -> None:
    """A 1.5 GB foreign .safetensors in $PERCEPTA_MODELS is listed as unreadable without being read."""
    foreign = tmp_path / "foreign.safetensors"
    foreign.write_bytes(save_safetensors_bytes({"w": torch.zeros(4)}, metadata={"format": "pt"}))
    with open(foreign, "r+b") as fh:  # a sparse 1.5 GB file: reading it whole would show in the peak memory
        fh.truncate(1_500_000_000)
    code = (
        "import re, sys; from percepta.cli import main; rc = main(['models']); "  # VmHWM: this process's peak
        "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1], file=sys.stderr); sys.exit(rc)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PERCEPTA_MODELS": str(tmp_path)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "foreign" in done.stdout and "unreadable" in done.stdout and "wave" in done.stdout
    assert int(done.stderr.split()[-1]) < 200_000  # peak RSS in kB (measured: 20 MB)


# --- 5. NaN and infinity ----------------------------------------------------------------------------------


@pytest.mark.parametrize("flag, value", [("--lr", "inf"), ("--lr", "nan"), ("--lr", "0"), ("--style-weight", "nan"),
                                         ("--tv-weight", "-1"), ("--content-weight", "inf")])  # fmt: skip
def test_non_finite_numbers_are_bad_arguments(tmp_path, capsys, flag, value) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "style", "--style", WAVE, "--data", str(tmp_path), "-o", str(tmp_path / "m.safetensors"),
              flag, value])  # fmt: skip
    assert exc.value.code == 2 and "finite" in capsys.readouterr().err
    with pytest.raises(ValueError, match="finite"):
        LossWeights(style=float("nan"))


def test_diverging_training_stops_and_keeps_the_last_good_checkpoint(tmp_path, train_dir) -> None:
    opts = TrainOptions("style", str(train_dir), str(tmp_path / "m.safetensors"), style=WAVE, net=TINY_NET, size=32,
                        style_size=64, lr=1e12, iters=50, checkpoint_every=1, val_every=0, progress=False)  # fmt: skip
    with pytest.raises(TrainingDiverged, match="diverged at iteration") as exc:
        train(opts)
    assert not (tmp_path / "m.safetensors").exists()  # no model of NaNs
    if (tmp_path / "m.ckpt").exists():  # what was kept has finite weights
        state = load_checkpoint(tmp_path / "m.ckpt")
        assert all(torch.isfinite(v).all() for v in state["net"].values() if v.is_floating_point())
        assert f"iteration {state['iteration']}" in str(exc.value)


@pytest.mark.parametrize("bad", ["nan", "inf", "int"])
def test_model_files_with_unusable_weights_are_refused(tmp_path, tiny_model, bad) -> None:
    model = load_model(tiny_model)
    state = {k: v.clone() for k, v in model.net.state_dict().items()}
    key = next(k for k in state if k.endswith("weight"))
    state[key] = state[key].long() if bad == "int" else state[key].fill_(float(bad))
    header = {"format": FORMAT, "format_version": "1", "config": json.dumps(TINY_NET.to_dict()), "meta": "{}"}
    path = tmp_path / f"{bad}.safetensors"
    path.write_bytes(save_safetensors_bytes(state, metadata=header))
    with pytest.raises(ModelFileError, match="NaN or infinite" if bad != "int" else "not floating point"):
        load_model(path)


# --- 6. malformed model metadata ---------------------------------------------------------------------------


def test_malformed_metadata(tmp_path, capsys, tiny_model) -> None:
    config = TINY_NET.to_dict()
    bad_version = crafted_model(tmp_path / "v.safetensors", config, version="one")
    listed_meta = crafted_model(tmp_path / "l.safetensors", config, meta=["a", "list"])
    bad_config = crafted_model(tmp_path / "c.safetensors", "[1, 2]")
    for path, words in [(bad_version, "format version"), (listed_meta, "a list"), (bad_config, "architecture")]:
        one_line_error(capsys, main(["stylize", str(CITY), "-m", str(path), "-o", str(tmp_path / "o.jpg")]), 1,
                       path.name, words)  # fmt: skip
    # one bad file does not stop the listing, and metadata cannot send escape codes to the terminal
    net = load_model(tiny_model).net
    save_model(tmp_path / "evil.safetensors", net, {"style_image": "\x1b[2J\x1b]0;pwned\x07wave.jpg",
                                                    "train_device": "\x1b[31mred"})  # fmt: skip
    os.environ["PERCEPTA_MODELS"] = str(tmp_path)
    try:
        assert main(["models"]) == 0
    finally:
        del os.environ["PERCEPTA_MODELS"]
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\\x1b[2J" in out
    for name in ("v ", "l ", "c ", "evil", "wave", "sr_x4_feat"):
        assert name in out
    assert out.count("unreadable") == 3


# --- 7. one bad file in a folder run -------------------------------------------------------------------


def test_a_folder_run_goes_on_past_a_bad_file(tmp_path, capsys, tiny_model) -> None:
    src = tmp_path / "in"
    src.mkdir()
    small = Image.open(CITY).convert("RGB").resize((40, 30))
    small.save(src / "a.jpg")
    (src / "b.jpg").write_bytes(b"\xff\xd8\xff not a jpeg at all")
    small.save(src / "c.png")
    code = main(["stylize", str(src), "-m", str(tiny_model), "-o", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg", "c.png"]  # the rest was done
    assert "out/a.jpg" in captured.out and "out/c.png" in captured.out  # what was written
    errors = captured.err.strip().splitlines()
    assert any("b.jpg" in line for line in errors) and errors[-1] == "percepta: error: 1 of 3 files failed (2 written)"


# --- 8. and 9. files overwritten or written elsewhere ------------------------------------------------------


def test_no_input_or_existing_output_is_overwritten(tmp_path, capsys, tiny_model) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    photo = Image.open(CITY).convert("RGB").resize((40, 30))
    photo.save(src / "a.jpg")
    photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(src / "sub" / "a.jpg")
    Image.open(CITY).convert("P").resize((40, 30)).save(src / "anim.gif")
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    model = ["-m", str(tiny_model)]
    one_line_error(
        capsys, main(["stylize", str(src / "a.jpg"), *model, "-o", str(src / "a.jpg")]), 1, "overwrite an input"
    )
    one_line_error(capsys, main(["stylize", str(src), *model, "-o", str(src)]), 1, "overwrite an input")
    assert main(["stylize", str(src), *model, "-o", str(tmp_path / "out")]) == 0  # subfolders mirrored, GIF read
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == ["a.jpg", "anim.png", "sub/a.jpg"]
    one_line_error(capsys, main(["stylize", str(src), *model, "-o", str(tmp_path / "out")]), 1, "--overwrite")
    assert main(["stylize", str(src), *model, "-o", str(tmp_path / "out"), "--overwrite"]) == 0
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before  # inputs untouched throughout
    one_line_error(capsys, main(["stylize", str(src / "a.jpg"), str(src / "sub" / "a.jpg"), *model, "-o",
                                 str(tmp_path / "flat")]), 1, "would both be written")  # fmt: skip


def test_training_writes_only_where_asked(tmp_path, capsys, train_dir) -> None:
    style = tmp_path / "style.jpg"
    shutil.copy(WAVE, style)
    original = style.read_bytes()
    argv = ["train", "style", "--style", str(style), "--data", str(train_dir), *TRAIN_TINY]
    one_line_error(capsys, main([*argv, "--iters", "2", "-o", str(style)]), 1, ".safetensors")
    one_line_error(capsys, main([*argv, "--iters", "2", "-o", str(tmp_path / "m.safetensors"), "--checkpoint",
                                 str(style)]), 1, "style image")  # fmt: skip
    one_line_error(capsys, main([*argv, "--iters", "2", "-o", str(tmp_path / "m.safetensors"), "--checkpoint",
                                 str(tmp_path / "m.safetensors")]), 1, "would overwrite")  # fmt: skip
    assert style.read_bytes() == original
    # a finished run, then --resume with more iterations and a new -o: the new file, the old one untouched
    assert main([*argv, "--iters", "2", "-o", str(tmp_path / "m.safetensors")]) == 0
    first = (tmp_path / "m.safetensors").read_bytes()
    one_line_error(capsys, main([*argv, "--iters", "2", "-o", str(tmp_path / "m.safetensors")]), 1, "--overwrite")
    assert main([*argv, "--iters", "4", "-o", str(tmp_path / "more.safetensors"), "--resume",
                 str(tmp_path / "m.ckpt")]) == 0  # fmt: skip
    assert (tmp_path / "m.safetensors").read_bytes() == first
    assert load_model(tmp_path / "more.safetensors").meta["iterations"] == 4
    assert load_checkpoint(tmp_path / "more.ckpt")["iteration"] == 4


# --- 10. a super-resolution model of the wrong scale -----------------------------------------------------


def test_upscale_scale_must_match_the_model(tmp_path, capsys) -> None:
    src = tmp_path / "s.png"
    Image.open(CITY).convert("RGB").resize((20, 16)).save(src)
    code = main(["upscale", str(src), "--scale", "8", "-m", "sr_x4_feat", "-o", str(tmp_path / "o.png")])
    one_line_error(capsys, code, 1, "x4, not x8")
    assert not (tmp_path / "o.png").exists()
    assert main(["upscale", str(src), "-m", "sr_x8_feat", "-o", str(tmp_path / "o.png")]) == 0  # the model's scale
    with Image.open(tmp_path / "o.png") as out:
        assert out.size == (160, 128)


def test_errors_in_a_real_process_have_no_traceback(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "percepta", "stylize", str(CITY), "-m", "wave", "--device", "tpu",
                           "-o", str(tmp_path / "o.jpg")], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
