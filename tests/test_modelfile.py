"""Model files rebuild their network from the file alone, and bad files are rejected clearly."""

from __future__ import annotations

import pytest
import torch

from percepta.errors import ModelFileError
from percepta.modelfile import available_models, load_model, read_meta, resolve_model, save_model
from percepta.nets import NetConfig, TransformNet


def _net(config: NetConfig) -> TransformNet:
    torch.manual_seed(1)
    net = TransformNet(config)
    with torch.no_grad():  # non-trivial batch-norm statistics must survive the round trip
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()


@pytest.mark.parametrize(
    "config", [NetConfig.style(), NetConfig.style("instance", "resize", 0.5, 3), NetConfig.super_resolution(4)]
)
def test_round_trip(tmp_path, config: NetConfig) -> None:
    net = _net(config)
    path = save_model(tmp_path / "m.safetensors", net, {"name": "m", "style_image": "wave.jpg", "iterations": 7})
    model = load_model(path)
    assert model.config == config
    assert model.meta["iterations"] == 7 and "percepta_version" in model.meta
    x = torch.rand(1, 3, 29, 31)
    with torch.no_grad():
        assert torch.equal(model.net(x), net(x))
    assert read_meta(path)[1]["style_image"] == "wave.jpg"


def test_half_precision_is_close_and_small(tmp_path) -> None:
    net = _net(NetConfig.style("instance", "resize", 0.5, 3))
    full = save_model(tmp_path / "f.safetensors", net, graphs=False)  # the weights alone: graphs stay fp32
    half = save_model(tmp_path / "h.safetensors", net, half=True, graphs=False)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        assert (load_model(half).net(x) - net(x)).abs().max() < 5e-3


def test_bad_files_rejected(tmp_path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFileError, match="not a percepta model"):
        load_model(garbage)
    good = save_model(tmp_path / "good.safetensors", _net(NetConfig.style()))
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ModelFileError):
        load_model(truncated)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(ModelFileError, match="not a percepta model"):
        load_model(foreign)


def test_mismatched_weights_rejected(tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    path = save_model(tmp_path / "m.safetensors", _net(NetConfig.style()))
    tensors = load_file(str(path))
    with open(path, "rb") as fh:
        import json

        header = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))["__metadata__"]
    header["config"] = header["config"].replace('"width": 1.0', '"width": 0.5')
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata=header)
    with pytest.raises(ModelFileError, match="do not match"):
        load_model(tmp_path / "bad.safetensors")


def test_lookup_by_name(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PERCEPTA_MODELS", str(tmp_path))
    save_model(tmp_path / "mine.safetensors", _net(NetConfig.style("instance", width=0.25)))
    assert "mine" in available_models()
    assert resolve_model("mine") == tmp_path / "mine.safetensors"
    with pytest.raises(ModelFileError, match="no model named"):
        resolve_model("no-such-style")
