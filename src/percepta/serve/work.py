"""One image request's life: its upload read and its header checked (:func:`percepta.image.image_size`), the
decode, the network and the encode on a worker of the pool (:func:`work`), and the answer with its timings
(:func:`process`); every failure an :class:`~percepta.serve.config.ApiError`."""

from __future__ import annotations

import asyncio
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import UploadFile
from fastapi.responses import Response

from ..errors import ImageError, ImageTooLargeError, PerceptaError, is_out_of_memory
from ..image import image_size
from .config import ApiError
from .pool import DeadlinePassed, PoolFull


def client_name(upload: UploadFile) -> str:
    """The upload's file name for messages: its last part, printable, at most 80 characters."""
    raw = os.path.basename((upload.filename or "upload").replace("\\", "/")) or "upload"
    text = "".join(ch if ch.isprintable() else "?" for ch in raw)
    return text if len(text) <= 80 else text[:79] + "…"


def safe_stem(name: str) -> str:
    """A file name stem safe inside a Content-Disposition header: letters, digits, ``._-`` only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).stem)[:60].strip("._") or "image"


@dataclass
class Result:
    """What a worker hands back: the encoded image, its size and the decoded upload's (EXIF orientation applied),
    and the seconds each stage took."""

    data: bytes
    media_type: str
    size: tuple[int, int]
    source: tuple[int, int]
    decode: float
    infer: float
    encode: float


def work(data: bytes, name: str, max_pixels: int, fmt: str, transform: Any) -> Result:
    """Decode ``data``, ``transform`` it (PIL RGB -> PIL RGB), encode it as ``fmt``; runs on a worker."""
    from ..image import decode_image, encode_image

    t0 = time.perf_counter()
    loaded = decode_image(data, name, max_pixels)
    t1 = time.perf_counter()
    out = transform(loaded.rgb)
    t2 = time.perf_counter()
    encoded = encode_image(out, loaded.alpha, fmt)
    t3 = time.perf_counter()
    return Result(encoded, f"image/{fmt}", out.size, loaded.rgb.size, t1 - t0, t2 - t1, t3 - t2)


async def process(
    state: Any, upload: UploadFile, transform: Any, fmt: str, check: Any = None, factor: int = 1
) -> Response:
    """Read ``upload``, check its header (and ``check(width, height)``), run the work on ``state``'s pool.

    ``factor``: how many times larger than its input ``transform``'s result is; a result of another size was
    shrunk on the way (``max_size``, the server's ``max_side``), and the answer says so in ``X-Resized-From``
    (the upload's width x height)."""
    config, pool = state.config, state.pool
    start = time.monotonic()
    deadline = start + config.timeout
    name = client_name(upload)
    data = await upload.read()
    fmt = "jpeg" if fmt == "jpg" else fmt
    try:
        width, height = image_size(data, name, config.max_pixels)
        if check is not None:
            check(width, height)
    except ImageTooLargeError as exc:
        raise ApiError(413, str(exc)) from None
    except ImageError as exc:
        raise ApiError(400, str(exc)) from None
    try:
        future = pool.submit(work, data, name, config.max_pixels, fmt, transform, deadline=deadline)
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
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        raise ApiError(503, "out of memory; try a smaller image", {"Retry-After": "10"}) from None
    total = time.monotonic() - start
    suffix = "jpg" if fmt == "jpeg" else "png"
    spent = result.decode + result.infer + result.encode
    headers = {
        "X-Processing-Ms": f"{spent * 1000:.0f}",
        "X-Image-Size": f"{result.size[0]}x{result.size[1]}",
        "Server-Timing": f"queue;dur={max(0.0, total - spent) * 1000:.1f}, decode;dur={result.decode * 1000:.1f}, "
        f"infer;dur={result.infer * 1000:.1f}, encode;dur={result.encode * 1000:.1f}",
        "Content-Disposition": f'inline; filename="{safe_stem(name)}_percepta.{suffix}"',
        "Cache-Control": "no-store",
    }
    if result.size != (result.source[0] * factor, result.source[1] * factor):
        headers["X-Resized-From"] = f"{result.source[0]}x{result.source[1]}"
    return Response(result.data, media_type=result.media_type, headers=headers)
