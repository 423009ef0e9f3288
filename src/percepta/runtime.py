"""Process-wide runtime concerns: which devices exist, and the settings that make PyTorch fast on a CPU."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from functools import lru_cache
from pathlib import Path

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


#: the kinds of CPU :func:`cpu_kind` tells apart, with what each is (benchmark pages have a section per kind)
CPU_KINDS = {
    "amx": "A CPU with AMX bf16 tile units (Intel Xeon, 4th generation on)",
    "avx512_bf16": "A CPU with AVX-512 bf16 but no AMX (e.g. AMD EPYC, Zen 4 on)",
    "fp32": "A CPU without native bf16 (AVX2 only: bf16 would be emulated)",
}


def cpu_kind() -> str:
    """This CPU's native bf16 arithmetic, a key of :data:`CPU_KINDS`: ``amx`` (AMX tiles, which come with
    AVX-512 bf16), ``avx512_bf16`` (the AVX-512 bf16 dot-product instructions alone), or ``fp32`` where PyTorch
    would emulate bf16."""
    import torch

    if not torch.cpu._is_avx512_bf16_supported():
        return "fp32"
    return "amx" if torch.cpu._is_amx_tile_supported() else "avx512_bf16"


def cpu_name() -> str:
    """The CPU's model name and core count, for benchmark pages (e.g. ``AMD EPYC (2 cores)``)."""
    import platform

    info = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in (info.read_text().splitlines() if info.is_file() else [])
             if line.startswith("model name")]  # fmt: skip
    return f"{names[0] if names else platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def mixed_precision(amp: str, device: str = "cpu") -> str:
    """The precision a training run uses for ``--amp amp`` on ``device``: ``auto`` is bf16 on a CPU with native
    bf16 units (:func:`cpu_kind`; the networks in bf16, channels-last), otherwise ``off`` (fp32, the paper's;
    on a GPU fp32 is already fast). Measured (``benchmarks/train_step.py``, docs/train_step.md), steps per second
    against fp32 with the same losses: 1.96-2.66x on a 2-core Xeon with AMX, 1.65-2.51x on a 2-core AMD EPYC
    with AVX-512 bf16 and no AMX; CPUs with neither were not measured (PyTorch emulates bf16 there)."""
    if amp != "auto":
        return amp

    cpu = not device.startswith(("cuda", "mps"))
    return "bf16" if cpu and cpu_kind() != "fp32" else "off"
