"""``percepta serve``: a web page and an HTTP API for stylising and upscaling images (FastAPI + uvicorn).

:func:`create_app` builds the ASGI application from a :class:`ServeConfig`; :func:`serve` runs it with uvicorn.
Routes:

- ``GET /``: the page (``static/index.html``, ``app.js``, ``style.css``; no build step, nothing from a CDN);
- ``POST /api/stylize`` and ``POST /api/upscale``: multipart uploads in, PNG or JPEG bytes out, with the
  processing time in ``X-Processing-Ms`` (decoding, the network and encoding) and ``Server-Timing``, and
  ``X-Resized-From`` when ``max_size`` (or the server's ``max_side``) shrank the image;
- ``GET /api/models`` (the models found by name, with thumbnails of the paintings, and the server's limits),
  ``GET /api/models/{name}/thumbnail``, ``GET /healthz``;
- ``WS /ws/webcam``: the live webcam stream (:mod:`percepta.serve.webcam`), at most ``workers`` at once;
- ``POST /api/train``, ``GET /api/train[/{id}]``, ``DELETE /api/train/{id}``: a style model of an uploaded
  painting, trained in a child process, one job at a time, then installed by name (:mod:`percepta.serve.training`);
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
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from .config import STATIC, ApiError, ServeConfig, error_response
from .middleware import BodyLimit, ShedWhenFull
from .models import ModelCache
from .pool import InferencePool
from .routes import router
from .training import TrainingJobs
from .training import router as training_router
from .webcam import Streams
from .webcam import router as webcam_router

__all__ = ["ServeConfig", "create_app", "serve"]


def create_app(config: ServeConfig | None = None) -> FastAPI:
    """The ASGI application, with its own model cache and worker pool (started and stopped with the app)."""
    config = config or ServeConfig()
    models = ModelCache(config.device)
    pool = InferencePool(config.workers, config.queue)
    training = TrainingJobs(config, models)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if config.preload:
            await asyncio.get_running_loop().run_in_executor(None, models.preload)
        yield
        pool.shutdown()
        await asyncio.get_running_loop().run_in_executor(None, training.shutdown)  # a training child stops too

    app = FastAPI(
        title="percepta",
        version=__version__,
        summary="Fast neural style transfer and x4/x8 super-resolution (Johnson et al., ECCV 2016)",
        description="Upload an image as multipart form data; get PNG or JPEG bytes back. Errors are JSON "
        '`{"error": "..."}`: 400 bad upload or option, 404 unknown model, 413 too many bytes or pixels, '
        "503 busy (see Retry-After), 504 timed out. The page's live webcam is a WebSocket, `/ws/webcam?model=NAME` "
        "(JPEG frames in and out; at most one stream per worker). `POST /api/train` trains a style model of an "
        "uploaded painting in the background (one job at a time: 409 while one runs; 501 where the server cannot "
        "train), installed under its name when done.",
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
    app.state.config, app.state.models, app.state.pool, app.state.training = config, models, pool, training
    app.state.streams = Streams(config.workers)  # webcam streams: one per worker at most
    app.add_middleware(ShedWhenFull, pool=pool, paths=("/api/stylize", "/api/upscale"))
    app.add_middleware(BodyLimit, max_bytes=config.max_upload_bytes)  # added last: the outermost, checked first
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(ApiError)
    async def apierror_response(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validationerror_response(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(part) for part in err.get("loc", ()) if part not in ("body", "query"))
            problems.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
        return error_response(400, "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def httperror_response(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    app.include_router(router)
    app.include_router(training_router)
    app.include_router(webcam_router)
    return app


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8000, max_connections: int = 128) -> None:
    """Run :func:`create_app` with uvicorn until interrupted; prints where it listens.

    ONNX Runtime's threads are shared out between the workers (``cpu_count // workers`` each, through
    ``OMP_NUM_THREADS`` unless it is set), so that several workers do not fight over the cores.
    ``max_connections`` bounds open connections (uvicorn answers 503 beyond it).
    """
    import sys
    from importlib.util import find_spec

    import uvicorn

    if find_spec("websockets") is None and find_spec("wsproto") is None:
        print("percepta serve: no websocket library (pip install websockets): the page's webcam will not work",
              file=sys.stderr)  # fmt: skip
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // config.workers)))
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"percepta serve: listening on {host}, beyond this machine: put a reverse proxy with TLS, "
            "a request size limit and authentication in front of it (see the README)"
            + ("; anyone who reaches it can start a training job (--no-train turns that off)" if config.train else ""),
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
