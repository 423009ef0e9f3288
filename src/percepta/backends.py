"""How a network's forward pass is run: the one tuned inference path behind ``stylize``, ``upscale``, video,
the web server and the Python API (paper section 4.1, "Speed": the point of the method is one fast pass).

Backends (``--backend``; ``auto`` picks per model and device):

* ``onnx`` -- ONNX Runtime on the CPU, from the model exported once by :mod:`percepta.export` and cached
  on disk (``PERCEPTA_CACHE`` or the user cache folder), so the export is paid once per model and machine.
  ``auto`` on the CPU. Measured by ``benchmarks/inference.py`` against the eager baseline.
* ``fp16`` -- CUDA: half precision, channels-last memory and ``cudnn.benchmark``. ``auto`` on CUDA.
* ``compile`` -- ``torch.compile`` with freezing (Inductor), on the model's device; compiled on first use.
* ``eager`` -- the plain fp32 network under ``torch.inference_mode``: the reference every other backend is
  tested against (within 1e-4 in fp32, 1e-2 in fp16).

A model loaded from an exported file (``.onnx``, ``.pt``) always runs as itself. Runners are cached on the
:class:`~percepta.modelfile.Model`; every runner takes and returns float32 (N, 3, H, W) CPU tensors.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .errors import PerceptaError

BACKENDS = ("auto", "eager", "compile", "onnx", "fp16")
Runner = Callable[[Tensor], Tensor]

_sessions: dict[str, Any] = {}
_lock = threading.Lock()


def device_of(model: Any) -> torch.device:
    """The device of ``model``'s weights (the CPU for an exported graph)."""
    param = next(model.net.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def choose(model: Any, backend: str = "auto") -> str:
    """The backend ``auto`` stands for with this model, or ``backend`` itself when it can run here."""
    if backend not in BACKENDS:
        raise PerceptaError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if getattr(model.net, "kind", None) in ("onnx", "torchscript"):
        return model.net.kind
    device = device_of(model)
    if backend == "auto":
        if device.type == "cuda":
            return "fp16"
        return "onnx" if device.type == "cpu" and _has_onnxruntime() else "eager"
    if backend == "onnx" and device.type != "cpu":
        raise PerceptaError("the onnx backend runs on the CPU; use --device cpu, or --backend fp16/eager on a GPU")
    if backend == "onnx" and not _has_onnxruntime():
        raise PerceptaError("the onnx backend needs onnxruntime (pip install onnxruntime)")
    if backend == "fp16" and device.type != "cuda":
        raise PerceptaError("the fp16 backend is for CUDA devices (fp16 on this CPU is far slower than fp32)")
    return backend


def runner(model: Any, backend: str = "auto") -> Runner:
    """The forward pass of ``model`` on ``backend``, built once per model and backend."""
    name = choose(model, backend)
    cache = model.__dict__.setdefault("_runners", {})
    with _lock:
        if name not in cache:
            cache[name] = _build(model, name)
        return cache[name]


def run(model: Any, x: Tensor, backend: str = "auto") -> Tensor:
    """One forward pass of ``model`` on (N, 3, H, W) in [0, 1]; the result as float32 on the CPU."""
    with torch.inference_mode():
        return runner(model, backend)(x)


def _has_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _build(model: Any, name: str, cache: bool = True) -> Runner:
    net = model.net
    if name in ("onnx", "torchscript") and getattr(net, "kind", None) == name:
        return net
    device = device_of(model)
    if name == "onnx":
        try:
            return _onnx_runner(model, cache)
        except Exception as exc:  # noqa: BLE001 -- any exporter failure: fall back to eager, say so once
            warnings.warn(f"{model.name}: ONNX export failed ({str(exc).splitlines()[0][:120]}); running eager",
                          stacklevel=3)  # fmt: skip
            name = "eager"
    if name == "fp16":
        torch.backends.cudnn.benchmark = True
        half = copy.deepcopy(net).half().to(memory_format=torch.channels_last).eval()

        def fp16(x: Tensor) -> Tensor:
            x = x.to(device, non_blocking=True).half().contiguous(memory_format=torch.channels_last)
            return half(x).float().cpu()

        return fp16
    if name == "compile":
        # static shapes: a new image size compiles again (freezing with dynamic shapes fails in torch 2.14)
        compiled = torch.compile(net, dynamic=False, options={"freezing": True})

        def compiled_run(x: Tensor) -> Tensor:
            return compiled(x.to(device)).float().cpu()

        return compiled_run

    def eager(x: Tensor) -> Tensor:
        return net(x.to(device)).float().cpu()

    return eager


def cache_dir() -> Path:
    """Where exported graphs are cached: ``$PERCEPTA_CACHE/onnx`` or the user cache folder."""
    if os.environ.get("PERCEPTA_CACHE"):
        return Path(os.environ["PERCEPTA_CACHE"]).expanduser() / "onnx"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("percepta")) / "onnx"


def _key(model: Any) -> str:
    from ._version import __version__
    from .export import GRAPH_VERSION, OPSET

    key = [model.config.to_dict(), __version__, torch.__version__, OPSET, GRAPH_VERSION]
    digest = hashlib.sha256(json.dumps(key).encode())
    for k, v in sorted(model.net.state_dict().items()):
        digest.update(k.encode())
        digest.update(v.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:24]


def one_off_runner(model: Any, backend: str = "auto") -> Runner:
    """A runner for a network used for one job only (a per-image copy, as tiles with frozen statistics use):
    built like :func:`runner` but cached nowhere; the ONNX graph is exported in memory."""
    return _build(model, choose(model, backend), cache=False)


def _exported_bytes(model: Any) -> bytes:
    from .export import onnx_bytes

    try:
        return onnx_bytes(model, dynamo=False)
    except Exception:  # noqa: BLE001 -- the legacy exporter gone or failing: the current one
        return onnx_bytes(model, dynamo=True)


def _cached_session(model: Any) -> Any:
    """The ONNX Runtime session of ``model``'s graph: from this process, else the disk cache, else exported
    (and written to the cache)."""
    from .export import onnx_session
    from .fsutil import atomic_write

    key = _key(model)
    if key not in _sessions:
        path = cache_dir() / f"{key}.onnx"
        session = None
        if path.is_file():
            try:
                session = onnx_session(path.read_bytes())
            except Exception:  # noqa: BLE001 -- a damaged cache entry: export again
                session = None
        if session is None:
            data = _exported_bytes(model)
            session = onnx_session(data)
            with contextlib.suppress(OSError), atomic_write(path) as fh:  # unwritable: export again next time
                fh.write(data)
        _sessions[key] = session
    return _sessions[key]


def _onnx_runner(model: Any, cache: bool = True) -> Runner:
    from .export import ExportedNet, min_side, onnx_session

    session = _cached_session(model) if cache else onnx_session(_exported_bytes(model))
    net, smallest = model.net, min_side(model.config)
    graph = ExportedNet(model.config, "onnx", session, smallest)

    def onnx(x: Tensor) -> Tensor:
        # below the graph's minimum the network's own padding (repeated reflection) is the reference: use it
        return graph(x) if min(x.shape[-2:]) >= smallest else net(x.cpu()).float()

    return onnx
