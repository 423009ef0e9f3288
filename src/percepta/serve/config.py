"""The server's settings and its one shape of error: :class:`ServeConfig` (each field a ``percepta serve`` flag),
:class:`ApiError` (an answer other than 200) and the JSON body every error has, ``{"error": "one line"}``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger("percepta.serve")


@dataclass(frozen=True)
class ServeConfig:
    """The server's limits; each is a ``percepta serve`` flag (see ``percepta serve --help``)."""

    workers: int = 1
    """Inference threads: requests processed at the same time (the models are shared, not copied)."""
    queue: int = 8
    """Requests that may wait for a worker; one more gets 503 with Retry-After."""
    timeout: float = 120.0
    """Seconds from a received upload to its answer (waiting included); later: 504."""
    max_upload_bytes: int = 20 * 2**20
    """Largest request body (the upload and its form fields); larger: 413."""
    max_pixels: int = 40_000_000
    """Largest upload in pixels (width x height, read from the header before decoding); larger: 413."""
    max_side: int = 1024
    """Stylised results are at most this long side (a request's ``max_size`` may ask for less)."""
    max_output_pixels: int = 4_000_000
    """Largest super-resolution result (input pixels x scale^2, after ``max_size``); larger: 413."""
    device: str = "cpu"
    """Where the networks run: cpu, cuda, cuda:N or mps."""
    preload: bool = True
    """Load every model found by name at start-up (else each on its first request)."""
    train: bool = True
    """Offer training a style model from the page (``POST /api/train``) where PyTorch is installed."""
    train_minutes_max: float = 30.0
    """Longest training job a client may ask for, in minutes (the quick recipe's default is 10)."""
    train_threads: int = 1
    """PyTorch threads of a training job (which also runs at a lower priority than the server)."""

    def __post_init__(self) -> None:
        for name in ("workers", "max_upload_bytes", "max_pixels", "max_side", "max_output_pixels", "train_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.queue < 0 or not self.timeout > 0:
            raise ValueError(f"queue must be >= 0 and timeout > 0, not {self.queue} and {self.timeout}")
        if not 0 < self.train_minutes_max < float("inf"):
            raise ValueError(f"train_minutes_max must be a positive number, not {self.train_minutes_max}")


class ApiError(Exception):
    """An answer other than 200: ``status``, a one-line message, and optional headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, " ".join(message.split()), headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status, headers=headers)


class ErrorBody(BaseModel):
    """Every answer other than 200."""

    error: str


def errors_doc(*codes: int, described: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI error answers: ``codes`` with the API's usual descriptions, ``described`` with a route's own."""
    what = {
        400: "a bad upload or option",
        404: "no such model",
        409: "a training job is running already (one at a time)",
        413: "too many bytes or pixels",
        503: "busy: every worker and queue slot is taken (see Retry-After)",
        501: "training is not available on this server (turned off, or no PyTorch)",
        504: "not done within the timeout",
    }
    answers = {**{code: what[code] for code in codes}, **(described or {})}
    return {code: {"model": ErrorBody, "description": text} for code, text in answers.items()}
