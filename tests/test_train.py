"""Training: exact resume, Ctrl-C safety, data-parallel equivalence, logs and self-describing models."""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from percepta.arch import NetConfig
from percepta.errors import PerceptaError
from percepta.hyperparams import LossWeights
from percepta.modelfile import load_model, save_model
from percepta.nets import TransformNet
from percepta.train import TrainOptions, load_checkpoint, train

from .conftest import PHOTOS, STYLES

TINY = dict(
    size=32,
    style_size=64,
    batch_size=4,
    net=NetConfig.style(norm="instance", upsample="resize", width=0.25, blocks=1),
    checkpoint_every=2,
    val_every=3,
    progress=False,
)


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name in ("opencv_baboon.jpg", "opencv_fruits.jpg", "mate_Garden.jpg", "lxqt_beam.jpg"):
        shutil.copy(PHOTOS / name, folder / name)
    (folder / "sub").mkdir()
    shutil.copy(PHOTOS / "opencv_orange.jpg", folder / "sub" / "orange.jpg")  # found recursively
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")  # skipped with a warning
    return folder


def _opts(photo_dir: Path, out: Path, **kw) -> TrainOptions:
    return TrainOptions("style", str(photo_dir), str(out), style=str(STYLES / "wave.jpg"), **{**TINY, **kw})


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_model(path).net.state_dict()


def test_training_writes_model_logs_and_validation(photo_dir, tmp_path) -> None:
    with pytest.warns(UserWarning, match="broken.jpg"):
        path = train(_opts(photo_dir, tmp_path / "m.safetensors", iters=6))
    model = load_model(path)
    meta = model.meta
    assert meta["iterations"] == 6 and meta["style_image"] == "wave.jpg" and len(meta["style_sha256"]) == 64
    assert TrainOptions.from_dict(meta["options"]).loss == LossWeights() and meta["final_losses"]["total"] > 0
    assert meta["style_thumbnail_jpeg_base64"]
    logs = tmp_path / "m-training"
    rows = _csv(logs / "losses.csv")
    assert [int(r["iteration"]) for r in rows] == list(range(1, 7))
    assert {"total", "content", "style", "tv"} <= set(rows[0])
    assert (logs / "losses.png").stat().st_size > 1000
    assert sorted(p.name for p in (logs / "val").iterdir()) == ["iter_000003.png", "iter_000006.png"]
    # training changed the network: its output is no longer the untrained one's
    torch.manual_seed(0)
    untrained = type(model.net)(model.config).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert (model.net(x) - untrained(x)).abs().mean() > 1e-3


def test_resume_gives_identical_weights(photo_dir, tmp_path) -> None:
    straight = train(_opts(photo_dir, tmp_path / "a.safetensors", iters=6, val_every=0))
    first = _opts(photo_dir, tmp_path / "b.safetensors", iters=3, val_every=0)
    train(first)
    assert load_checkpoint(first.checkpoint_path)["iteration"] == 3
    with pytest.raises(PerceptaError, match="already exists"):  # the 3-iteration model is not replaced silently
        train(_opts(photo_dir, tmp_path / "b.safetensors", iters=6, val_every=0), resume=first.checkpoint_path)
    resumed = train(
        _opts(photo_dir, tmp_path / "b.safetensors", iters=6, val_every=0, overwrite=True), resume=first.checkpoint_path
    )
    for key, value in _weights(straight).items():
        assert torch.equal(value, _weights(resumed)[key]), key
    rows = _csv(tmp_path / "b-training" / "losses.csv")
    assert [int(r["iteration"]) for r in rows] == list(range(1, 7))


def test_resume_applies_how_it_saves_as_given(photo_dir, tmp_path, capsys) -> None:
    """``--resume`` with ``--half``, ``--checkpoint-every`` or ``--val-every`` runs with this call's values (they
    are how the run saves, not what it learns), without the "ignored" warning; not given, the checkpoint's."""
    from percepta.cli import main

    out, ckpt = tmp_path / "r.safetensors", tmp_path / "r.ckpt"
    assert main(_cli(photo_dir, out, 2)[3:]) == 0
    assert {v.dtype for v in _stored(out)} == {torch.float32}
    resume = ["--resume", str(ckpt), "--overwrite", "--iters", "3"]
    assert main([*_cli(photo_dir, out, 3)[3:], *resume, "--half", "--checkpoint-every", "1"]) == 0
    ignored = [line for line in capsys.readouterr().err.splitlines() if "ignored:" in line]
    assert ignored and "--half" not in ignored[0] and "--checkpoint-every" not in ignored[0]  # --size etc. are
    assert load_checkpoint(ckpt)["options"]["checkpoint_every"] == 1
    assert {v.dtype for v in _stored(out)} == {torch.float16}
    assert main(["train", "style", "--style", str(STYLES / "wave.jpg"), "--data", str(photo_dir), "-o", str(out),
                 "--checkpoint", str(ckpt), *resume[:3], "--iters", "4", "--no-preview"]) == 0  # fmt: skip
    assert load_checkpoint(ckpt)["options"]["checkpoint_every"] == 1 and load_checkpoint(ckpt)["iteration"] == 4


def test_resume_alone_continues_the_same_run(photo_dir, tmp_path, capsys) -> None:
    """``train style --resume CKPT`` needs no other flag: the checkpoint's painting, photos and model file, and
    it goes on writing the checkpoint it resumed (a recipe run's, in the cache), not a new one."""
    from percepta.cli import main

    out = tmp_path / "alone.safetensors"
    first = _cli(photo_dir, out, 2)[3:]
    at = first.index("--checkpoint")
    assert main(first[:at] + first[at + 2 :]) == 0  # the checkpoint in the cache, as a recipe run keeps it
    (ckpt,) = Path(os.environ["PERCEPTA_CACHE"]).glob("train/alone-*/run.ckpt")
    assert load_checkpoint(ckpt)["iteration"] == 2
    capsys.readouterr()
    assert main(["train", "style", "--resume", str(ckpt), "--iters", "3", "--overwrite", "--no-preview"]) == 0
    assert capsys.readouterr().out.strip() == str(out)  # stdout is the model path alone (messages: stderr)
    assert load_checkpoint(ckpt)["iteration"] == 3 and load_checkpoint(ckpt)["options"]["data"] == str(photo_dir)
    assert list(tmp_path.glob("*.ckpt")) == []
    from percepta.cli import build_parser
    from percepta.commands.train import train_options

    again = train_options(build_parser().parse_args(["train", "style", "--resume", str(ckpt)]))
    assert again.time_budget is None and again.checkpoint == str(ckpt)  # the run's own length, not the recipe's
    timed = train_options(build_parser().parse_args(["train", "style", "--resume", str(ckpt), "--minutes", "2"]))
    assert timed.time_budget == 120
    assert main(["train", "style", "--iters", "3"]) == 1  # no painting and nothing resumed: a one-line error
    assert "needs --style PAINTING" in capsys.readouterr().err
    sr = ["train", "sr", "--resume", str(ckpt), "--data", str(photo_dir), "-o", str(tmp_path / "sr.safetensors")]
    assert main(sr) == 1  # the other task's checkpoint: named, one line
    assert capsys.readouterr().err.strip().endswith("is a style training checkpoint; resume it with train style")


def test_style_octaves_train_and_are_recorded(photo_dir, tmp_path, capsys) -> None:
    """``--style-octaves 2`` (with ``--lr-decay linear``) trains (the loss on the crops and the painting halved
    too), both are kept in the checkpoint and the model card; octaves that halve the crops below what relu4_3
    needs are a one-line error."""
    from percepta.cards import model_card
    from percepta.cli import main

    out = tmp_path / "oct.safetensors"
    assert main([*_cli(photo_dir, out, 2)[3:], "--style-octaves", "2", "--lr-decay", "linear"]) == 0
    stored = load_checkpoint(out.with_suffix(".ckpt"))["options"]
    assert stored["loss"]["style_octaves"] == 2 and stored["lr_decay"] == "linear"
    assert "on 2 octaves" in model_card(out) and "Adam lr 0.001 falling linearly to 0" in model_card(out)
    capsys.readouterr()
    assert main([*_cli(photo_dir, tmp_path / "o4.safetensors", 2)[3:], "--style-octaves", "4"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert "of 4, the image halved" in err[-1] and "Traceback" not in "".join(err)


def _stored(path: Path) -> list[torch.Tensor]:
    """The floating-point tensors as the model file stores them."""
    from safetensors.torch import load_file

    return [v for v in load_file(path).values() if v.is_floating_point()]


def test_bad_data_and_checkpoint(tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PerceptaError, match="no images"):
        train(_opts(empty, tmp_path / "m.safetensors", iters=1))
    with pytest.raises(PerceptaError, match="not found"):
        train(_opts(tmp_path / "missing", tmp_path / "m.safetensors", iters=1))
    (tmp_path / "bad.ckpt").write_bytes(b"nope")
    with pytest.raises(PerceptaError, match="checkpoint"):
        load_checkpoint(tmp_path / "bad.ckpt")


def _cli(photo_dir: Path, out: Path, iters: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "percepta",
        "train",
        "style",
        "--style",
        str(STYLES / "wave.jpg"),
        "--data",
        str(photo_dir),
        "-o",
        str(out),
        "--size",
        "32",
        "--style-size",
        "64",
        "--norm",
        "instance",
        "--upsample",
        "resize",
        "--width",
        "0.25",
        "--blocks",
        "1",
        "--iters",
        str(iters),
        "--checkpoint-every",
        "2",
        "--checkpoint",
        str(out.with_suffix(".ckpt")),
        "--val-every",
        "0",
        "--no-preview",
        *extra,
    ]


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[1] / "src")
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}


def test_ctrl_c_saves_checkpoint_and_exits_cleanly(photo_dir, tmp_path) -> None:
    out = tmp_path / "i.safetensors"
    proc = subprocess.Popen(_cli(photo_dir, out, 100000), stderr=subprocess.PIPE, text=True, env=_env())
    ckpt = tmp_path / "i.ckpt"
    deadline = time.time() + 240
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    state = load_checkpoint(ckpt)
    assert state["iteration"] >= 2 and not out.exists()
    assert not list(tmp_path.glob(".*.tmp"))  # no half-written files left behind


def test_torchrun_two_processes_match_one(photo_dir, tmp_path) -> None:
    """DDP over 2 CPU processes (gloo) on the same global batch gives the 1-process weights (in fp32: bf16's
    rounding, which ``--amp auto`` picks on a CPU with native bf16, differs between one and two processes' batches)."""
    single, double = tmp_path / "one.safetensors", tmp_path / "two.safetensors"
    subprocess.run(_cli(photo_dir, single, 3, "--amp", "off"), check=True, env=_env(), capture_output=True, timeout=600)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "percepta",
            *_cli(photo_dir, double, 3, "--amp", "off")[3:],
        ],
        env={**_env(), "TMPDIR": str(tmp_path)},  # torchelastic's own temporary folders go with the test's
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    one, two = load_model(single), load_model(double)
    assert two.meta["iterations"] == 3
    # The same global batch gives the same gradients up to float rounding, but Adam divides each gradient by
    # its own running RMS: a weight whose gradient is rounding noise (a conv bias before instance norm gets 0
    # in exact arithmetic) moves by about lr a step either way, whatever its sign. So weights may be up to
    # 2 * steps * lr apart, and only a few may use that freedom; the outputs below check what the nets compute.
    steps, lr = 3, 1e-3
    a, b = one.net.state_dict(), two.net.state_dict()
    floats = [key for key in a if a[key].is_floating_point()]
    diffs = torch.cat([(a[key] - b[key]).abs().flatten() for key in floats])
    assert float(diffs.max()) <= 2 * steps * lr * 1.01
    assert float((diffs > 2e-5).float().mean()) < 0.02, "DDP and one process moved the weights apart"
    torch.manual_seed(0)
    untrained = type(one.net)(one.config).eval()
    x = torch.rand(2, 3, 48, 48)
    with torch.no_grad():
        gap = (one.net(x) - two.net(x)).abs().max()
        assert gap < 1e-3 and gap < 0.01 * (one.net(x) - untrained(x)).abs().max()


@pytest.mark.parametrize("loss", ["feat", "pixel"])
def test_super_resolution_training(photo_dir, tmp_path, loss: str) -> None:
    opts = TrainOptions(
        "sr",
        str(photo_dir),
        str(tmp_path / f"sr_{loss}.safetensors"),
        net=NetConfig.super_resolution(4, width=0.25),
        loss=LossWeights.super_resolution(loss),
        size=32,
        iters=3,
        checkpoint_every=2,
        val_every=3,
        progress=False,
    )
    with pytest.warns(UserWarning):
        model = load_model(train(opts))
    assert (
        model.task == "sr"
        and model.config.scale == 4
        and TrainOptions.from_dict(model.meta["options"]).loss.sr_loss == loss
    )
    parts = set(_csv(tmp_path / f"sr_{loss}-training" / "losses.csv")[0])
    assert ("content" in parts) == (loss == "feat") and ("pixel" in parts) == (loss == "pixel")
    with torch.no_grad():
        assert model.net(torch.rand(1, 3, 9, 11)).shape == (1, 3, 36, 44)


def test_time_budget_stops_and_saves_the_model(photo_dir, tmp_path) -> None:
    opts = TrainOptions(
        "sr",
        str(photo_dir),
        str(tmp_path / "b.safetensors"),
        size=32,
        iters=100_000,
        net=NetConfig.super_resolution(4, width=0.25, skip="bicubic"),
        loss=LossWeights.super_resolution("pixel"),
        time_budget=1.0,
        val_every=0,
        progress=False,
    )
    with pytest.warns(UserWarning):
        model = load_model(train(opts))
    assert 0 < model.meta["iterations"] < 100_000 and model.config.skip == "bicubic"
    assert load_checkpoint(tmp_path / "b.ckpt")["iteration"] == model.meta["iterations"]


def test_train_resumable_continues_then_skips(photo_dir, tmp_path) -> None:
    from percepta.train import train_resumable

    train(_opts(photo_dir, tmp_path / "r.safetensors", iters=2, val_every=0))  # leaves r.ckpt, like a stopped run
    path = train_resumable(_opts(photo_dir, tmp_path / "r.safetensors", iters=4, val_every=0))
    assert load_model(path).meta["iterations"] == 4
    assert not (tmp_path / "r.ckpt").exists() and (tmp_path / "r.done.ckpt").exists()
    stamp = path.stat().st_mtime_ns
    assert train_resumable(_opts(photo_dir, tmp_path / "r.safetensors", iters=4, val_every=0)) == path
    assert path.stat().st_mtime_ns == stamp  # finished: not trained again


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_step_matches_fp32(photo_dir, tmp_path, amp: str) -> None:
    """The mixed-precision path (for GPUs) on the CPU at a tiny size: the first loss, computed from the same
    weights and batch, is the fp32 one up to half precision, and training goes on with finite losses."""
    fp32 = train(_opts(photo_dir, tmp_path / "fp32.safetensors", iters=3, val_every=0))
    mixed = train(_opts(photo_dir, tmp_path / f"{amp}.safetensors", iters=3, val_every=0, amp=amp))
    first = {p.stem: _csv(p.with_name(p.stem + "-training") / "losses.csv") for p in (fp32, mixed)}
    for term in ("total", "content", "style"):
        a, b = float(first["fp32"][0][term]), float(first[amp][0][term])
        assert b == pytest.approx(a, rel=0.05), (term, a, b)
    assert all(torch.isfinite(torch.tensor(float(r["total"]))) for r in first[amp])
    assert load_model(mixed).meta["options"]["amp"] == amp


def test_amp_auto_is_bf16_channels_last_only_on_a_cpu_with_native_bf16(photo_dir, tmp_path, monkeypatch) -> None:
    """``--amp auto`` (the CPU recipes'): bf16 in the channels-last layout where the CPU has native bf16 (AMX, or
    AVX-512 bf16 alone), fp32 where it has neither and on a GPU; explicit values are kept. A run with it trains
    with finite losses and records ``auto``; a resumed run given ``--amp`` takes this call's value (how fast,
    not what it learns)."""
    from percepta.runtime import cpu_kind, mixed_precision
    from percepta.train.loop import _Step

    net, loss = torch.nn.Conv2d(3, 3, 1), torch.nn.Identity()
    # (AMX, AVX-512 bf16): an Intel Xeon with AMX has both, an AMD EPYC of Zen 4 on the second, an AVX2 CPU neither
    for amx, avx512, kind in ((True, True, "amx"), (False, True, "avx512_bf16"), (False, False, "fp32")):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda amx=amx: amx)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda avx512=avx512: avx512)
        step = _Step(net, loss, None, "auto", torch.device("cpu"))
        assert cpu_kind() == kind
        assert step.dtype is (None if kind == "fp32" else torch.bfloat16) and step.channels_last == (kind != "fp32")
        assert mixed_precision("auto", "cuda:0") == "off" and mixed_precision("fp16", "cpu") == "fp16"
    monkeypatch.undo()
    path = train(_opts(photo_dir, tmp_path / "auto.safetensors", iters=2, val_every=0, amp="auto"))
    rows = _csv(tmp_path / "auto-training" / "losses.csv")
    assert len(rows) == 2 and all(math.isfinite(float(r["total"])) for r in rows)
    assert load_model(path).meta["options"]["amp"] == "auto"
    from percepta.train.loop import resumed_options

    opts = _opts(photo_dir, tmp_path / "more.safetensors", iters=3, val_every=0)
    assert resumed_options(tmp_path / "auto.ckpt", opts).amp == "auto"
    assert resumed_options(tmp_path / "auto.ckpt", opts, amp="off").amp == "off"


def test_distillation_targets_the_teachers_output(photo_dir, tmp_path) -> None:
    """With a teacher, the target is the teacher's output, not the photo: a student that starts as the
    teacher (same seed) has a zero pixel loss; one that starts elsewhere moves towards the teacher."""
    pixel_only = LossWeights(content=0.0, style=0.0, tv=0.0, pixel=1.0)
    for seed, name in ((0, "same"), (5, "other")):
        torch.manual_seed(seed)
        teacher = save_model(tmp_path / f"{name}.safetensors", TransformNet(TINY["net"]).eval(), {"name": name})
        opts = _opts(photo_dir, tmp_path / f"student_{name}.safetensors", iters=30, val_every=0, lr=1e-2,
                     teacher=str(teacher), teacher_margin=0, loss=pixel_only)  # fmt: skip
        rows = _csv(Path(train(opts)).with_name(f"student_{name}-training") / "losses.csv")
        first, last = float(rows[0]["pixel"]), float(rows[-1]["pixel"])
        if name == "same":
            assert first == 0.0
        else:
            assert 0 < last < first, (first, last)


def test_distillation_teacher_runs_behind_its_reflection_margin(photo_dir, tmp_path) -> None:
    """``teacher_margin``: the teacher sees its input behind a reflection margin (so its edge lines are not
    taught): a student with the teacher's weights and that margin starts at zero pixel loss; without the
    margin on the teacher's side it does not."""
    pixel_only = LossWeights(content=0.0, style=0.0, tv=0.0, pixel=1.0)
    torch.manual_seed(0)
    teacher = save_model(tmp_path / "t.safetensors", TransformNet(TINY["net"]).eval(), {"name": "t"})
    student = dataclasses.replace(TINY["net"], margin=8)
    first = {}
    for margin in (8, 0):
        opts = _opts(photo_dir, tmp_path / f"s{margin}.safetensors", iters=1, val_every=0, net=student,
                     teacher=str(teacher), teacher_margin=margin, loss=pixel_only)  # fmt: skip
        first[margin] = float(_csv(Path(train(opts)).with_name(f"s{margin}-training") / "losses.csv")[0]["pixel"])
    assert first[8] == 0.0 and first[0] > 0, first


def test_photo_size_shows_scenes_larger_in_the_same_crops(tmp_path) -> None:
    """``photo_size``: each photo's shorter side is resized to it before the ``size`` crops are cut, so a crop
    holds part of the scene (by default, ``size``: the whole shorter side, as the paper's 256 x 256 photos)."""
    from PIL import Image

    from percepta.data import PhotoBatches

    ramp = torch.linspace(0, 255, 96).round().to(torch.uint8).repeat(96, 1)  # dark left, bright right
    Image.fromarray(ramp.numpy()).convert("RGB").save(tmp_path / "ramp.png")
    whole = PhotoBatches(tmp_path, 32, 32).crops(0, 4)
    part = PhotoBatches(tmp_path, 32, 64).crops(0, 4)
    assert whole.shape == part.shape == (4, 3, 32, 32)
    span = lambda crops: float((crops[..., -1] - crops[..., 0]).abs().mean())  # noqa: E731
    assert span(whole) > 0.9 and 0.4 < span(part) < 0.6  # the ramp's whole width, then half of it
    with pytest.raises(ValueError, match="photo size"):
        TrainOptions("style", "d", "m.safetensors", style="s.jpg", size=64, photo_size=32)


def test_photo_size_min_shows_each_crop_at_its_own_scale(tmp_path) -> None:
    """``photo_size_min`` (scale augmentation): each crop shows its photo at a random shorter side between it and
    ``photo_size``, so the crops hold between the whole shorter side and half of it; the same each run."""
    from PIL import Image

    from percepta.data import PhotoBatches

    ramp = torch.linspace(0, 255, 96).round().to(torch.uint8).repeat(96, 1)  # dark left, bright right
    Image.fromarray(ramp.numpy()).convert("RGB").save(tmp_path / "ramp.png")
    jittered = PhotoBatches(tmp_path, 32, 64, min_short_side=32)
    crops = jittered.crops(0, 64)
    assert crops.shape == (64, 3, 32, 32) and float(crops.min()) >= 0.0 and float(crops.max()) <= 1.0
    spans = (crops[..., -1] - crops[..., 0]).abs().mean(dim=(1, 2))  # the share of the ramp each crop holds
    assert 0.45 < float(spans.min()) < 0.6 and 0.85 < float(spans.max()) <= 1.0, spans
    assert torch.equal(crops, jittered.crops(0, 64))  # a pure function of (seed, iteration)
    unjittered = PhotoBatches(tmp_path, 32, 64, min_short_side=64).crops(0, 4)  # one scale: the plain crops
    assert torch.equal(unjittered, PhotoBatches(tmp_path, 32, 64).crops(0, 4))
    with pytest.raises(ValueError, match="smallest photo size"):
        TrainOptions("style", "d", "m.safetensors", style="s.jpg", size=64, photo_size=128, photo_size_min=32)


def _stop_after(monkeypatch, n: int) -> None:
    """Ctrl-C as iteration ``n + 1`` begins (the loop saves iteration ``n``'s checkpoint and stops)."""
    from percepta.train import loop

    real = loop._batch

    def batch(opts, photos, iteration, ctx):
        if iteration == n:
            raise KeyboardInterrupt
        return real(opts, photos, iteration, ctx)

    monkeypatch.setattr(loop, "_batch", batch)


def test_linear_lr_decay_falls_to_zero_and_resumes_exactly(photo_dir, tmp_path, monkeypatch) -> None:
    """``lr_decay="linear"``: the learning rate of iteration i is lr * (1 - i / iters), recorded in the
    checkpoint's optimiser, the same schedule across a resume; the model records the choice."""
    straight = train(_opts(photo_dir, tmp_path / "a.safetensors", iters=6, val_every=0, lr_decay="linear"))
    assert load_checkpoint(tmp_path / "a.ckpt")["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-3 / 6)
    assert load_model(straight).meta["options"]["lr_decay"] == "linear"
    first = _opts(photo_dir, tmp_path / "b.safetensors", iters=6, val_every=0, lr_decay="linear",
                  checkpoint_every=1)  # fmt: skip
    with monkeypatch.context() as patched, pytest.raises(PerceptaError, match="interrupted at iteration 3"):
        _stop_after(patched, 3)
        train(first)
    assert load_checkpoint(first.checkpoint_path)["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-3 / 2)
    resumed = train(dataclasses.replace(first, overwrite=True), resume=first.checkpoint_path)
    for key, value in _weights(straight).items():
        assert torch.equal(value, _weights(resumed)[key]), key
    constant = train(_opts(photo_dir, tmp_path / "c.safetensors", iters=6, val_every=0))
    assert load_checkpoint(tmp_path / "c.ckpt")["optimizer"]["param_groups"][0]["lr"] == 1e-3
    assert not all(torch.equal(v, _weights(constant)[k]) for k, v in _weights(straight).items())
    with pytest.raises(ValueError, match="lr_decay must be one of none, linear"):
        _opts(photo_dir, tmp_path / "d.safetensors", lr_decay="cosine")
