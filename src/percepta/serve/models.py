"""The server's models: each loaded once by name (never a client's path) and shared by the workers; a file that
cannot be loaded is left out of the service; the painting thumbnails style models show."""

from __future__ import annotations

import base64
import contextlib
import threading
from pathlib import Path
from typing import Any

from ..errors import PerceptaError
from .config import STATIC, ApiError, log


class ModelCache:
    """Models by name (bundled and user models, never a client's path), each loaded once and shared."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._models: dict[str, Any] = {}
        self._broken: dict[str, str] = {}  # name -> why it cannot load (found at start-up): never offered
        self._lock = threading.Lock()

    def available(self) -> dict[str, Path]:
        from ..modelfile import available_models

        return {name: path for name, path in available_models().items() if name not in self._broken}

    def loaded(self, name: str) -> bool:
        return name in self._models

    def forget(self, name: str) -> None:
        """Drop ``name``'s loaded copy (and any note that it was broken): its file was replaced (a training job)."""
        with self._lock:
            self._models.pop(name, None)
            self._broken.pop(name, None)

    def get(self, name: str, task: str) -> Any:
        """The loaded :class:`~percepta.modelfile.Model` ``name``; 404 if there is none, 400 if not a ``task`` one."""
        model = self._load(name)
        if model.task != task:
            kinds = {"style": "a style model", "sr": "a super-resolution model"}
            raise ApiError(400, f"{name} is {kinds.get(model.task, model.task)}, not {kinds[task]}")
        return model

    def _load(self, name: str) -> Any:
        from ..infer import load_for

        available = self.available()
        if name not in available:
            raise ApiError(404, f"no model named {name[:80]!r}; GET /api/models lists them")
        with self._lock:  # one load per model, even when several requests ask at once
            model = self._models.get(name)
            if model is None:
                try:
                    model = load_for(available[name], self.device)
                except PerceptaError as exc:  # a broken file appeared after start-up: no longer offered
                    self._broken[name] = str(exc)
                    log.warning("percepta serve: model %s cannot be loaded, left out: %s", name, exc)
                    raise ApiError(404, f"no usable model named {name[:80]!r} (it cannot be loaded)") from None
                self._models[name] = model
        return model

    def preload(self) -> None:
        """Load every model found by name now; an unreadable one is logged and left out of the service."""
        for name in self.available():
            with contextlib.suppress(ApiError):  # _load logged it and left it out
                self._load(name)


def thumbnail(name: str, path: Path) -> bytes | None:
    """A JPEG of the painting a style model was trained on: the shipped ~160 px copy, else the model's own."""
    from ..modelfile import read_meta

    try:
        config, meta = read_meta(path)
    except PerceptaError:
        return None
    if config.task != "style":
        return None
    stem = Path(str(meta.get("style_image") or name)).stem
    shipped = STATIC / "styles" / f"{stem}.jpg"
    if stem and shipped.is_file() and shipped.parent == STATIC / "styles":
        return shipped.read_bytes()
    stored = meta.get("style_thumbnail_jpeg_base64")
    if isinstance(stored, str):
        try:
            return base64.b64decode(stored, validate=True)
        except ValueError:
            return None
    return None


# --- the work a worker does ---------------------------------------------------------------------------
