"""Process-wide runtime concerns: which devices exist, and the settings that make PyTorch fast on a CPU."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import lru_cache

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


@lru_cache(maxsize=1)
def tune_allocator() -> bool:
    """Stop glibc from returning big tensors' memory to the OS after every use.

    By default glibc serves every allocation over 32 MiB with its own mmap and unmaps it on free,
    so each training step or inference re-faults its activations page by page. Serving them from
    the heap and never trimming it was measured here to cut a 256x256 training step from ~20 s to
    ~8 s and an inference's page faults from ~24k to ~0. Returns whether the settings took effect
    (False off glibc, e.g. macOS or Windows).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok_mmap = mallopt(_M_MMAP_MAX, 0)
    ok_trim = mallopt(_M_TRIM_THRESHOLD, 2**30)
    return bool(ok_mmap and ok_trim)


def check_device(name: str) -> str:
    """``name`` if torch can run on that device here, else a one-line :class:`PerceptaError` saying why.

    Accepts ``cpu``, ``cuda``, ``cuda:N`` and ``mps``; checked before any work, so that a missing GPU is
    an error message and not a traceback from the first tensor moved there.
    """
    import torch

    from .errors import PerceptaError

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise PerceptaError(f"unknown device {name!r}; use cpu, cuda, cuda:N or mps") from None
    if device.type == "cpu":
        return name
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise PerceptaError(
                f"device {name!r} asked for, but CUDA is not available here (no GPU or no CUDA "
                "build of torch); use --device cpu"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise PerceptaError(f"device {name!r} asked for, but this machine has {count} CUDA device(s)")
        return name
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise PerceptaError(f"device {name!r} asked for, but Apple's MPS is not available here; use --device cpu")
        return name
    raise PerceptaError(f"device {name!r} is not supported; use cpu, cuda, cuda:N or mps")


#: ``--amp`` values: ``auto`` picks per device (:func:`mixed_precision`)
AMP_MODES = ("auto", "off", "bf16", "fp16")


def mixed_precision(amp: str, device: str = "cpu") -> str:
    """The precision a training run uses for ``--amp amp`` on ``device``: ``auto`` is bf16 on a CPU with AMX
    bf16 tile units (the networks in bf16, channels-last; 1.96-2.66x the fp32 steps per second on a 2-core Xeon,
    the same losses: ``benchmarks/train_step.py``, docs/train_step.md), otherwise ``off`` (fp32, the paper's;
    CPUs without AMX were not measured, and on a GPU fp32 is already fast)."""
    if amp != "auto":
        return amp
    import torch

    cpu = not device.startswith(("cuda", "mps"))
    return "bf16" if cpu and torch.cpu._is_amx_tile_supported() and torch.cpu._is_avx512_bf16_supported() else "off"
