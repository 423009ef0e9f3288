"""``percepta serve``: a web page and an HTTP API for stylising and upscaling images (FastAPI + uvicorn).

:func:`create_app` builds the ASGI application from a :class:`ServeConfig`; :func:`serve` runs it with uvicorn.
Routes:

- ``GET /``: the page (``static/index.html``, ``app.js``, ``style.css``; no build step, nothing from a CDN);
- ``POST /api/stylize`` and ``POST /api/upscale``: multipart uploads in, PNG or JPEG bytes out, with the
  processing time in ``X-Processing-Ms`` (decoding, the network and encoding) and ``Server-Timing``;
- ``GET /api/models`` (the models found by name, with thumbnails of the paintings, and the server's limits),
  ``GET /api/models/{name}/thumbnail``, ``GET /healthz``;
- ``GET /openapi.json`` and ``GET /docs``: the API's OpenAPI description, and a page rendering it (served
  by the package, unlike FastAPI's default docs pages, which load their scripts from a CDN).

What keeps the server up: uploads over ``max_upload_bytes`` are refused with 413 as soon as the declared
length (or, for a chunked upload, the count of bytes received) says so; images over ``max_pixels`` are
refused with 413 from their header, before any pixel is decoded; decoding, inference and encoding run in an
:class:`~percepta.serve.pool.InferencePool` of ``workers`` threads with at most ``queue`` waiting jobs, and
a request that finds it full gets 503 with ``Retry-After``; a request that is not answered within
``timeout`` seconds gets 504 (a job still waiting is dropped; a running forward pass cannot be interrupted
and finishes in the background, holding its slot). Models are loaded once, by name only (never a path
from a client), and shared by the workers. Every error is a JSON object ``{"error": "one line"}``: a bad
upload or option is 400, an unknown model 404, and no bad input is a 500.
"""

import asyncio
import base64
import io
import logging
import math
import os
import re
import threading
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._version import __version__
from ..errors import ImageError, ImageTooLargeError, PerceptaError
from .pool import DeadlinePassed, InferencePool, PoolFull

STATIC = Path(__file__).resolve().parent / "static"
#: JPEG quality of ``format=jpeg`` results.
JPEG_QUALITY = 92
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

    def __post_init__(self) -> None:
        for name in ("workers", "max_upload_bytes", "max_pixels", "max_side", "max_output_pixels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.queue < 0 or not self.timeout > 0:
            raise ValueError(f"queue must be >= 0 and timeout > 0, not {self.queue} and {self.timeout}")


class ApiError(Exception):
    """An answer other than 200: ``status``, a one-line message, and optional headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, " ".join(message.split()), headers or {}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status, headers=headers)


# --- request body limit -------------------------------------------------------------------------------


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 (JSON) and is not read any further.

    A declared ``Content-Length`` over the limit is answered before the body is read; a chunked body is
    counted as it arrives, and once over the limit the handler's own answer (the body parser fails) is
    replaced by the 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _message(self) -> str:
        return f"upload too large: the limit is {self.max_bytes / 2**20:.3g} MiB ({self.max_bytes} bytes)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        try:
            too_long = declared is not None and int(declared) > self.max_bytes
        except ValueError:
            await _error(400, "bad Content-Length header")(scope, receive, send)
            return
        if too_long:
            await _error(413, self._message())(scope, receive, send)
            return
        received, over, started = 0, False, False

        async def counted() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    raise _BodyTooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over:  # the app's answer to a body it could not finish reading: replaced by the 413 below
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:  # whatever the app made of the cut-off body, the answer is the 413
            if not over:
                raise
        if over and not started:
            await _error(413, self._message())(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


class ShedWhenFull:
    """ASGI middleware: while every worker and queue slot is taken, an image request gets 503 at once.

    The answer (with ``Retry-After``) comes before the upload is read or parsed, so that a flood of requests
    costs the server almost nothing beyond the work it has already accepted; the check is repeated when the
    job is submitted, so a request that got past it here can still be refused there.
    """

    def __init__(self, app: ASGIApp, pool: InferencePool, paths: tuple[str, ...]) -> None:
        self.app, self.pool, self.paths = app, pool, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths and self.pool.in_flight >= self.pool.capacity:
            busy = PoolFull(self.pool.retry_after())
            await _error(503, str(busy), {"Retry-After": str(busy.retry_after)})(scope, receive, send)
            return
        await self.app(scope, receive, send)


# --- models -------------------------------------------------------------------------------------------


class ModelCache:
    """Models by name (bundled and user models, never a client's path), each loaded once and shared."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()

    @staticmethod
    def available() -> dict[str, Path]:
        from ..modelfile import available_models

        return available_models()

    def loaded(self, name: str) -> bool:
        return name in self._models

    def get(self, name: str, task: str) -> Any:
        """The loaded :class:`~percepta.modelfile.Model` ``name``; 404 if there is none, 400 if not a ``task`` one."""
        model = self._load(name)
        if model.task != task:
            kinds = {"style": "a style model", "sr": "a super-resolution model"}
            raise ApiError(400, f"{name} is {kinds.get(model.task, model.task)}, not {kinds[task]}")
        return model

    def _load(self, name: str) -> Any:
        from ..modelfile import load_model

        available = self.available()
        if name not in available:
            raise ApiError(404, f"no model named {name[:80]!r}; GET /api/models lists them")
        with self._lock:  # one load per model, even when several requests ask at once
            model = self._models.get(name)
            if model is None:
                try:
                    model = load_model(available[name], self.device)
                except PerceptaError as exc:
                    raise ApiError(500, f"model {name} cannot be loaded: {exc}") from None
                self._models[name] = model
        return model

    def preload(self) -> None:
        """Load every model found by name now (an unreadable one is logged and left out)."""
        for name in self.available():
            try:
                self._load(name)
            except ApiError as exc:
                log.warning("percepta serve: %s", exc.message)


def _thumbnail(name: str, path: Path) -> bytes | None:
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


def _client_name(upload: UploadFile) -> str:
    """The upload's file name for messages: its last part, printable, at most 80 characters."""
    raw = os.path.basename((upload.filename or "upload").replace("\\", "/")) or "upload"
    text = "".join(ch if ch.isprintable() else "?" for ch in raw)
    return text if len(text) <= 80 else text[:79] + "…"


def _safe_stem(name: str) -> str:
    """A file name stem safe inside a Content-Disposition header: letters, digits, ``._-`` only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).stem)[:60].strip("._") or "image"


def _header_size(data: bytes, name: str, max_pixels: int) -> tuple[int, int]:
    """(width, height) from the image's header alone: the quick checks, before a worker decodes the pixels.

    Raises :class:`ImageTooLargeError` over ``max_pixels`` and :class:`ImageError` for an empty or unknown file.
    """
    if not data:
        raise ImageError(f"{name}: file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit below is the server's
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{name}: image is too large ({' '.join(str(exc).split())})") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not a recognised image file (supported: JPEG, PNG, WebP, BMP, TIFF, GIF)") from None
    except Exception as exc:  # noqa: BLE001 -- a header Pillow cannot parse is a corrupt file
        raise ImageError(f"{name}: truncated or corrupt image header ({type(exc).__name__}: {exc})") from None
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{name}: image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels} pixels"
        )
    return width, height


@dataclass
class Result:
    """What a worker hands back: the encoded image, its size, and the seconds each stage took."""

    data: bytes
    media_type: str
    size: tuple[int, int]
    decode: float
    infer: float
    encode: float


def _encode(rgb: Image.Image, alpha: Image.Image | None, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "png":
        if alpha is not None:
            rgb = rgb.copy()
            rgb.putalpha(alpha if alpha.size == rgb.size else alpha.resize(rgb.size, Image.Resampling.LANCZOS))
        rgb.save(out, format="PNG", compress_level=4)
    else:
        rgb.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def _work(data: bytes, name: str, max_pixels: int, fmt: str, transform: Any) -> Result:
    """Decode ``data``, ``transform`` it (PIL RGB -> PIL RGB), encode it as ``fmt``; runs on a worker."""
    from ..image import decode_image

    t0 = time.perf_counter()
    loaded = decode_image(data, name, max_pixels)
    t1 = time.perf_counter()
    out = transform(loaded.rgb)
    t2 = time.perf_counter()
    encoded = _encode(out, loaded.alpha, fmt)
    t3 = time.perf_counter()
    return Result(encoded, f"image/{fmt}", out.size, t1 - t0, t2 - t1, t3 - t2)


# --- the application ----------------------------------------------------------------------------------


Format = Literal["png", "jpeg", "jpg"]


class ErrorBody(BaseModel):
    """Every answer other than 200."""

    error: str


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    what = {
        400: "a bad upload or option",
        404: "no such model",
        413: "too many bytes or pixels",
        503: "busy: every worker and queue slot is taken (see Retry-After)",
        504: "not done within the timeout",
    }
    return {code: {"model": ErrorBody, "description": what[code]} for code in codes}


def create_app(config: ServeConfig | None = None) -> FastAPI:
    """The ASGI application, with its own model cache and worker pool (started and stopped with the app)."""
    config = config or ServeConfig()
    models = ModelCache(config.device)
    pool = InferencePool(config.workers, config.queue)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if config.preload:
            await asyncio.get_running_loop().run_in_executor(None, models.preload)
        yield
        pool.shutdown()

    app = FastAPI(
        title="percepta",
        version=__version__,
        summary="Fast neural style transfer and x4/x8 super-resolution (Johnson et al., ECCV 2016)",
        description="Upload an image as multipart form data; get PNG or JPEG bytes back. Errors are JSON "
        '`{"error": "..."}`: 400 bad upload or option, 404 unknown model, 413 too many bytes or pixels, '
        "503 busy (see Retry-After), 504 timed out.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )

    def openapi() -> dict[str, Any]:
        """FastAPI's schema, less the 422 it adds to every route: this API answers a bad field with 400."""
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary,
                                 description=app.description, routes=app.routes)  # fmt: skip
            for methods in schema.get("paths", {}).values():
                for operation in methods.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.config, app.state.models, app.state.pool = config, models, pool
    app.add_middleware(ShedWhenFull, pool=pool, paths=("/api/stylize", "/api/upscale"))
    app.add_middleware(BodyLimit, max_bytes=config.max_upload_bytes)  # added last: the outermost, checked first
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(part) for part in err.get("loc", ()) if part not in ("body", "query"))
            problems.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
        return _error(400, "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    async def run(upload: UploadFile, transform: Any, fmt: str, check: Any = None) -> Response:
        """Read ``upload``, check its header (and ``check(width, height)``), run the work on the pool."""
        start = time.monotonic()
        deadline = start + config.timeout
        name = _client_name(upload)
        data = await upload.read()
        fmt = "jpeg" if fmt == "jpg" else fmt
        try:
            width, height = _header_size(data, name, config.max_pixels)
            if check is not None:
                check(width, height)
        except ImageTooLargeError as exc:
            raise ApiError(413, str(exc)) from None
        except ImageError as exc:
            raise ApiError(400, str(exc)) from None
        try:
            future = pool.submit(_work, data, name, config.max_pixels, fmt, transform, deadline=deadline)
        except PoolFull as exc:
            raise ApiError(503, str(exc), {"Retry-After": str(exc.retry_after)}) from None
        del data
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), timeout=max(0.0, deadline - time.monotonic()))
        except (asyncio.TimeoutError, DeadlinePassed):
            future.cancel()  # dropped if still waiting; a running forward pass finishes in the background
            why = f"not done within the server's limit of {config.timeout:g} s; try a smaller image"
            raise ApiError(504, why) from None
        except ImageTooLargeError as exc:
            raise ApiError(413, str(exc)) from None
        except (PerceptaError, ValueError) as exc:
            raise ApiError(400, str(exc)) from None
        except MemoryError:
            raise ApiError(503, "out of memory; try a smaller image", {"Retry-After": "10"}) from None
        except RuntimeError as exc:
            if "out of memory" in str(exc) or "not enough memory" in str(exc):
                raise ApiError(503, "out of memory; try a smaller image", {"Retry-After": "10"}) from None
            raise
        total = time.monotonic() - start
        suffix = "jpg" if fmt == "jpeg" else "png"
        work = result.decode + result.infer + result.encode
        headers = {
            "X-Processing-Ms": f"{work * 1000:.0f}",
            "X-Image-Size": f"{result.size[0]}x{result.size[1]}",
            "Server-Timing": f"queue;dur={max(0.0, total - work) * 1000:.1f}, decode;dur={result.decode * 1000:.1f}, "
            f"infer;dur={result.infer * 1000:.1f}, encode;dur={result.encode * 1000:.1f}",
            "Content-Disposition": f'inline; filename="{_safe_stem(name)}_percepta.{suffix}"',
            "Cache-Control": "no-store",
        }
        return Response(result.data, media_type=result.media_type, headers=headers)

    image_doc = "the image: JPEG, PNG, WebP, BMP, TIFF or GIF (first frame); EXIF orientation is applied"
    format_doc = "result format: png (keeps an alpha channel) or jpeg"

    @app.post(
        "/api/stylize",
        tags=["images"],
        response_class=Response,
        responses={
            200: {"content": {"image/png": {}, "image/jpeg": {}}, "description": "the stylised image"},
            **_errors(400, 404, 413, 503, 504),
        },
    )
    async def api_stylize(
        image: Annotated[UploadFile, File(description=image_doc)],
        model: Annotated[str, Form(description="a style model's name (GET /api/models)", max_length=200)],
        strength: Annotated[float, Form(ge=0.0, le=1.0, description="blend with the input, 0..1")] = 1.0,
        preserve_color: Annotated[bool, Form(description="keep the input's colours (style in luminance)")] = False,
        max_size: Annotated[int | None, Form(ge=1, description="longer side of the result (at most the limit)")] = None,
        format: Annotated[Format, Form(description=format_doc)] = "png",
    ) -> Response:
        """Stylise an image with a style model in one forward pass (paper section 4.1)."""
        from ..infer import stylize

        net = models.get(model, "style")
        side = min(max_size or config.max_side, config.max_side)

        def transform(rgb: Image.Image) -> Image.Image:
            return stylize(rgb, net, max_size=side, preserve_colors=preserve_color, strength=strength)

        return await run(image, transform, format)

    @app.post(
        "/api/upscale",
        tags=["images"],
        response_class=Response,
        responses={
            200: {"content": {"image/png": {}, "image/jpeg": {}}, "description": "the upscaled image"},
            **_errors(400, 404, 413, 503, 504),
        },
    )
    async def api_upscale(
        image: Annotated[UploadFile, File(description=image_doc)],
        scale: Annotated[int | None, Form(description="4 or 8 (default: the model's; without a model, 4)")] = None,
        model: Annotated[
            str | None, Form(description="a super-resolution model (default sr_x4_feat / sr_x8_feat)", max_length=200)
        ] = None,
        max_size: Annotated[int | None, Form(ge=1, description="downscale the input to this longer side first")] = None,
        match_histogram: Annotated[bool, Form(description="match the input's colours (paper section 4.2)")] = False,
        format: Annotated[Format, Form(description=format_doc)] = "png",
    ) -> Response:
        """Super-resolve an image x4 or x8 (paper section 4.2); tiled, so memory stays bounded."""
        from ..image import resize_long_side
        from ..upscaling import upscale

        if scale is not None and scale not in (4, 8):
            raise ApiError(400, f"scale must be 4 or 8, not {scale}")
        net = models.get(model or f"sr_x{scale or 4}_feat", "sr")
        factor = net.config.scale
        if scale is not None and factor != scale:
            raise ApiError(400, f"{model} upscales x{factor}, not x{scale}; leave out scale or pick a x{scale} model")

        def check(width: int, height: int) -> None:
            if max_size and max(width, height) > max_size:
                width, height = (max(1, round(v * max_size / max(width, height))) for v in (width, height))
            pixels = width * height * factor * factor
            if pixels > config.max_output_pixels:
                longest = math.floor(math.sqrt(config.max_output_pixels * max(width, height) / min(width, height)))
                raise ImageTooLargeError(
                    f"{width}x{height} x{factor} would be {width * factor}x{height * factor} = {pixels / 1e6:.1f} MP, "
                    f"over the server's limit of {config.max_output_pixels / 1e6:.1f} MP; send max_size "
                    f"{max(1, longest // factor)} or less"
                )

        def transform(rgb: Image.Image) -> Image.Image:
            return upscale(resize_long_side(rgb, max_size), net, match_histogram=match_histogram)

        return await run(image, transform, format, check)

    @app.get("/api/models", tags=["service"])
    async def api_models() -> dict[str, Any]:
        """The models the API accepts by name, each with a thumbnail URL for style models, and the limits."""
        from ..cards import model_summary

        listed = []
        for name, path in sorted(models.available().items()):
            try:
                summary = model_summary(name, path)
            except PerceptaError as exc:
                log.warning("percepta serve: skipping an unreadable model: %s", exc)
                continue
            summary.pop("path", None)  # where the server keeps its files is none of a client's business
            summary["thumbnail"] = f"/api/models/{name}/thumbnail" if summary["task"] == "style" else None
            summary["loaded"] = models.loaded(name)
            listed.append(summary)
        limits = {k: v for k, v in asdict(config).items() if k not in ("device", "preload")}
        return {"models": listed, "limits": limits}

    @app.get(
        "/api/models/{name}/thumbnail",
        tags=["service"],
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}, "description": "the thumbnail"}, **_errors(404)},
    )
    async def api_thumbnail(name: str) -> Response:
        """A small JPEG of the painting a style model imitates."""
        path = models.available().get(name)
        data = _thumbnail(name, path) if path is not None else None
        if data is None:
            raise ApiError(404, f"no thumbnail for {name[:80]!r}")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=3600"})

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, Any]:
        """Liveness and load: 200 while the server answers, with the jobs taken (busy) of those it holds (capacity)."""
        return {"status": "ok", "version": __version__, "busy": pool.in_flight, "capacity": pool.capacity,
                "workers": pool.workers, "completed": pool.completed}  # fmt: skip

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html", headers={"Cache-Control": "no-cache"})

    return app


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8000, max_connections: int = 128) -> None:
    """Run :func:`create_app` with uvicorn until interrupted; prints where it listens.

    PyTorch's intra-op threads are shared out between the workers (``cpu_count // workers`` each), so that
    several workers do not fight over the cores. ``max_connections`` bounds open connections (uvicorn
    answers 503 beyond it).
    """
    import sys

    import torch
    import uvicorn

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // config.workers))
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"percepta serve: listening on {host}, beyond this machine: put a reverse proxy with TLS, "
            "a request size limit and authentication in front of it (see the README)",
            file=sys.stderr,
        )
    shown = f"[{host}]" if ":" in host else host
    print(f"percepta serve: http://{shown}:{port}/ (API docs: /docs)", file=sys.stderr, flush=True)
    uvicorn.run(
        create_app(config),
        host=host,
        port=port,
        limit_concurrency=max_connections,
        timeout_keep_alive=5,
        server_header=False,
        log_level="info",
    )
