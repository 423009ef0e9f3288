"""Training (paper section 4): options, the loop, checkpoints, logs and data-parallel helpers, a file each.

``train(TrainOptions(...))`` trains either task; :func:`train_style` and :func:`train_sr` check the task.
Names are imported on first use, so ``percepta.train.options`` can be read without loading torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_HOMES = {
    "TrainOptions": "options",
    "CHECKPOINT_FORMAT": "checkpoint", "load_checkpoint": "checkpoint", "options_from_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "TrainingDiverged": "loop", "TrainingInterrupted": "loop", "check_paths": "loop", "resumed_options": "loop",
    "train": "loop", "train_resumable": "loop", "train_sr": "loop", "train_style": "painting",
}  # fmt: skip

__all__ = [
    "CHECKPOINT_FORMAT", "TrainOptions", "TrainingDiverged", "TrainingInterrupted", "check_paths", "load_checkpoint",
    "options_from_checkpoint", "resumed_options", "save_checkpoint", "train", "train_resumable", "train_sr",
    "train_style",
]  # fmt: skip

if TYPE_CHECKING:
    from .checkpoint import CHECKPOINT_FORMAT, load_checkpoint, options_from_checkpoint, save_checkpoint
    from .loop import (
        TrainingDiverged,
        TrainingInterrupted,
        check_paths,
        resumed_options,
        train,
        train_resumable,
        train_sr,
    )
    from .options import TrainOptions
    from .painting import train_style


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
