"""The PyTorch backends: how a network's forward pass runs when it is asked to run in torch (``--backend
eager|compile|fp16``, or ``auto`` on a CUDA GPU with torch installed). The default path, ONNX Runtime on
the model's own graph, needs no torch and lives in :mod:`percepta.graph`; :func:`percepta.infer.backend_for`
picks between them (paper section 4.1, "Speed": the point of the method is one fast pass).

* ``eager`` -- the plain fp32 network under ``torch.inference_mode``: the reference every other path is
  tested against (within 1e-4 in fp32, 1e-2 in fp16).
* ``compile`` -- ``torch.compile`` with freezing (Inductor), on the model's device; compiled on first use.
* ``fp16`` -- CUDA: half precision, channels-last memory and ``cudnn.benchmark``.

Runners are cached per model (:data:`_runners`); every runner takes and returns float32 (N, 3, H, W) arrays.
"""

from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .errors import PerceptaError
from .image import shrink_tensor
from .tiling import STATS_SIZE

TORCH_BACKENDS = ("eager", "compile", "fp16")
Runner = Callable[[np.ndarray], np.ndarray]

_runners: weakref.WeakKeyDictionary[Any, dict[str, Runner]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def device_of(net: nn.Module) -> torch.device:
    """The device of ``net``'s weights (the CPU for an exported graph)."""
    param = next(net.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def check(model: Any, backend: str) -> str:
    """``backend`` if it can run ``model`` here, else a one-line :class:`PerceptaError`."""
    if getattr(model.net, "kind", None) == "torchscript":
        return "torchscript"
    if backend not in TORCH_BACKENDS:
        raise PerceptaError(f"unknown torch backend {backend!r}; use one of {', '.join(TORCH_BACKENDS)}")
    if backend == "fp16" and device_of(model.net).type != "cuda":
        raise PerceptaError("the fp16 backend is for CUDA devices (fp16 on this CPU is far slower than fp32)")
    return backend


def runner(model: Any, backend: str) -> Runner:
    """The forward pass of ``model`` (a PyTorch network) on ``backend``, built once per model and backend."""
    name = check(model, backend)
    with _lock:
        cache = _runners.setdefault(model.net, {})
        if name not in cache:
            cache[name] = _build(model.net, name, device_of(model.net))
        return cache[name]


def one_off_runner(net: nn.Module, backend: str) -> Runner:
    """A runner for a network used for one job only (a copy with frozen statistics, for tiles), cached nowhere."""
    return _build(net, backend, device_of(net))


def _build(net: nn.Module, name: str, device: torch.device) -> Runner:
    if name == "fp16":
        torch.backends.cudnn.benchmark = True
        net = copy.deepcopy(net).half().to(memory_format=torch.channels_last).eval()

        def prepare(x: Tensor) -> Tensor:
            return x.to(device, non_blocking=True).half().contiguous(memory_format=torch.channels_last)

    else:
        if name == "compile":  # static shapes: a new size compiles again (freezing with dynamic shapes fails)
            net = torch.compile(net, dynamic=False, options={"freezing": True})

        def prepare(x: Tensor) -> Tensor:
            return x.to(device)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net(prepare(torch.from_numpy(np.ascontiguousarray(x, np.float32)))).float().cpu().numpy()

    return run


def frozen_statistics(net: nn.Module, x: Tensor, stats_size: int = STATS_SIZE) -> nn.Module:
    """A copy of ``net`` in which every ``InstanceNorm2d`` normalises with the per-channel mean and variance it
    saw on the image ``x`` (1, 3, H, W) downscaled to ``stats_size`` (longer side), whatever part of ``x`` it
    is given: an eval-mode ``BatchNorm2d`` holding those statistics and the layer's affine weights, the same
    formula. The copy is a plain per-pixel network, so tiles can run on any backend (ONNX Runtime folds the
    frozen norms into the convolutions). ``net`` itself is left as it was; without instance norms the copy is
    not needed and ``net`` comes back."""
    norms = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]
    if not norms:
        return net
    if x.shape[0] != 1:
        raise ValueError("frozen_statistics takes one image at a time")
    device = next(net.parameters()).device
    stats: dict[nn.Module, tuple[Tensor, Tensor]] = {}

    def record(module: nn.Module, args: tuple[Tensor, ...]) -> None:
        var, mean = torch.var_mean(args[0].float(), dim=(2, 3), unbiased=False)
        stats[module] = (mean[0], var[0])

    hooks = [m.register_forward_pre_hook(record) for m in norms]
    try:
        with torch.no_grad():
            net(shrink_tensor(x, stats_size).to(device))
    finally:
        for hook in hooks:
            hook.remove()
    copy_ = copy.deepcopy(net).eval()
    originals = dict(zip(norms, [m for m in copy_.modules() if isinstance(m, nn.InstanceNorm2d)]))
    replacements = {}
    for module, twin in originals.items():
        mean, var = stats[module]
        frozen = nn.BatchNorm2d(module.num_features, eps=module.eps, affine=True).to(device).eval()
        with torch.no_grad():
            frozen.running_mean.copy_(mean)
            frozen.running_var.copy_(var)
            if module.affine:
                frozen.weight.copy_(module.weight)
                frozen.bias.copy_(module.bias)
            else:
                frozen.weight.fill_(1.0)
                frozen.bias.zero_()
        replacements[twin] = frozen
    for parent in copy_.modules():
        for name, child in parent.named_children():
            if child in replacements:
                setattr(parent, name, replacements[child])
    return copy_
