"""Self-describing model files and the registry of bundled and user models.

A percepta model is one ``.safetensors`` file: the transformation network's weights (optionally fp16)
plus JSON metadata holding the :class:`~percepta.nets.NetConfig` that rebuilds it and a free-form
``meta`` dict (task, scale, style image name and hash, thumbnail, every training hyper-parameter,
iterations, final losses, percepta version). Loading needs no training code or optimiser state.

Models are looked up by name in, in order: ``$PERCEPTA_MODELS`` (a folder), the user model folder
(``~/.local/share/percepta/models`` or the platform's equivalent), and the models bundled in the package.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from .errors import ModelFileError
from .fsutil import atomic_write
from .nets import NetConfig, TransformNet

FORMAT = "percepta-model"
FORMAT_VERSION = 1
SUFFIX = ".safetensors"
BUNDLED_DIR = Path(__file__).resolve().parent / "models"


@dataclass
class Model:
    """A loaded transformation network with its config and provenance."""

    net: TransformNet
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def config(self) -> NetConfig:
        return self.net.config

    @property
    def task(self) -> str:
        return self.config.task

    @property
    def name(self) -> str:
        return self.meta.get("name") or (self.path.name.removesuffix(SUFFIX) if self.path else "model")


def save_model(path: str | os.PathLike, net: TransformNet, meta: dict[str, Any] | None = None,
               half: bool = False) -> Path:
    """Write ``net`` and its metadata atomically; ``half=True`` stores float weights as fp16."""
    from . import __version__

    state = {}
    for key, value in net.state_dict().items():
        value = value.detach().cpu().contiguous()
        state[key] = value.half() if half and value.is_floating_point() else value
    header = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(net.config.to_dict()),
        "meta": json.dumps({"percepta_version": __version__, **(meta or {})}),
    }
    path = Path(path)
    with atomic_write(path) as fh:
        fh.write(save_safetensors_bytes(state, metadata=header))
    return path


def _read(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    try:
        raw = path.read_bytes()
        tensors = load_safetensors_bytes(raw)
        header_len = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8 : 8 + header_len]).get("__metadata__") or {}
    except (SafetensorError, ValueError, OSError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: not a percepta model file (corrupt or truncated: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a percepta model file (no '{FORMAT}' header)")
    if int(header.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelFileError(f"{path}: model format v{header['format_version']} is newer than this "
                             f"percepta understands (v{FORMAT_VERSION}); upgrade percepta")
    return header, tensors


def read_meta(path: str | os.PathLike) -> tuple[NetConfig, dict[str, Any]]:
    """Config and metadata of a model file, without building the network."""
    header, _ = _read(Path(path))
    return _config(Path(path), header), json.loads(header.get("meta", "{}"))


def _config(path: Path, header: dict[str, str]) -> NetConfig:
    try:
        return NetConfig(**json.loads(header["config"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: model file has an invalid architecture config ({exc})") from None


def load_model_file(path: str | os.PathLike, device: str | torch.device = "cpu") -> Model:
    """Rebuild the network stored in ``path`` (weights as float32, eval mode)."""
    path = Path(path)
    header, tensors = _read(path)
    config = _config(path, header)
    net = TransformNet(config)
    state = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        raise ModelFileError(f"{path}: weights do not match the stored architecture ({first})") from None
    return Model(net.to(device).eval(), json.loads(header.get("meta", "{}")), path)


def user_models_dir() -> Path:
    """Where ``percepta train`` users keep their own models, found by name."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("percepta")) / "models"


def model_dirs() -> list[Path]:
    """Folders searched for models by name, in priority order."""
    dirs = [Path(os.environ["PERCEPTA_MODELS"])] if os.environ.get("PERCEPTA_MODELS") else []
    return dirs + [user_models_dir(), BUNDLED_DIR]


def available_models() -> dict[str, Path]:
    """Every model findable by name, ``{name: path}``; earlier folders win."""
    found: dict[str, Path] = {}
    for folder in reversed(model_dirs()):
        if folder.is_dir():
            found.update({p.name.removesuffix(SUFFIX): p for p in sorted(folder.glob(f"*{SUFFIX}"))})
    return found


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """A model name (bundled or user) or a file path -> the file's path."""
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix == SUFFIX or candidate.is_file() or os.sep in str(name_or_path):
        if not candidate.is_file():
            raise ModelFileError(f"{candidate}: model file not found")
        return candidate
    models = available_models()
    if str(name_or_path) in models:
        return models[str(name_or_path)]
    known = ", ".join(sorted(models)) or "none installed"
    raise ModelFileError(f"no model named {str(name_or_path)!r} (available: {known}); or give a file path")


def load_model(name_or_path: str | os.PathLike | Model, device: str | torch.device = "cpu") -> Model:
    """Load a model by bundled/user name or file path (a :class:`Model` is passed through)."""
    if isinstance(name_or_path, Model):
        return name_or_path
    return load_model_file(resolve_model(name_or_path), device)
