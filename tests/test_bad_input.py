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

import numpy as np
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
              "--blocks", "1", "--val-every", "0", "--checkpoint-every", "2", "--no-preview"]  # fmt: skip


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
    assert main([*argv, "--iters", "2", "-o", str(tmp_path / "m.safetensors"), "--checkpoint",
                 str(tmp_path / "m.ckpt")]) == 0  # fmt: skip
    first = (tmp_path / "m.safetensors").read_bytes()
    one_line_error(capsys, main([*argv, "--iters", "2", "-o", str(tmp_path / "m.safetensors")]), 1, "--overwrite")
    assert main([*argv, "--iters", "4", "-o", str(tmp_path / "more.safetensors"), "--resume",
                 str(tmp_path / "m.ckpt"), "--checkpoint", str(tmp_path / "more.ckpt")]) == 0  # fmt: skip
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


# --- third round: where percepta hands off to other libraries ------------------------------------------------


def _onnx_with(tmp_path: Path, name: str, **meta: str) -> Path:
    """The bundled wave-fast graph as an exported .onnx file, its metadata replaced by ``meta`` where given."""
    import onnx

    from percepta.modelfile import stored_graphs

    proto = onnx.load_from_string(stored_graphs(Path(load_model("wave-fast").path))["main"])
    for entry in proto.metadata_props:
        if entry.key in meta:
            entry.value = meta[entry.key]
    path = tmp_path / name
    path.write_bytes(proto.SerializeToString())
    return path


def _fixed_size_graph(tmp_path: Path) -> Path:
    """An exported graph whose input is fixed at 1x3x40x40 (as a user's own export may be)."""
    import onnx

    path = _onnx_with(tmp_path, "fixed.onnx")
    proto = onnx.load(str(path))
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    for dim, value in zip(dims, (1, 3, 40, 40)):
        dim.dim_value = value
    onnx.save(proto, str(path))
    return path


def _renamed_input_graph(tmp_path: Path) -> Path:
    import onnx

    path = _onnx_with(tmp_path, "renamed.onnx")
    proto = onnx.load(str(path))
    old = proto.graph.input[0].name
    proto.graph.input[0].name = "pixels"
    for node in proto.graph.node:
        node.input[:] = ["pixels" if i == old else i for i in node.input]
    onnx.save(proto, str(path))
    return path


def _nan_graph(tmp_path: Path) -> Path:
    """A percepta graph whose every output is NaN (its last bias set to NaN)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    path = _onnx_with(tmp_path, "nan.onnx")
    proto = onnx.load(str(path))
    last = proto.graph.initializer[-1]
    last.CopyFrom(numpy_helper.from_array(np.full_like(numpy_helper.to_array(last), np.nan), last.name))
    onnx.save(proto, str(path))
    return path


THIRD_ROUND = {
    # 1. memory bounded up front: sizes from the user or a file
    "train --size 100000": (["train", "style", "--style", WAVE, "--data", "{photos}", "-o", "{tmp}/m.safetensors",
                             "--size", "100000"], ["2048"]),
    "train --style-size 100000": (["train", "style", "--style", WAVE, "--data", "{photos}", "-o",
                                   "{tmp}/m.safetensors", "--style-size", "100000"], ["4096"]),
    "exported min_side=100000": (["stylize", str(CITY), "-m", "{huge_min_side}", "-o", "{tmp}/o.png"],
                                 ["min_side"]),
    # 2. ONNX Runtime's errors
    "a fixed-size exported graph given another size": (["stylize", str(CITY), "-m", "{fixed}", "-o", "{tmp}/o.png"],
                                                       ["cannot run"]),
    "a graph whose input is not named image": (["stylize", str(CITY), "-m", "{renamed}", "-o", "{tmp}/o.png"],
                                               ["renamed.onnx", "image"]),
    # 3. silent garbage
    "weights summing to infinity": (["stylize", str(CITY), "-m", "wave-fast:1e308,udnie-fast:1e308", "-o",
                                     "{tmp}/o.png", "--max-size", "64"], None),
    "a graph that outputs NaN": (["stylize", str(CITY), "-m", "{nan}", "-o", "{tmp}/o.png", "--max-size", "64"],
                                 ["NaN"]),
    # 5. weights blends of exported graphs
    "--blend weights with exported graphs": (["stylize", str(CITY), "-m", "{fixed}:0.5,{nan}:0.5", "--blend",
                                              "weights", "-o", "{tmp}/o.png"], [".safetensors"]),
    # 8. small ones
    "--tile 1": (["stylize", str(CITY), "-m", "wave-fast", "--tile", "1", "-o", "{tmp}/o.png"], ["at least 32"]),
    "a blend spec over 255 characters": (["stylize", str(CITY), "-m", ",".join(["wave-fast:1"] * 30) + ",nope:1",
                                          "-o", "{tmp}/o.png"], ["nope"]),
}  # fmt: skip


@pytest.mark.parametrize("case", THIRD_ROUND)
def test_third_round_cases_are_one_line_errors(tmp_path, capsys, train_dir, case) -> None:
    argv, words = THIRD_ROUND[case]
    places = {"tmp": str(tmp_path), "photos": str(train_dir)}
    makers = {"huge_min_side": lambda: _onnx_with(tmp_path, "huge.onnx", min_side="100000"),
              "fixed": lambda: _fixed_size_graph(tmp_path), "renamed": lambda: _renamed_input_graph(tmp_path),
              "nan": lambda: _nan_graph(tmp_path)}  # fmt: skip
    for key, make in makers.items():
        if any("{" + key + "}" in a for a in argv):
            places[key] = str(make())
    argv = [a.format(**places) for a in argv]
    code = main(argv)
    if words is None:  # a valid request that used to write garbage: now a real picture
        assert code == 0
        pixels = Image.open(tmp_path / "o.png").convert("L")
        assert max(pixels.getextrema()) > 0 and len(np.unique(np.asarray(pixels))) > 10
        return
    bad_arguments = ("train --size 100000", "train --style-size 100000", "--tile 1")
    one_line_error(capsys, code, 2 if case in bad_arguments else 1, *words)
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "m.safetensors").exists()


def test_a_seed_too_large_for_the_generator_is_a_bad_argument(tmp_path, capsys, train_dir) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["train", "style", "--style", WAVE, "--data", str(train_dir), "-o", str(tmp_path / "m.safetensors"),
              "--seed", str(2**70)])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and "2**63" in err[-1] and not any("Traceback" in line for line in err)


def test_a_failed_export_leaves_no_file(tmp_path, capsys) -> None:
    keep = tmp_path / "x.txt"
    keep.write_bytes(b"precious")
    one_line_error(capsys, main(["export", "wave-fast", "-o", str(keep), "--overwrite"]), 1, ".onnx")
    assert keep.read_bytes() == b"precious"  # checked before any work: not replaced
    one_line_error(capsys, main(["export", "wave-fast", "--format", "torchscript", "-o", str(tmp_path / "t.onnx")]),
                   1, ".pt")  # fmt: skip
    assert not (tmp_path / "t.onnx").exists()


def test_symlink_loops_are_one_line_errors(tmp_path, capsys) -> None:
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop)
    out = tmp_path / "out.png"
    for argv in (["stylize", str(loop), "-m", "wave-fast", "-o", str(out)], ["upscale", str(loop), "-o", str(out)],
                 ["stylize", str(CITY), "-m", "wave-fast", "-o", str(loop)]):  # fmt: skip
        code = main(argv)
        line = one_line_error(capsys, code, 1)
        assert "loop" in line or "not found" in line or "cannot" in line, line


def test_newlines_in_file_names_stay_on_one_line(tmp_path, capsys) -> None:
    odd = tmp_path / "two\nlines.jpg"
    odd.write_bytes(b"not an image")
    one_line_error(capsys, main(["stylize", str(odd), "-m", "wave-fast", "-o", str(tmp_path / "o.png")]), 1, "\\n")


def test_output_to_a_closed_stdout_is_one_line_error(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "percepta", "stylize", str(CITY), "-m", "wave-fast", "-o", "-"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.close(1),
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr and "standard output" in done.stderr


def test_video_frames_over_the_pixel_limit_are_refused_before_decoding(tmp_path, capsys, monkeypatch) -> None:
    import percepta.limits as limits

    from .test_video import make_clip

    clip = make_clip(tmp_path / "clip.mp4", audio=False)
    monkeypatch.setattr(limits, "MAX_PIXELS", 100)  # the clip's frames are far larger
    one_line_error(capsys, main(["stylize", str(clip), "-m", "wave-fast", "-o", str(tmp_path / "o.mp4")]), 1,
                   "over the limit")  # fmt: skip
    assert not list(tmp_path.glob("*o.mp4*"))


def test_webm_output_is_vp9_or_refused_before_work(tmp_path, capsys) -> None:
    import av

    from .test_video import make_clip

    silent = make_clip(tmp_path / "silent.mp4", audio=False)
    assert main(["stylize", str(silent), "-m", "wave-fast", "-o", str(tmp_path / "s.webm")]) == 0
    with av.open(str(tmp_path / "s.webm")) as done:
        assert done.streams.video[0].codec_context.name == "vp9"
    loud = make_clip(tmp_path / "loud.mp4", audio=True)
    one_line_error(capsys, main(["stylize", str(loud), "-m", "wave-fast", "-o", str(tmp_path / "l.webm")]), 1,
                   "WebM")  # fmt: skip
    assert not list(tmp_path.glob("*l.webm*"))


def test_sigterm_during_a_video_leaves_no_temporary_file(tmp_path) -> None:
    import signal
    import time

    from .test_video import make_clip

    # 400 frames, each stylised at 4x its size: half a minute of work on 2 cores, so the signal comes first
    clip = make_clip(tmp_path / "clip.mp4", audio=False, frames=400)
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "percepta", "stylize", str(clip), "-m", "wave", "-o", str(out),
                             "--batch", "1", "--style-scale", "0.25"], stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 120
    while not list(tmp_path.glob(".out.mp4.*.tmp.mp4")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err  # stopped as Ctrl-C is
    assert not list(tmp_path.glob(".out.mp4.*")) and "Traceback" not in err


def test_a_full_disk_while_saving_a_checkpoint_is_one_line_error(tmp_path, train_dir) -> None:
    """``ulimit -f`` (EFBIG) while the checkpoint is written: one line, exit 1, nothing half-written."""
    import resource

    argv = [sys.executable, "-m", "percepta", "train", "style", "--style", WAVE, "--data", str(train_dir), "-o",
            str(tmp_path / "m.safetensors"), *TRAIN_TINY, "--iters", "4"]  # fmt: skip

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    done = subprocess.run(argv, capture_output=True, text=True, preexec_fn=small_files, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-1500:]
    assert "checkpoint" in done.stderr.strip().splitlines()[-1] or "File too large" in done.stderr
    assert not (tmp_path / "m.safetensors").exists()


def test_a_broken_user_model_is_left_out_of_the_server_not_a_500(tmp_path, monkeypatch) -> None:
    import io

    from fastapi.testclient import TestClient

    from percepta.serve.app import ServeConfig, create_app

    monkeypatch.setenv("PERCEPTA_MODELS", str(tmp_path))
    (tmp_path / "broken.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "teal").save(buffer, "PNG")
    with TestClient(create_app(ServeConfig(workers=1))) as client:
        names = [m["name"] for m in client.get("/api/models").json()["models"]]
        reply = client.post("/api/stylize", files={"image": ("p.png", buffer.getvalue(), "image/png")},
                            data={"model": "broken"})  # fmt: skip
    assert "broken" not in names and "wave" in names
    assert reply.status_code == 404 and "broken" in reply.json()["error"]


def test_out_of_memory_on_the_light_path_is_one_line_error(tmp_path) -> None:
    """An x8 upscale untiled (13 MP out, under the untiled limit) in a process limited to 3 GB of address space:
    ONNX Runtime's failed allocation becomes "out of memory", one line, exit 1, no file written."""
    import resource

    small = tmp_path / "s.png"
    Image.open(CITY).convert("RGB").resize((450, 450)).save(small)

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "percepta",
            "upscale",
            str(small),
            "--scale",
            "8",
            "--tile",
            "0",
            "-o",
            str(tmp_path / "big.png"),
        ],
        capture_output=True,
        text=True,
        preexec_fn=limited,
        timeout=300,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and lines == [
        "percepta: error: out of memory; try a smaller image (--max-size) or tiles"
    ]
    assert not (tmp_path / "big.png").exists()
