"""The live webcam stream, ``/ws/webcam``: a WebSocket on which the page sends camera frames (JPEG) and gets each
one back stylised, at a size the server chooses to keep real time, through the image API's model cache and
worker pool; at most ``--workers`` streams at once.

The conversation, all of it on one socket:

- the client opens ``/ws/webcam?model=wave-fast`` (optional ``strength``, ``preserve_color``, ``style_scale``,
  and ``side``: a longest side under the server's :data:`WEBCAM_SIDE`);
- the server answers ``{"type": "ready", "model": ..., "side": 320, ...}``, or, when every stream is still taken
  a second later or an option is bad, ``{"type": "error", "error": "one line"}`` and closes with code 1008
  (policy violation);
- the client sends frames as binary messages (JPEG, PNG or WebP); each gets exactly one answer: the stylised
  frame as a binary JPEG, or ``{"type": "error" | "busy", "error": ..., "frame": true}`` (a bad frame, or a
  pool full of HTTP work: that frame is dropped, the stream goes on), so that a client can keep a fixed
  number of frames in flight;
- a text message ``{"model": ..., "strength": ...}`` changes the options mid-stream (answered ``ready`` again,
  or ``error``); ``{"type": "side", "side": N}`` tells the client the frame size the server now wants;
- a stream that sends nothing for :data:`IDLE_SECONDS` is closed (1000).

Frames larger than the chosen side are shrunk (never enlarged); the side starts at :data:`WEBCAM_SIDE` and
:class:`SideControl` lowers it while frames take longer than the real-time budget (1 / :data:`TARGET_FPS` of
worker time each) and raises it back when they are well under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from ..errors import ImageError, PerceptaError, is_out_of_memory
from ..limits import STYLE_SCALES
from .config import ApiError, log
from .pool import PoolFull

router = APIRouter()

#: the longest side of a frame at most (320 x 240 is the usual webcam preview size)
WEBCAM_SIDE = 320
#: the side is never lowered below this
MIN_SIDE = 128
#: frames per second the side is chosen to keep, in worker time per frame
TARGET_FPS = 15.0
#: a stream that sends nothing for this many seconds is closed
IDLE_SECONDS = 30.0
#: JPEG quality of the frames sent back
FRAME_QUALITY = 80
#: the close code of a refused stream (RFC 6455: policy violation)
POLICY_VIOLATION = 1008


class Streams:
    """The open webcam streams, at most ``limit`` (the server's ``--workers``); claimed on the event loop."""

    def __init__(self, limit: int) -> None:
        self.limit, self.open = limit, 0

    async def claim(self, grace: float = 1.0) -> bool:
        """Take a slot, waiting up to ``grace`` seconds for one (a stream that just ended may still be finishing
        its last frame: the page's Stop then Start must not be refused); False if none came free."""
        deadline = time.monotonic() + grace
        while self.open >= self.limit:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        self.open += 1
        return True

    def release(self) -> None:
        self.open -= 1


@dataclass(frozen=True)
class Options:
    """A stream's settings: the style model (loaded) and its options, and the longest side the client asked for."""

    model: str
    net: Any
    strength: float = 1.0
    preserve_color: bool = False
    style_scale: float = 1.0
    side: int = WEBCAM_SIDE


def _number(fields: Mapping[str, Any], name: str, low: float, high: float, default: float) -> float:
    raw = fields.get(name, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ApiError(400, f"{name}: not a number: {str(raw)[:40]!r}") from None
    if not low <= value <= high:  # NaN fails this too
        raise ApiError(400, f"{name}: must be between {low:g} and {high:g}, not {value:g}")
    return value


def _flag(fields: Mapping[str, Any], name: str, default: bool) -> bool:
    raw = fields.get(name, default)
    if isinstance(raw, bool):
        return raw
    if str(raw).lower() in ("true", "1", "yes", "on"):
        return True
    if str(raw).lower() in ("false", "0", "no", "off"):
        return False
    raise ApiError(400, f"{name}: not true or false: {str(raw)[:40]!r}")


def parse_options(models: Any, fields: Mapping[str, Any], current: Options | None = None) -> Options:
    """The stream's options from query parameters or a JSON message (missing fields keep ``current``'s);
    an :class:`~percepta.serve.config.ApiError` with a one-line message for a bad one."""
    unknown = set(fields) - {"type", "model", "strength", "preserve_color", "style_scale", "side"}
    if unknown:
        raise ApiError(400, f"unknown option {sorted(unknown)[0][:40]!r}")
    name = str(fields.get("model", current.model if current else "wave-fast"))[:200]
    net = current.net if current and name == current.model else models.get(name, "style")
    base = current or Options(name, net)
    return replace(
        base,
        model=name,
        net=net,
        strength=_number(fields, "strength", 0.0, 1.0, base.strength),
        preserve_color=_flag(fields, "preserve_color", base.preserve_color),
        style_scale=_number(fields, "style_scale", *STYLE_SCALES, base.style_scale),
        side=round(_number(fields, "side", 16, WEBCAM_SIDE, base.side)),
    )


class SideControl:
    """The frame side the server asks for: lowered by a fifth while the mean frame time is over the real-time
    budget, raised by a fifth (to ``cap`` at most) when the larger frames would still take under 90% of it."""

    def __init__(self, cap: int, budget: float = 1.0 / TARGET_FPS) -> None:
        self.cap, self.side, self.budget = cap, cap, budget
        self.mean: float | None = None
        self._frames = 0  # frames since the last change

    def update(self, seconds: float) -> bool:
        """Count one frame's worker time; True when the side changed."""
        self.mean = seconds if self.mean is None else 0.7 * self.mean + 0.3 * seconds
        self._frames += 1
        if self._frames < 5:
            return False
        side = self.side
        if self.mean > self.budget and side > MIN_SIDE:
            side = max(MIN_SIDE, round(side * 0.8 / 16) * 16)
        elif self.mean * 1.44 < 0.9 * self.budget and side < self.cap:
            side = min(self.cap, round(side * 1.2 / 16) * 16)
        if side == self.side:
            return False
        self.side, self._frames, self.mean = side, 0, None
        return True


def stylize_frame(data: bytes, options: Options, side: int, max_pixels: int) -> tuple[bytes, float]:
    """One frame: decoded, shrunk to ``side`` on its longer side, stylised, encoded as JPEG; runs on a worker.
    Returns the JPEG and the seconds it took."""
    from ..image import BILINEAR, decode_image, encode_image, resize_long_side
    from ..infer import stylize

    start = time.perf_counter()
    rgb = resize_long_side(decode_image(data, "frame", max_pixels).rgb, side, resample=BILINEAR)
    out = stylize(rgb, options.net, preserve_color=options.preserve_color, strength=options.strength,
                  style_scale=options.style_scale)  # fmt: skip
    return encode_image(out, None, "JPEG", quality=FRAME_QUALITY), time.perf_counter() - start


def _ready(options: Options, side: int, streams: Streams) -> dict[str, Any]:
    return {"type": "ready", "model": options.model, "side": side, "target_fps": TARGET_FPS,
            "strength": options.strength, "preserve_color": options.preserve_color,
            "style_scale": options.style_scale, "streams": streams.limit}  # fmt: skip


async def refuse(ws: WebSocket, message: str) -> None:
    """Tell the client why in a JSON message, then close with :data:`POLICY_VIOLATION`."""
    await ws.send_json({"type": "error", "error": message})
    await ws.close(code=POLICY_VIOLATION, reason=message[:120])


@router.websocket("/ws/webcam")
async def webcam(ws: WebSocket) -> None:
    """A live webcam stream; see the module docstring for the conversation."""
    state = ws.app.state
    streams: Streams = state.streams
    await ws.accept()
    if not await streams.claim():
        n = streams.limit
        with contextlib.suppress(WebSocketDisconnect):
            await refuse(ws, f"this server takes {n} webcam stream{'s' if n != 1 else ''} at once (its --workers) "
                             "and all are in use; try again later")  # fmt: skip
        return
    try:
        try:
            options = parse_options(state.models, ws.query_params)
        except ApiError as exc:
            await refuse(ws, exc.message)
            return
        await _stream(ws, state, options, streams)
    except WebSocketDisconnect:
        pass  # the client left
    finally:
        streams.release()


async def _stream(ws: WebSocket, state: Any, options: Options, streams: Streams) -> None:
    """Answer frames until the client leaves or stays silent for :data:`IDLE_SECONDS`."""
    config, pool = state.config, state.pool
    control = SideControl(options.side)
    await ws.send_json(_ready(options, control.side, streams))
    while True:
        try:
            message = await asyncio.wait_for(ws.receive(), timeout=IDLE_SECONDS)
        except asyncio.TimeoutError:
            await ws.send_json({"type": "error", "error": f"no frame for {IDLE_SECONDS:g} s; stream closed"})
            await ws.close(code=1000)
            return
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            changed = await _new_options(ws, state, options, message["text"])
            if changed is not None:
                options = changed
                if options.side != control.cap:
                    control = SideControl(options.side)
                await ws.send_json(_ready(options, control.side, streams))
            continue
        data = message.get("bytes") or b""
        if len(data) > config.max_upload_bytes:
            await _frame_error(ws, "error", f"frame of {len(data)} bytes, over the server's limit")
            continue
        try:
            future = pool.submit(stylize_frame, data, options, control.side, config.max_pixels)
        except PoolFull as exc:
            await asyncio.sleep(0.1)  # the HTTP requests hold every slot: this frame is dropped
            await _frame_error(ws, "busy", str(exc))
            continue
        try:
            jpeg, seconds = await asyncio.wrap_future(future)
        except (ImageError, PerceptaError, ValueError) as exc:
            await _frame_error(ws, "error", str(exc))
            continue
        except (MemoryError, RuntimeError) as exc:
            if not is_out_of_memory(exc):
                raise
            await _frame_error(ws, "busy", "out of memory; this frame was dropped")
            continue
        await ws.send_bytes(jpeg)
        if control.update(seconds):
            log.info("percepta serve: webcam frames now %d px on the longer side", control.side)
            await ws.send_json({"type": "side", "side": control.side})


async def _frame_error(ws: WebSocket, kind: str, message: str) -> None:
    """The answer to a frame that was not stylised (``"frame": true`` tells it from other messages)."""
    await ws.send_json({"type": kind, "error": " ".join(message.split()), "frame": True})


async def _new_options(ws: WebSocket, state: Any, options: Options, text: str) -> Options | None:
    """``options`` changed by a JSON text message; None (after an error message) when it is bad."""
    try:
        fields = json.loads(text)
        if not isinstance(fields, dict):
            raise ValueError("not a JSON object")
        return parse_options(state.models, fields, options)
    except ValueError as exc:
        await ws.send_json({"type": "error", "error": f"bad options message: {' '.join(str(exc).split())[:120]}"})
    except ApiError as exc:
        await ws.send_json({"type": "error", "error": exc.message})
    return None
