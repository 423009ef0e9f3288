"""Video files through a transformation network, frame by frame (PyAV; no ffmpeg program needed).

The paper's point is real-time transformation, and video is where it shows. :func:`transform_video` decodes
the first video stream, runs batches of frames through a function (stylise or upscale), encodes the result
with H.264 at the input's frame rate and timestamps, keeps its display rotation, and copies every audio
stream packet by packet (not re-encoded). Memory stays bounded: one batch of frames at a time.

Flicker (``temporal``, a flagged addition; the paper treats single images): stylisation networks amplify
small frame-to-frame changes into flicker. With ``temporal=w`` each output pixel is blended with the
previous output by ``w * exp(-|x_t - x_{t-1}| / 0.05)``, the input's own change: where the scene holds
still the previous stylised pixel mostly stays, where it moves the new one wins. :func:`flicker` measures
the mean absolute difference between consecutive output frames relative to the input's.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import PerceptaError
from .image import resize_array

Array = np.ndarray

#: Video encoders by output extension (WebM holds VP9; the rest H.264).
ENCODERS = {".webm": "libvpx-vp9"}
#: Audio codecs WebM can hold (others are refused before any work: audio is copied, not re-encoded).
WEBM_AUDIO = frozenset({"opus", "vorbis"})
#: File extensions treated as videos (lower case).
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"})
#: The input change (on 0..1) over which ``temporal`` blending fades out.
TEMPORAL_SCALE = 0.05


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass
class VideoResult:
    """What :func:`transform_video` did: frames written, the network's seconds, and the frame rate."""

    source: Path
    output: Path
    frames: int
    seconds: float
    fps: float
    audio_streams: int

    @property
    def frames_per_second(self) -> float:
        """Frames processed per second of network time (decoding and encoding excluded)."""
        return self.frames / self.seconds if self.seconds else math.inf


class TemporalBlend:
    """Blends each output frame with the previous one where the input did not change (see the module doc)."""

    def __init__(self, weight: float) -> None:
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"temporal weight must be in [0, 1), not {weight}")
        self.weight = weight
        self.previous: tuple[Array, Array] | None = None  # (input, output) of the last frame

    def __call__(self, inputs: Array, outputs: Array) -> Array:
        if not self.weight:
            return outputs
        blended = outputs.copy()
        for i in range(len(inputs)):
            if self.previous is not None and self.previous[0].shape == inputs[i].shape:
                change = np.abs(inputs[i] - self.previous[0]).mean(0)
                keep = (self.weight * np.exp(-change / TEMPORAL_SCALE)).astype(np.float32)
                if keep.shape != blended.shape[-2:]:  # super-resolution: the mask at the output's size (bilinear)
                    keep = resize_array(keep[None, None], *blended.shape[-2:])[0, 0]
                blended[i] = keep * self.previous[1] + (1 - keep) * blended[i]
            self.previous = (inputs[i], blended[i])
        return blended


def flicker(inputs: list[Array], outputs: list[Array]) -> float:
    """Mean |output_t - output_{t-1}| over the clip divided by the same for the input (1: as jittery as it)."""
    if len(inputs) < 2:
        raise ValueError("flicker needs at least two frames")

    def jitter(frames: list[Array]) -> float:
        return float(np.mean([np.abs(np.asarray(b) - np.asarray(a)).mean() for a, b in itertools.pairwise(frames)]))

    return jitter(outputs) / max(jitter(inputs), 1e-12)


def transform_video(
    source: str | os.PathLike,
    output: str | os.PathLike,
    frames_fn: Callable[[Array], Array],
    *,
    batch: int = 4,
    temporal: float = 0.0,
    overwrite: bool = False,
    progress: bool = True,
    crf: int = 18,
) -> VideoResult:
    """Run ``frames_fn`` ((N, 3, H, W) in [0, 1] -> (N, 3, H', W')) over every frame of ``source``.

    Writes ``output`` (its container from the extension) atomically: a temporary file beside it, renamed
    when complete. The input is never overwritten, an existing output only with ``overwrite``.
    """
    import av

    from .fsutil import check_writable

    src, dst = Path(source), Path(output)
    if not src.is_file():
        raise PerceptaError(f"{src}: video file not found")
    if not is_video(dst):
        raise PerceptaError(f"{dst}: a video needs a video output ({', '.join(sorted(VIDEO_SUFFIXES))})")
    if dst.resolve() == src.resolve():
        raise PerceptaError(f"{dst}: the output would overwrite the input; choose another output")
    if dst.exists() and not overwrite:
        raise PerceptaError(f"{dst} already exists; pass --overwrite to replace")
    with _sigterm_interrupts():  # from before the first file is touched (the writability probe)
        check_writable(dst)
        try:
            container = av.open(str(src))
        except (av.error.FFmpegError, OSError) as exc:
            raise PerceptaError(f"{src}: not a readable video ({exc})") from None
        tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp{dst.suffix}")
        try:
            with container:
                _check_streams(container, src, dst)
                result = _transcode(container, src, tmp, frames_fn, batch, TemporalBlend(temporal), progress, crf)
            os.replace(tmp, dst)
        except av.error.FFmpegError as exc:
            raise PerceptaError(f"{src}: cannot process this video ({exc})") from None
        finally:
            tmp.unlink(missing_ok=True)
    result.output = dst
    return result


def _check_streams(container, src: Path, dst: Path) -> None:
    """Before any frame is decoded: a video stream, frames within the image pixel limit, audio the output's
    container can hold."""
    from .limits import MAX_PIXELS

    if not container.streams.video:
        raise PerceptaError(f"{src}: no video stream in this file")
    vin = container.streams.video[0]
    width, height = vin.codec_context.width, vin.codec_context.height
    if width * height > MAX_PIXELS:
        raise PerceptaError(f"{src}: {width}x{height} frames are over the limit of {MAX_PIXELS:,} pixels")
    if dst.suffix.lower() == ".webm":
        foreign = sorted({a.codec_context.name for a in container.streams.audio} - WEBM_AUDIO)
        if foreign:
            raise PerceptaError(f"{dst}: WebM holds Opus or Vorbis audio, and {src.name} has {', '.join(foreign)} "
                                "(copied, not re-encoded); write .mp4, .mkv or .mov")  # fmt: skip


#: set by SIGTERM while a video is written; the frame loop polls it and stops as Ctrl-C does
_TERMINATE = threading.Event()


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a job scheduler's stop) as Ctrl-C while a video is written, so the temporary file is removed:
    a polled flag, so that the stop happens between frames and not inside whatever code the signal lands in."""
    _TERMINATE.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: _TERMINATE.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _video_stream(out, vin, suffix: str, size: tuple[int, int], rotation: int, crf: int):
    """The output's video stream: H.264 (VP9 for WebM) at the input's rate and time base, ``size`` (width,
    height), the input's display rotation, constant quality ``crf``."""
    encoder = ENCODERS.get(suffix.lower(), "libx264")
    vout = out.add_stream(encoder, rate=vin.average_rate or vin.guessed_rate or 25)
    vout.width, vout.height, vout.pix_fmt = size[0], size[1], "yuv420p"
    vout.time_base = vin.time_base
    vout.options = {"crf": str(crf), **({"b": "0"} if encoder == "libvpx-vp9" else {})}
    if rotation:
        vout.set_display_rotation(rotation)
    return vout


def _transcode(container, src: Path, tmp: Path, frames_fn, batch: int, blend: TemporalBlend, progress: bool,
               crf: int) -> VideoResult:  # fmt: skip
    import av
    from tqdm.auto import tqdm

    vin = container.streams.video[0]
    audio_in = list(container.streams.audio)
    out = av.open(str(tmp), "w")
    vout = None
    audio_out: dict = {}  # made after the video stream, whose size is the network's output's
    waiting_audio: list = []  # packets that came before it
    pending: list = []
    frames, seconds = 0, 0.0
    total = vin.frames or None
    bar = tqdm(total=total, unit="frame", desc=src.name, disable=not progress, dynamic_ncols=True)

    def mux_audio(packet) -> None:
        packet.stream = audio_out[packet.stream.index]
        out.mux(packet)

    def flush() -> None:
        nonlocal vout, frames, seconds
        if not pending:
            return
        x = np.stack([f.to_ndarray(format="rgb24").transpose(2, 0, 1) for f in pending]).astype(np.float32) / 255.0
        start = time.perf_counter()
        y = blend(x, frames_fn(x))
        seconds += time.perf_counter() - start
        y = y[..., : y.shape[-2] // 2 * 2, : y.shape[-1] // 2 * 2]  # H.264 in yuv420p wants even sides
        if vout is None:
            vout = _video_stream(out, vin, tmp.suffix, (y.shape[-1], y.shape[-2]), pending[0].rotation, crf)
            audio_out.update({a.index: out.add_stream_from_template(a) for a in audio_in})
            for packet in waiting_audio:
                mux_audio(packet)
            waiting_audio.clear()
        pixels = np.round(np.clip(y, 0, 1) * 255).astype(np.uint8).transpose(0, 2, 3, 1)
        for frame_in, rgb in zip(pending, pixels):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts, frame.time_base = frame_in.pts, frame_in.time_base
            for packet in vout.encode(frame):
                out.mux(packet)
        frames += len(pending)
        bar.update(len(pending))
        bar.set_postfix(fps=f"{frames / max(seconds, 1e-9):.1f}")
        pending.clear()

    try:
        for packet in container.demux(vin, *audio_in):
            if _TERMINATE.is_set():
                raise KeyboardInterrupt
            if packet.stream.type == "audio":
                if packet.dts is None:  # the demuxer's flush packet
                    continue
                if vout is None:
                    waiting_audio.append(packet)
                else:
                    mux_audio(packet)
                continue
            for frame in packet.decode():
                pending.append(frame)
                if len(pending) >= batch:
                    flush()
        flush()
        if vout is None:
            raise PerceptaError(f"{src}: the video stream has no frames")
        for packet in vout.encode():
            out.mux(packet)
    finally:
        out.close()
        bar.close()
    return VideoResult(src, tmp, frames, seconds, frames / max(seconds, 1e-9), len(audio_in))
