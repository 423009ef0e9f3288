"""Self-describing model files and the registry of bundled and user models.

A percepta model is one ``.safetensors`` file: the transformation network's weights (optionally fp16)
plus JSON metadata holding the :class:`~percepta.arch.NetConfig` that rebuilds it and a free-form
``meta`` dict (task, scale, style image name and hash, thumbnail, every training hyper-parameter,
iterations, final losses, percepta version). Loading needs no training code or optimiser state.
:func:`save_model` also stores the network's inference graphs (:func:`percepta.export.inference_graphs`) as
byte tensors, so that :func:`load_graph` runs the model with ONNX Runtime alone (:mod:`percepta.graph`, the
light install, no torch); a file without them (made by percepta 0.1) gets its graphs exported once into
the graph cache where torch is installed.

Reading a file's config and metadata (:func:`read_meta`) reads only its header, without torch, so
listing models is cheap whatever their size. Loading refuses, with a one-line :class:`ModelFileError`,
anything that is not a sound percepta model: a foreign or damaged file, a malformed header, an
architecture too large to build, weights that do not fit it, and non-float or non-finite weights.

Models are looked up by name in, in order: ``$PERCEPTA_MODELS`` (a folder), the user model folder
(``~/.local/share/percepta/models`` or the platform's equivalent), and the models bundled in the package.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .arch import NetConfig
from .errors import ModelFileError, PerceptaError
from .fsutil import atomic_write

if TYPE_CHECKING:
    import torch

    from .nets import TransformNet

FORMAT = "percepta-model"
#: byte tensors holding the inference graphs (:func:`percepta.export.inference_graphs`)
GRAPH_KEYS = {"main": "percepta.graph", "tiles": "percepta.tiles_graph"}
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
    path: str | os.PathLike,
    net: TransformNet,
    meta: dict[str, Any] | None = None,
    half: bool = False,
    graphs: bool = True,
) -> Path:
    """Write ``net``, its metadata and (``graphs``) its inference graphs atomically; ``half=True`` stores float
    weights as fp16 (the graphs are exported from those rounded weights, so every path computes alike)."""
    import numpy as np
    from safetensors.torch import save as save_safetensors_bytes

    state = {}
    for key, value in net.state_dict().items():
        value = value.detach().cpu().contiguous()
        state[key] = value.half() if half and value.is_floating_point() else value
    meta = {"percepta_version": __version__, **(meta or {})}
    if graphs:
        import torch

        from .export import inference_graphs
        from .nets import TransformNet

        exported = TransformNet(net.config).eval()
        exported.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        for kind, data in inference_graphs(exported, str(meta.get("name") or Path(path).stem), meta).items():
            state[GRAPH_KEYS[kind]] = torch.from_numpy(np.frombuffer(data, np.uint8).copy())
    header = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(net.config.to_dict()),
        "meta": json.dumps(meta),
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
    graph (``.onnx``, ``.pt``) is opened for its metadata."""
    if Path(path).suffix.lower() in EXPORTED_SUFFIXES:
        model = load_exported(path)
        return model.config, model.meta
    header = read_header(path)
    return _config(Path(path), header), _meta(Path(path), header)


def _check_weights(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    import torch

    for key, value in tensors.items():
        if key.endswith(_INTEGER_BUFFERS) or key in GRAPH_KEYS.values():
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
    state = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items() if k not in GRAPH_KEYS.values()}
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


def user_model_path(name: str) -> Path:
    """Where the user model ``name`` lives in :func:`user_models_dir`; a name with a folder in it (or starting
    with a dot) is a one-line error."""
    if not name or os.sep in name or (os.altsep and os.altsep in name) or name.startswith("."):
        raise ModelFileError(f"{name!r} is not a usable model name (no folders, not starting with a dot)")
    return user_models_dir() / f"{name}{SUFFIX}"


def install_model(path: str | os.PathLike, name: str | None = None, overwrite: bool = False,
                  check_only: bool = False) -> Path:  # fmt: skip
    """Copy a model file into :func:`user_models_dir` as ``NAME.safetensors`` (default: the file's own name), so
    that ``-m NAME`` finds it; returns the installed path. ``check_only``: only check that it can be (before a
    training run that ends by installing)."""
    import shutil

    source = Path(path).expanduser()
    name = name or source.name.removesuffix(SUFFIX)
    target = check_installable(name, overwrite)
    if check_only:
        return target
    if source.suffix != SUFFIX or not source.is_file():
        raise ModelFileError(f"{source}: not a percepta model file (.safetensors)")
    read_meta(source)  # a readable percepta model, or a one-line error
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target) as fh, open(source, "rb") as src:
        shutil.copyfileobj(src, fh)
    return target


def check_installable(name: str, overwrite: bool = False, to_replace: str = "pass --overwrite to replace it") -> Path:
    """Where :func:`install_model` puts model ``name``, if it may: never under a bundled model's name, nor one that
    a model in ``$PERCEPTA_MODELS`` holds (``-m NAME`` would find that one first), nor over an installed model
    unless ``overwrite`` (``to_replace`` says how to ask)."""
    target = user_model_path(name)
    if (BUNDLED_DIR / f"{name}{SUFFIX}").exists():
        raise ModelFileError(f"{name} is the name of a bundled model; choose another name")
    found = available_models().get(name)
    if found is not None and found != target:
        raise ModelFileError(f"{name} is a model in $PERCEPTA_MODELS, which -m {name} finds first; choose another name")
    if target.exists() and not overwrite:
        raise ModelFileError(f"a model named {name} is installed already; {to_replace}")
    return target


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


def default_sr_model(scale: int | None = None) -> str:
    """The bundled feature-loss super-resolution model for ``scale`` (``sr_x4_feat``, ``sr_x8_feat``; default
    x4): what ``upscale`` runs without ``-m``, on the command line and in the server."""
    from .hyperparams import SR_SCALES

    return f"sr_x{scale or SR_SCALES[0]}_feat"


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
    """Load a model's PyTorch network by bundled/user name or file path (a :class:`Model` is passed through);
    an exported ``.onnx`` or ``.pt`` file runs as itself. Inference without torch: :func:`load_graph`."""
    from .runtime import check_device

    if isinstance(name_or_path, Model):
        return name_or_path
    path = resolve_model(name_or_path)
    if path.suffix.lower() in EXPORTED_SUFFIXES:  # an exported graph (percepta export): runs on the CPU
        return load_exported(path)
    return load_model_file(path, check_device(str(device)))


# --- inference graphs (no torch) ---------------------------------------------------------------------------


def stored_graphs(path: str | os.PathLike) -> dict[str, bytes]:
    """The inference graphs stored in a model file (``{"main": ..., "tiles": ...}``), read without torch;
    empty for a file saved without them."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    read_header(path)
    try:
        with safe_open(str(path), framework="numpy") as fh:
            keys = set(fh.keys())
            return {kind: fh.get_tensor(key).tobytes() for kind, key in GRAPH_KEYS.items() if key in keys}
    except (SafetensorError, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _bad(path, f"corrupt or truncated: {first}") from None


def weights_key(path: str | os.PathLike) -> str:
    """A digest of a model file's config and weights (not its metadata): what its graphs are cached under."""
    import hashlib

    from safetensors import safe_open

    from .graph import GRAPH_VERSION

    header = read_header(path)
    digest = hashlib.sha256(json.dumps([header["config"], GRAPH_VERSION]).encode())
    with safe_open(str(path), framework="numpy") as fh:
        for key in sorted(fh.keys()):
            if key not in GRAPH_KEYS.values():
                digest.update(key.encode())
                digest.update(fh.get_tensor(key).astype("float32").tobytes())
    return digest.hexdigest()[:24]


def _graphs_for(path: Path) -> dict[str, bytes]:
    """A model file's graphs: stored in it, else from the graph cache, else exported once into the cache
    (which needs torch: ``pip install 'percepta[train]'``)."""
    from .fsutil import atomic_write

    graphs = stored_graphs(path)
    if "main" in graphs:
        return graphs
    key = weights_key(path)
    folder = graph_cache_dir()
    cached = {kind: folder / f"{key}.{kind}.onnx" for kind in GRAPH_KEYS}
    if cached["main"].is_file():
        from .graph import graph_metadata

        try:
            found = {kind: p.read_bytes() for kind, p in cached.items() if p.is_file()}
            if graph_metadata(found["main"]).get("weights_key") == key:  # another model's graph is not used
                return found
        except OSError:
            pass
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ModelFileError(
            f"{path} holds no inference graph (saved by an older percepta); run it once where percepta[train] "
            "is installed (that exports its graphs into the graph cache), or re-save it there"
        ) from None
    from .export import inference_graphs

    model = load_model_file(path)
    graphs = inference_graphs(model.net, model.name, {**model.meta, "weights_key": key})
    for kind, data in graphs.items():  # unwritable cache: exported again next time
        with contextlib.suppress(OSError), atomic_write(cached[kind]) as fh:
            fh.write(data)
    return graphs


def cache_dir() -> Path:
    """percepta's cache folder: ``$PERCEPTA_CACHE`` or the user cache folder (graphs, training leftovers)."""
    if os.environ.get("PERCEPTA_CACHE"):
        return Path(os.environ["PERCEPTA_CACHE"]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("percepta"))


def graph_cache_dir() -> Path:
    """Where graphs of files saved without them are cached: ``cache_dir()/onnx``."""
    return cache_dir() / "onnx"


def load_graph(name_or_path: str | os.PathLike | Model, device: str = "cpu") -> Model:
    """A model by name or path, ready to run on ONNX Runtime (a :class:`Model` whose ``net`` is a
    :class:`percepta.graph.Graph`) -- torch is not imported. A :class:`Model` already holding a graph is
    passed through; one holding a PyTorch network gets its graphs exported (needs torch)."""
    from .graph import Graph

    if isinstance(name_or_path, Model):
        if isinstance(name_or_path.net, Graph):
            return name_or_path
        from .export import inference_graphs

        model = name_or_path
        graphs = inference_graphs(model.net.cpu().eval(), model.name, model.meta)
        net = Graph(model.config, graphs["main"], device, graphs.get("tiles"))
        return Model(net, model.meta, model.path)
    path = resolve_model(name_or_path)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return load_onnx_file(path, device)
    if suffix in EXPORTED_SUFFIXES:
        raise ModelFileError(f"{path}: a TorchScript file runs with torch only; use --backend eager or its .onnx")
    header = read_header(path)
    config, meta = _config(path, header), _meta(path, header)
    graphs = _graphs_for(path)
    try:
        net = Graph(config, graphs["main"], device, graphs.get("tiles"))
    except PerceptaError:
        raise
    except Exception as exc:  # noqa: BLE001 -- onnxruntime's own error types for a damaged graph
        raise _bad(path, f"its inference graph does not load ({str(exc).splitlines()[0][:160]})") from None
    return Model(net, meta, path)


# --- exported files (percepta export) ------------------------------------------------------------------------


def load_onnx_file(path: str | os.PathLike, device: str = "cpu") -> Any:
    """A :class:`percepta.modelfile.Model` running a ``.onnx`` file written by ``percepta export``."""
    from .graph import Graph, exported_info, graph_metadata

    path = Path(path)
    try:
        graph_bytes = path.read_bytes()
        meta = graph_metadata(graph_bytes)
    except PerceptaError:
        raise
    except Exception as exc:  # noqa: BLE001 -- OSError and onnxruntime's own error types
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path}: cannot load the exported model ({first[:200]})") from None
    config, info, smallest = exported_info(meta, path, "onnx")
    try:
        net = Graph(config, graph_bytes, device, smallest=smallest)
    except PerceptaError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 -- onnxruntime's own error types
        raise ModelFileError(f"{path}: cannot load the exported model ({str(exc).splitlines()[0][:200]})") from None
    return Model(net, info, path)


def load_exported(path: str | os.PathLike) -> Model:
    """A :class:`Model` running an exported ``.onnx`` (ONNX Runtime, no torch) or TorchScript file."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        return load_onnx_file(path)
    if path.suffix.lower() not in EXPORTED_SUFFIXES:
        raise ModelFileError(f"{path}: not an exported model (expected {', '.join(EXPORTED_SUFFIXES)})")
    from .export import load_torchscript

    net, meta = load_torchscript(path)
    return Model(net.eval(), meta, path)
