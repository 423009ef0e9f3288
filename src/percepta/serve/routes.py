"""The server's routes on an :class:`fastapi.APIRouter`, reading the application's ``state`` (its config, models
and pool, set by :func:`percepta.serve.app.create_app`): the image API, the model list and thumbnails, health,
the page and its API reference."""

import math
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, Response
from PIL import Image

from .._version import __version__
from ..errors import ImageTooLargeError, PerceptaError
from ..limits import STYLE_SCALES
from .config import STATIC, ApiError, errors_doc, log
from .models import thumbnail
from .work import process

router = APIRouter()


def _image_route(path: str, what: str) -> Any:
    """``POST path``: an upload in, PNG or JPEG bytes (``what``) out, with the API's error answers documented."""
    responses = {200: {"content": {"image/png": {}, "image/jpeg": {}}, "description": what},
                 **errors_doc(400, 404, 413, 503, 504)}  # fmt: skip
    return router.post(path, tags=["images"], response_class=Response, responses=responses)


Format = Literal["png", "jpeg", "jpg"]


image_doc = "the image: JPEG, PNG, WebP, BMP, TIFF or GIF (first frame); EXIF orientation is applied"
format_doc = "result format: png (keeps an alpha channel) or jpeg"


@_image_route("/api/stylize", "the stylised image")
async def api_stylize(
    request: Request,
    image: Annotated[UploadFile, File(description=image_doc)],
    model: Annotated[str, Form(description="a style model's name (GET /api/models)", max_length=200)],
    strength: Annotated[float, Form(ge=0.0, le=1.0, description="blend with the input, 0..1")] = 1.0,
    preserve_color: Annotated[bool, Form(description="keep the input's colours (style in luminance)")] = False,
    style_scale: Annotated[
        float, Form(ge=STYLE_SCALES[0], le=STYLE_SCALES[1], description="motif size relative to the model's")
    ] = 1.0,
    max_size: Annotated[int | None, Form(ge=1, description="longer side of the result (at most the limit)")] = None,
    format: Annotated[Format, Form(description=format_doc)] = "png",
) -> Response:
    """Stylise an image with a style model in one forward pass (paper section 4.1)."""
    from ..infer import stylize

    net = request.app.state.models.get(model, "style")
    side = min(max_size or request.app.state.config.max_side, request.app.state.config.max_side)

    def transform(rgb: Image.Image) -> Image.Image:
        return stylize(rgb, net, max_size=side, preserve_color=preserve_color, strength=strength,
                       style_scale=style_scale)  # fmt: skip

    return await process(request.app.state, image, transform, format)


@_image_route("/api/upscale", "the upscaled image")
async def api_upscale(
    request: Request,
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
    from ..modelfile import default_sr_model

    net = request.app.state.models.get(model or default_sr_model(scale), "sr")
    factor = net.config.scale
    if scale is not None and factor != scale:
        raise ApiError(400, f"{model} upscales x{factor}, not x{scale}; leave out scale or pick a x{scale} model")

    def check(width: int, height: int) -> None:
        if max_size and max(width, height) > max_size:
            width, height = (max(1, round(v * max_size / max(width, height))) for v in (width, height))
        pixels = width * height * factor * factor
        limit = request.app.state.config.max_output_pixels
        if pixels > limit:
            longest = math.floor(math.sqrt(limit * max(width, height) / min(width, height)))
            raise ImageTooLargeError(
                f"{width}x{height} x{factor} would be {width * factor}x{height * factor} = {pixels / 1e6:.1f} MP, "
                f"over the server's limit of {limit / 1e6:.1f} MP; send max_size "
                f"{max(1, longest // factor)} or less"
            )

    def transform(rgb: Image.Image) -> Image.Image:
        return upscale(resize_long_side(rgb, max_size), net, match_histogram=match_histogram)

    return await process(request.app.state, image, transform, format, check, factor)


@router.get("/api/models", tags=["service"])
async def api_models(request: Request) -> dict[str, Any]:
    """The models the API accepts by name, each with a thumbnail URL for style models, and the limits."""
    from ..cards import model_summary

    listed = []
    for name, path in sorted(request.app.state.models.available().items()):
        try:
            summary = model_summary(name, path)
        except PerceptaError as exc:
            log.warning("percepta serve: skipping an unreadable model: %s", exc)
            continue
        summary.pop("path", None)  # where the server keeps its files is none of a client's business
        summary["thumbnail"] = f"/api/models/{name}/thumbnail" if summary["task"] == "style" else None
        summary["loaded"] = request.app.state.models.loaded(name)
        listed.append(summary)
    hidden = ("device", "preload", "train_threads")
    limits = {k: v for k, v in asdict(request.app.state.config).items() if k not in hidden}
    limits["train"] = request.app.state.training.available  # on, and PyTorch installed (GET /api/train: why not)
    return {"models": listed, "limits": limits}


@router.get(
    "/api/models/{name}/thumbnail",
    tags=["service"],
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "the thumbnail"}, **errors_doc(404)},
)
async def api_thumbnail(request: Request, name: str) -> Response:
    """A small JPEG of the painting a style model imitates."""
    path = request.app.state.models.available().get(name)
    data = thumbnail(name, path) if path is not None else None
    if data is None:
        raise ApiError(404, f"no thumbnail for {name[:80]!r}")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/healthz", tags=["service"])
async def healthz(request: Request) -> dict[str, Any]:
    """Liveness and load: 200 while the server answers, with the jobs taken (busy) of those it holds (capacity)."""
    pool = request.app.state.pool
    return {"status": "ok", "version": __version__, "busy": pool.in_flight, "capacity": pool.capacity,
            "workers": pool.workers, "completed": pool.completed}  # fmt: skip


@router.get("/", include_in_schema=False)
async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/docs", include_in_schema=False)
async def docs(request: Request) -> FileResponse:
    return FileResponse(STATIC / "docs.html", headers={"Cache-Control": "no-cache"})
