"""Safe file writes: outputs, model files and checkpoints are never left half-written, and long work checks
first that it will be able to write its results."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path`` for writing; on success rename it over ``path``.

    Parent directories are created. If the body raises, the temporary file is removed and any
    existing ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "xb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_new_file(path: str | os.PathLike, overwrite: bool = False) -> None:
    """Before long work: ``path`` does not exist (or ``overwrite``) and can be written (:func:`check_writable`)."""
    from .errors import PerceptaError

    if Path(path).exists() and not overwrite:
        raise PerceptaError(f"{path} already exists; pass --overwrite to replace it")
    check_writable(path)


def check_writable(path: str | os.PathLike) -> None:
    """Fail now, with a one-line PerceptaError, if ``path`` could not be written later.

    Creates the parent folders and a temporary file beside ``path`` (removed again), so that long work
    (training, evaluation) learns of a read-only or missing place before it starts, not after.
    """
    from .errors import PerceptaError

    target = Path(path)
    if target.is_dir():
        raise PerceptaError(f"{target}: is a folder; give a file name")
    blocker = next((p for p in target.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise PerceptaError(f"{target}: cannot write there ({blocker} is a file, not a folder)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        probe = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.probe"
        with open(probe, "xb"):
            pass
        probe.unlink()
    except OSError as exc:
        raise PerceptaError(f"{target}: cannot write there ({exc.strerror or exc})") from None
