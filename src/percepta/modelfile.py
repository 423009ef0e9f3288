"""Self-describing model files and the registry of bundled and user models.

A percepta model is one ``.safetensors`` file: the transformation network's weights (optionally fp16)
plus JSON metadata holding the :class:`~percepta.arch.NetConfig` that rebuilds it and a free-form
``meta`` dict (task, scale, style image name and hash, thumbnail, every training hyper-parameter,
iterations, final losses, percepta version). Loading needs no training code or optimiser state.

Reading a file's config and metadata (:func:`read_meta`) reads only its header, without torch, so
listing models is cheap whatever their size. Loading refuses, with a one-line :class:`ModelFileError`,
anything that is not a sound percepta model: a foreign or damaged file, a malformed header, an
architecture too large to build, weights that do not fit it, and non-float or non-finite weights.

Models are looked up by name in, in order: ``$PERCEPTA_MODELS`` (a folder), the user model folder
(``~/.local/share/percepta/models`` or the platform's equivalent), and the models bundled in the package.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .arch import NetConfig
from .errors import ModelFileError
from .fsutil import atomic_write

if TYPE_CHECKING:
    import torch

    from .nets import TransformNet

FORMAT = "percepta-model"
FORMAT_VERSION = 1
SUFFIX = ".safetensors"
#: files written by ``percepta export`` (:mod:`percepta.export`), loadable as models by path
EXPORTED_SUFFIXES = (".onnx", ".pt", ".ts")
BUNDLED_DIR = Path(__file__).resolve().parent / "models"
#: A header larger than this is not a percepta model's (theirs are a few kB; safetensors' own cap is 100 MB).
MAX_HEADER_BYTES = 16_000_000
#: Normalisation statistics that are integers by design (batch norm's step counter).
_INTEGER_BUFFERS = ("num_batches_tracked",)


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
        return str(self.meta.get("name") or (self.path.name.removesuffix(SUFFIX) if self.path else "model"))


def save_model(
    path: str | os.PathLike, net: TransformNet, meta: dict[str, Any] | None = None, half: bool = False
) -> Path:
    """Write ``net`` and its metadata atomically; ``half=True`` stores float weights as fp16."""
    from safetensors.torch import save as save_safetensors_bytes

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


def _bad(path: Path, why: str) -> ModelFileError:
    return ModelFileError(f"{path}: not a percepta model file ({why})")


def read_header(path: str | os.PathLike) -> dict[str, str]:
    """The percepta metadata of a model file, read from its safetensors header alone (no tensors, no torch)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    try:
        with open(path, "rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            if not 2 <= size <= min(MAX_HEADER_BYTES, path.stat().st_size - 8):
                raise _bad(path, "corrupt or truncated header")
            header = json.loads(fh.read(size))
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the model file ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _bad(path, "corrupt header") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise _bad(path, f"no '{FORMAT}' header")
    try:
        version = int(metadata.get("format_version", "0"))
    except (TypeError, ValueError):
        raise _bad(path, f"format version {metadata.get('format_version')!r} is not a number") from None
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format v{version} is newer than this percepta understands "
            f"(v{FORMAT_VERSION}); upgrade percepta"
        )
    return metadata


def _config(path: Path, header: dict[str, str]) -> NetConfig:
    try:
        stored = json.loads(header["config"])
        if not isinstance(stored, dict):
            raise TypeError("not an object")
        return NetConfig(**stored)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: model file has an invalid architecture config ({exc})") from None


def _meta(path: Path, header: dict[str, str]) -> dict[str, Any]:
    try:
        meta = json.loads(header.get("meta", "{}"))
    except (TypeError, ValueError):
        raise ModelFileError(f"{path}: model file has unreadable metadata") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path}: model file's metadata is a {type(meta).__name__}, not an object")
    return meta


def read_meta(path: str | os.PathLike) -> tuple[NetConfig, dict[str, Any]]:
    """Config and metadata of a model file, from its header only (see :func:`read_header`); an exported
    graph (``.onnx``, ``.pt``) is loaded for its metadata."""
    if Path(path).suffix.lower() in EXPORTED_SUFFIXES:
        from .export import load_exported

        model = load_exported(path)
        return model.config, model.meta
    header = read_header(path)
    return _config(Path(path), header), _meta(Path(path), header)


def _check_weights(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    import torch

    for key, value in tensors.items():
        if key.endswith(_INTEGER_BUFFERS):
            continue
        if not value.is_floating_point():
            raise ModelFileError(f"{path}: weight {key} is {value.dtype}, not floating point")
        if not bool(torch.isfinite(value).all()):
            raise ModelFileError(f"{path}: weight {key} holds NaN or infinite values (a diverged training run?)")


def load_model_file(path: str | os.PathLike, device: str | torch.device = "cpu") -> Model:
    """Rebuild the network stored in ``path`` (weights as float32, eval mode)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .nets import TransformNet

    path = Path(path)
    header = read_header(path)
    config, meta = _config(path, header), _meta(path, header)
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise _bad(
            path, f"corrupt or truncated: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    _check_weights(path, tensors)
    net = TransformNet(config)
    state = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        raise ModelFileError(f"{path}: weights do not match the stored architecture ({first})") from None
    return Model(net.to(device).eval(), meta, path)


def user_models_dir() -> Path:
    """Where ``percepta train`` users keep their own models, found by name."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("percepta")) / "models"


def model_dirs() -> list[Path]:
    """Folders searched for models by name, in priority order."""
    dirs = [Path(os.environ["PERCEPTA_MODELS"]).expanduser()] if os.environ.get("PERCEPTA_MODELS") else []
    return [*dirs, user_models_dir(), BUNDLED_DIR]


def available_models() -> dict[str, Path]:
    """Every model findable by name, ``{name: path}`` sorted by name (each model before its ``-fast`` twin);
    earlier folders win. Unreadable folders are skipped."""
    found: dict[str, Path] = {}
    for folder in reversed(model_dirs()):
        try:
            found.update({p.name.removesuffix(SUFFIX): p for p in folder.glob(f"*{SUFFIX}") if p.is_file()})
        except OSError:
            continue
    return dict(sorted(found.items()))


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
    from .runtime import check_device

    if isinstance(name_or_path, Model):
        return name_or_path
    path = resolve_model(name_or_path)
    if path.suffix.lower() in EXPORTED_SUFFIXES:  # an exported graph (percepta export): runs on the CPU
        from .export import load_exported

        return load_exported(path)
    return load_model_file(path, check_device(str(device)))
