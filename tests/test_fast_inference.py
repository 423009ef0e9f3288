"""The tuned inference path: backends equal to the eager network, export round trips, tiling without seams."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from percepta.arch import FAST_STYLE_ARCH, NetConfig
from percepta.backends import check, frozen_statistics
from percepta.errors import ModelFileError, PerceptaError
from percepta.export import ExportGraph, export_model, min_side, onnx_bytes
from percepta.image import load_rgb, save_image, to_pil
from percepta.infer import backend_for, run_network, run_style_tiled, stylize
from percepta.metrics import edge_busyness
from percepta.modelfile import BUNDLED_DIR, Model, load_graph, load_model, save_model
from percepta.nets import TransformNet
from percepta.tiling import _positions, run_tiled
from percepta.upscaling import upscale

from .conftest import CITY, LANDSCAPE, photo

ODD_SIZES = [(67, 93), (45, 101), (130, 77)]
CLI = [sys.executable, "-m", "percepta.cli"]


def _model(config: NetConfig, seed: int = 0) -> Model:
    torch.manual_seed(seed)
    net = TransformNet(config).eval()
    for m in net.modules():  # random affine norms, so that statistics matter
        if isinstance(m, torch.nn.InstanceNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.uniform_(m.bias, -0.2, 0.2)
    return Model(net, {"name": f"random-{config.arch[:12]}"})


@pytest.fixture(scope="module")
def fast() -> Model:
    return _model(NetConfig.fast_style())


@pytest.fixture(scope="module")
def wave() -> Model:
    return load_model("wave")


def _eager(model: Model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.net(x)


def run(model: Model, x: torch.Tensor, backend: str = "auto") -> torch.Tensor:
    return run_network(model, x, backend)


def _np(fn):
    """A torch network as the array function run_tiled takes."""

    def call(a: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return fn(torch.from_numpy(np.ascontiguousarray(a))).numpy()

    return call


@pytest.mark.parametrize("name", ["wave", "sr_x4_feat"])
def test_export_graph_equals_the_network_on_odd_sizes(name: str) -> None:
    model = load_model(name)
    graph = ExportGraph(model.net).eval()
    for h, w in ODD_SIZES if name == "wave" else [(29, 41), (45, 31)]:
        x = torch.rand(2, 3, h, w)
        with torch.no_grad():
            assert torch.allclose(graph(x), model.net(x), atol=1e-6)


REWRITTEN = {  # every kind of last stage PhaseTail computes, and the cropped residual blocks
    "paper: batch norm, stride-1/2 conv": NetConfig.style(),
    "instance norm, resize-conv": NetConfig.style(norm="instance", upsample="resize", width=0.25, blocks=2),
    "no norm": NetConfig.style(norm="none", width=0.25, blocks=1),
    "slim -fast": NetConfig.fast_style(),
    "SR x4, batch norm": NetConfig.super_resolution(4, width=0.25),
    "SR x8, instance norm, resize, bicubic skip": NetConfig.super_resolution(
        8, norm="instance", upsample="resize", width=0.25, skip="bicubic"
    ),
}


@pytest.mark.parametrize("name", REWRITTEN)
def test_inference_rewrites_compute_the_same_network(name: str) -> None:
    """PhaseTail (last stage on output phases) and CroppedResidual are regroupings of the same sums: the graph
    equals the network, with trained-looking (non-identity) batch-norm statistics and affine norms."""
    from percepta.export import CroppedResidual, PhaseTail

    config = REWRITTEN[name]
    model = _model(config, seed=3)
    for m in model.net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.uniform_(m.bias, -0.2, 0.2)
        if isinstance(m, torch.nn.Conv2d) and config.skip == "bicubic":
            torch.nn.init.normal_(m.weight, std=0.05)  # the skip net's last conv starts at zero: make it count
    graph = ExportGraph(model.net).eval()
    kinds = {type(m) for m in graph.body}
    assert PhaseTail in kinds
    assert (CroppedResidual in kinds) == (config.residual == "valid")
    side = min_side(config)
    for h, w in [(side + 3, side + 10), (side + 17, side + 6)]:
        x = torch.rand(2, 3, h, w)
        with torch.no_grad():
            want, got = model.net(x), graph(x)
        assert got.shape == want.shape
        assert float((got - want).abs().max()) < 1e-5


def test_onnx_backend_matches_eager_within_1e_4(wave: Model, fast: Model) -> None:
    """The light path (the graph stored in the bundled file; a loaded network's graph exported once) equals
    PyTorch's network."""
    assert backend_for() == "onnx"  # the CPU default
    for model, light in ((wave, load_graph("wave")), (fast, fast)):
        for h, w in [*ODD_SIZES, (9, 13), (1, 5)]:  # any size: the graph takes the network's own padding
            x = torch.rand(1, 3, h, w)
            got = run(light, x)
            assert got.shape == (1, 3, h, w)
            assert float((got - _eager(model, x)).abs().max()) < 1e-4


def test_legacy_onnx_export_of_the_backend_cache_matches(fast: Model) -> None:
    """The backend's cache uses the fast TorchScript-based exporter; ``percepta export`` the dynamo one (above)."""
    from percepta.graph import session

    x = torch.rand(1, 3, 61, 83)
    out = session(onnx_bytes(fast, dynamo=False)).run(None, {"image": x.numpy()})[0]
    assert abs(out - _eager(fast, x).numpy()).max() < 1e-4


def test_files_saved_without_graphs_get_them_cached_once_and_checked(tmp_path, monkeypatch, fast: Model) -> None:
    """A model file without stored graphs (percepta 0.1's) is exported once into the graph cache, reused, and a
    cache entry holding another model's graph is not trusted."""
    monkeypatch.setenv("PERCEPTA_CACHE", str(tmp_path / "cache"))
    path = save_model(tmp_path / "old.safetensors", fast.net, {"name": "old"}, graphs=False)
    x = torch.rand(1, 3, 40, 40)
    assert float((run(load_graph(path), x) - _eager(fast, x)).abs().max()) < 1e-4
    files = sorted((tmp_path / "cache" / "onnx").glob("*.onnx"))
    assert [f.name.split(".")[1] for f in files] == ["main", "tiles"]
    stamp = files[0].stat().st_mtime_ns
    load_graph(path)
    assert files[0].stat().st_mtime_ns == stamp  # loaded, not exported again
    other = _model(NetConfig.fast_style(), seed=5)
    files[0].write_bytes(onnx_bytes(Model(other.net, {"name": "other"}), dynamo=False))
    assert float((run(load_graph(path), x) - _eager(fast, x)).abs().max()) < 1e-4  # exported again


@pytest.fixture(scope="module")
def wave_onnx(tmp_path_factory) -> Path:
    """``percepta export wave`` (the dynamo exporter, once for the module); a second call must refuse."""
    out = tmp_path_factory.mktemp("export") / "wave.onnx"
    done = subprocess.run([*CLI, "export", "wave", "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    again = subprocess.run([*CLI, "export", "wave", "-o", str(out)], capture_output=True, text=True)
    assert again.returncode != 0 and "already exists" in again.stderr and "Traceback" not in again.stderr
    return out


def _matches_on_random_odd_sizes(exported: Model, model: Model) -> None:
    assert exported.config == model.config and exported.name == model.name and exported.task == "style"
    generator = torch.Generator().manual_seed(1)
    for _ in range(3):
        h, w = (int(v) for v in torch.randint(min_side(model.config), 140, (2,), generator=generator) | 1)
        x = torch.rand(1, 3, h, w, generator=generator)
        assert float((run(exported, x) - _eager(model, x)).abs().max()) < 1e-4


def test_exported_onnx_matches_pytorch_on_random_odd_sizes(wave_onnx: Path, wave: Model) -> None:
    _matches_on_random_odd_sizes(load_model(wave_onnx), wave)


def test_exported_torchscript_matches_pytorch_on_random_odd_sizes(tmp_path, wave: Model) -> None:
    _matches_on_random_odd_sizes(load_model(export_model(wave, "torchscript", tmp_path / "wave.pt")), wave)


def test_stylize_with_the_exported_onnx_file(tmp_path, wave_onnx: Path) -> None:
    img = tmp_path / "styled.png"
    done = subprocess.run([*CLI, "stylize", str(CITY), "-m", str(wave_onnx), "-o", str(img), "--max-size", "80",
                           "--json"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["output"] == str(img)
    want = stylize(load_rgb(CITY), "wave", backend="eager", max_size=80)
    got = np.asarray(load_rgb(img), dtype=np.int16)
    assert np.abs(got - np.asarray(want, dtype=np.int16)).max() <= 1  # uint8 rounding


def test_a_file_that_is_not_a_percepta_export_is_refused(tmp_path) -> None:
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"not a graph")
    with pytest.raises(ModelFileError, match="cannot load the exported model"):
        load_model(bad)


def test_backends_refuse_what_cannot_run_here(wave: Model) -> None:
    with pytest.raises(PerceptaError, match="unknown backend"):
        backend_for("tensorrt")
    if not torch.cuda.is_available():
        with pytest.raises(PerceptaError, match="CUDA"):
            check(wave, "fp16")


@pytest.mark.slow
def test_compile_backend_matches_eager(fast: Model) -> None:
    x = torch.rand(1, 3, 48, 56)
    assert float((run(fast, x, "compile") - _eager(fast, x)).abs().max()) < 1e-4


# --- tiling -----------------------------------------------------------------------------------------------


def test_tile_positions_cover_with_the_overlap() -> None:
    for length, tile, overlap, align in [
        (1000, 256, 32, 8),
        (264, 256, 32, 8),
        (4000, 1024, 128, 4),
        (100, 256, 32, 1),
    ]:
        starts = _positions(length, tile, overlap, align)
        assert starts[0] == 0 and min(tile, length) + starts[-1] == length
        assert all(s % align == 0 for s in starts)
        assert all(b - a <= tile - overlap + align for a, b in itertools.pairwise(starts))


def test_frozen_statistics_make_tiling_nearly_exact(wave: Model) -> None:
    """With every tile normalised by one set of statistics (here the whole image's own), feathered tiles
    reproduce one pass with those statistics; tiles that normalise themselves are >10x further off. The
    frozen copy runs on the ONNX backend too, and the original network is left untouched."""
    x = photo(LANDSCAPE, 256, square=False)
    frozen = frozen_statistics(wave.net, x, stats_size=10_000)
    assert frozen is not wave.net
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in frozen.modules())
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in wave.net.modules())
    with torch.inference_mode():
        own = torch.from_numpy(run_tiled(_np(wave.net), x.numpy(), tile=160, overlap=64, align=4))
        plain = wave.net(x)
        whole = frozen(x)
        tiled = torch.from_numpy(run_tiled(_np(frozen), x.numpy(), tile=160, overlap=64, align=4))
    graph = load_graph("wave").net  # the light path: the tiles graph takes the statistics
    light = run_tiled(graph.frozen(graph.statistics(x.numpy())), x.numpy(), 160, 64, 4)
    assert float((whole - plain).abs().max()) < 1e-4  # full-size statistics are the network's own
    shared = float((whole - tiled).abs().mean())
    assert shared < 2e-3
    assert float((own - plain).abs().mean()) > 10 * shared
    assert float(np.abs(light - tiled.numpy()).max()) < 1e-4
    plain_net = _model(NetConfig.style("batch", "resize", 0.5, 2)).net
    assert frozen_statistics(plain_net, x) is plain_net  # nothing to freeze


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_tiled_stylisation_has_no_seams(norm: str) -> None:
    """The numeric seam test: across the tile boundaries, neighbouring output pixels differ no more than they
    do elsewhere; and the tiled image stays close to the untiled one. Per-tile statistics (the naive way)
    fail the first check, which shows the test can fail."""
    model = load_model("wave") if norm == "instance" else _model(NetConfig.style("batch", "resize", 0.5, 3))
    x = photo(CITY, 256, square=False)
    tile, overlap = 160, 64
    tiled = run_style_tiled(model, x, tile, overlap)
    whole = _eager(model, x)
    assert tiled.shape == whole.shape
    assert float((tiled - whole).abs().mean()) < 0.01

    def seam_ratio(y: torch.Tensor) -> float:
        steps = (y[..., :, 1:] - y[..., :, :-1]).abs().mean(dim=(0, 1, 2))  # per column boundary
        seams = [s + overlap // 2 for s in _positions(y.shape[-1], tile, overlap, 4)[1:]]
        near = torch.stack([steps[c - 3 : c + 3].mean() for c in seams]).mean()
        return float(near / steps.mean())

    assert seam_ratio(tiled) < 1.25
    if norm == "instance":
        naive = torch.from_numpy(run_tiled(_np(model.net), x.numpy(), tile, 1))  # own statistics, ~no feathering
        naive_steps = (naive[..., :, 1:] - naive[..., :, :-1]).abs().mean(dim=(0, 1, 2))
        cuts = list(_positions(x.shape[-1], tile, 1)[1:])
        assert max(float(naive_steps[c - 1 : c + 1].max() / naive_steps.mean()) for c in cuts) > 1.5


def test_stylize_tiles_large_images_and_accepts_sizes_past_the_untiled_limit(monkeypatch, wave: Model) -> None:
    import percepta.infer as infer
    from percepta.errors import ImageError

    x = photo(CITY, 300, square=False)
    untiled = stylize(x, wave, backend="eager", tile=0)
    monkeypatch.setattr(infer, "MAX_INFERENCE_PIXELS", 100 * 100)  # pretend this machine is tiny
    with pytest.raises(ImageError, match="too large to stylise"):
        stylize(x, wave, tile=0)
    y = stylize(x, wave, tile=128)
    assert y.shape == x.shape
    assert float((y - untiled).abs().mean()) < 0.03


def test_upscale_runs_on_each_backend_alike() -> None:
    x = photo(CITY, 40, square=False)[0]
    eager = upscale(x, "sr_x4_feat", backend="eager", tile=0)
    auto = upscale(x, "sr_x4_feat", tile=16, overlap=16)
    assert auto.shape == eager.shape == (3, x.shape[1] * 4, x.shape[2] * 4)
    assert float((auto - eager).abs().max()) < 1e-4


def test_fast_architecture_is_leaner_than_the_bundled_one() -> None:
    fast, wave = NetConfig.fast_style(), load_model("wave").config
    assert fast.arch == FAST_STYLE_ARCH and fast.pad == 0
    assert fast.macs_per_pixel() < wave.macs_per_pixel() / 3
    assert NetConfig.style().macs_per_pixel() > 3 * wave.macs_per_pixel()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (runs in GPU sessions)")
def test_cuda_fp16_backend_matches_fp32_within_1e_2() -> None:
    model = load_model("wave", "cuda")
    assert backend_for("auto", "cuda") == "fp16"
    x = torch.rand(2, 3, 131, 97)
    want = run(model, x, "eager")
    assert float((run(model, x) - want).abs().max()) < 1e-2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (runs in GPU sessions)")
def test_bench_speed_runs_on_cuda(tmp_path) -> None:
    from percepta.experiments import speed_table

    rows = speed_table(photo(CITY, 64), photo(LANDSCAPE, 64), [64], [3], None, "cuda", quick=True)
    assert rows and all(r.network_seconds > 0 and r.optimization_seconds > 0 for r in rows)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (runs in GPU sessions)")
def test_cuda_folder_run_batches_by_default(tmp_path) -> None:
    """``percepta stylize FOLDER --device cuda`` batches images of one size (default 4) on the fp16 path and
    writes what the CPU's fp32 path writes, within fp16's rounding."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        save_image(to_pil(photo(CITY if i % 2 else LANDSCAPE, 96)), src / f"{i}.png")
    for device in ("cuda", "cpu"):
        done = subprocess.run([*CLI, "stylize", str(src), "-m", "wave", "-o", str(tmp_path / device), "--device",
                               device, "--json"], capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, done.stderr
    for i in range(5):
        gpu = np.asarray(load_rgb(tmp_path / "cuda" / f"{i}.png"), np.int16)
        cpu = np.asarray(load_rgb(tmp_path / "cpu" / f"{i}.png"), np.int16)
        assert np.abs(gpu - cpu).mean() < 1.0


BUNDLED_FAST = sorted(p.stem for p in BUNDLED_DIR.glob("*-fast.safetensors"))


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason="a line along the left edge, 1.9-2.4x (known)"))
        if n == "the_scream-fast"
        else n
        for n in BUNDLED_FAST
    ],
)
def test_fast_models_draw_no_lines_along_the_edges(name: str) -> None:
    """The -fast models' padded convs drew lines along the picture's edges (up to ~1.5x busier than inside),
    and students trained against a teacher's own edge lines drew those (the_scream-fast: 3.6x along the left
    edge, udnie-fast 2.7x along the right). Trained and run behind the reflection margin, from a teacher behind
    one, no edge of three photos is busier than 2.2x the inside (measured 0.3-2.1, the highest where the
    photo itself is busy along its bottom edge), except the_scream-fast's left edge (1.9-2.4x after 400
    iterations against the teacher behind its margin)."""
    from importlib.resources import files

    from percepta.arch import EDGE_MARGIN
    from percepta.infer import as_batch

    model = load_model(name)
    assert model.config.margin == EDGE_MARGIN
    picos = torch.from_numpy(as_batch(load_rgb(files("percepta") / "examples" / "picos_de_europa.jpg"), 256))
    with torch.no_grad():
        for x in (picos, photo(CITY, 256), photo(LANDSCAPE, 256)):
            assert max(edge_busyness(model.net(x))) < 2.2, edge_busyness(model.net(x))


def test_full_style_models_run_behind_the_edge_margin() -> None:
    """The full models' zero-padded 9x9 and stride-2 convs drew fainter lines along the edges (the_scream's
    edge strips ~1.5x as busy as the inside on average, up to 2.2x); they got the reflection margin after
    training, which calms every model's edges: on average below the inside's busyness on three photos."""
    from importlib.resources import files

    from percepta.arch import EDGE_MARGIN
    from percepta.infer import as_batch

    picos = torch.from_numpy(as_batch(load_rgb(files("percepta") / "examples" / "picos_de_europa.jpg"), 256))
    photos = (picos, photo(CITY, 256), photo(LANDSCAPE, 256))
    full = {p.stem: load_model(p) for p in sorted(BUNDLED_DIR.glob("*.safetensors")) if p.stem not in BUNDLED_FAST}
    full = {name: model for name, model in full.items() if model.task == "style"}
    assert {"wave", "the_scream"} <= set(full)
    for name, model in full.items():
        assert model.config.margin == EDGE_MARGIN, name
        with torch.no_grad():
            edges = {m: np.mean([edge_busyness(model.net.with_margin(m)(x)) for x in photos]) for m in (0, EDGE_MARGIN)}
        assert edges[EDGE_MARGIN] < min(1.0, edges[0]), (name, edges)
        if name == "the_scream":
            assert edges[0] > 1.3, edges  # the lines the margin is for


def test_save_then_load_keeps_working_with_backends(tmp_path, fast: Model) -> None:
    path = save_model(tmp_path / "f.safetensors", fast.net, {"name": "f"})
    loaded = load_model(path)
    x = torch.rand(1, 3, 50, 70)
    assert float((run(loaded, x) - _eager(fast, x)).abs().max()) < 1e-4


def test_bundled_fast_models_are_the_slim_network_and_say_what_they_were_distilled_from() -> None:
    from percepta.cards import model_card

    assert "wave-fast" in BUNDLED_FAST
    for name in BUNDLED_FAST:
        model = load_model(name)
        assert model.config == NetConfig.fast_style()
        card = model_card(BUNDLED_DIR / f"{name}.safetensors")
        teacher = name.removesuffix("-fast")
        assert f"distilled from `{teacher}.safetensors`" in card and "padded residual convs" in card


def test_folder_batches_give_the_images_one_at_a_time_would(tmp_path, fast: Model) -> None:
    """``batch`` groups consecutive images of one size (after ``max_size``) into one forward pass; the files
    written are those of one-at-a-time, a broken file in the middle is reported alone, and other sizes start
    a new batch."""
    from percepta.infer import stylize_files

    src = tmp_path / "in"
    src.mkdir()
    for i, (image, side) in enumerate([(CITY, 64), (LANDSCAPE, 64), (CITY, 48), (LANDSCAPE, 64)]):
        save_image(to_pil(photo(image, side)), src / f"{i}.png")
    (src / "2b.png").write_bytes(b"not a png")
    single = stylize_files([src], fast, tmp_path / "one", batch=1, max_size=56)
    batched = stylize_files([src], fast, tmp_path / "four", batch=4, max_size=56)
    assert [r.ok for r in single] == [r.ok for r in batched] == [True, True, True, False, True]
    assert "2b.png" in batched[3].error
    for a, b in zip(single, batched):
        if a.ok:
            one, four = load_rgb(a.output), load_rgb(b.output)
            assert one.size == four.size
            assert np.abs(np.asarray(one, np.int16) - np.asarray(four, np.int16)).max() <= 1


def test_light_path_matches_pytorch_on_video_frames(tmp_path) -> None:
    """Decoded video frames through the light path (the stored graph, numpy in and out) and through PyTorch's
    network: the same stylised frames within 1e-4."""
    import av

    from .test_video import make_clip

    clip = make_clip(tmp_path / "clip.mp4", audio=False)
    with av.open(str(clip)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)][:4]
    x = np.stack(frames).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    light = stylize(x, "wave-fast")
    eager = stylize(torch.from_numpy(x), "wave-fast", backend="eager")
    assert isinstance(light, np.ndarray) and light.shape == x.shape
    assert float(np.abs(light - eager.numpy()).max()) < 1e-4
