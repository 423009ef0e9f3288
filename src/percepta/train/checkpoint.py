"""Training checkpoints: written atomically, read back exactly, with the run's options inside."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..errors import PerceptaError
from ..fsutil import atomic_write
from .options import TrainOptions

CHECKPOINT_FORMAT = "percepta-checkpoint"


def save_checkpoint(
    path: Path,
    iteration: int,
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    opts: TrainOptions,
    elapsed: float,
) -> None:
    """Atomically write everything needed to continue training exactly; a failed write leaves the old one."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "iteration": iteration,
        "net": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": torch.get_rng_state(),
        "options": opts.to_dict(),
        "elapsed": elapsed,
    }
    try:
        with atomic_write(path) as fh:
            torch.save(state, fh)
    except OSError as exc:
        raise PerceptaError(f"{path}: cannot write the checkpoint ({exc.strerror or exc})") from None
    except RuntimeError as exc:  # torch.save's own writer: "file write failed" on a full disk or EFBIG
        if "write" not in str(exc).lower():
            raise
        raise PerceptaError(f"{path}: cannot write the checkpoint (disk full or file size limit reached); "
                            "the previous checkpoint is kept") from None  # fmt: skip


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a training checkpoint; a missing or damaged one is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise PerceptaError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- torch.load raises many kinds for a damaged file
        raise PerceptaError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise PerceptaError(f"{path}: not a percepta training checkpoint")
    return state


def options_from_checkpoint(path: str | os.PathLike, **overrides: Any) -> TrainOptions:
    """The options a checkpoint was trained with, with ``overrides`` (e.g. more ``iters``) applied."""
    try:
        return TrainOptions.from_dict(load_checkpoint(path)["options"], **overrides)
    except (KeyError, TypeError, ValueError) as exc:
        raise PerceptaError(f"{path}: the checkpoint's options are unusable ({exc})") from None
