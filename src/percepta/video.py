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

import itertools
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .errors import PerceptaError

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
        self.previous: tuple[Tensor, Tensor] | None = None  # (input, output) of the last frame

    def __call__(self, inputs: Tensor, outputs: Tensor) -> Tensor:
        if not self.weight:
            return outputs
        blended = outputs.clone()
        for i in range(len(inputs)):
            if self.previous is not None and self.previous[0].shape == inputs[i].shape:
                change = (inputs[i] - self.previous[0]).abs().mean(0, keepdim=True)
                keep = self.weight * torch.exp(-change / TEMPORAL_SCALE)
                if keep.shape[-2:] != blended.shape[-2:]:  # super-resolution: the mask at the output's size
                    keep = torch.nn.functional.interpolate(keep[None], size=blended.shape[-2:], mode="bilinear")[0]
                blended[i] = keep * self.previous[1] + (1 - keep) * blended[i]
            self.previous = (inputs[i], blended[i])
        return blended


def flicker(inputs: list[Tensor], outputs: list[Tensor]) -> float:
    """Mean |output_t - output_{t-1}| over the clip divided by the same for the input (1: as jittery as it)."""
    if len(inputs) < 2:
        raise ValueError("flicker needs at least two frames")

    def jitter(frames: list[Tensor]) -> float:
        return float(np.mean([(b - a).abs().mean() for a, b in itertools.pairwise(frames)]))

    return jitter(outputs) / max(jitter(inputs), 1e-12)


def transform_video(
    source: str | os.PathLike,
    output: str | os.PathLike,
    frames_fn: Callable[[Tensor], Tensor],
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
    check_writable(dst)
    try:
        container = av.open(str(src))
    except (av.error.FFmpegError, OSError) as exc:
        raise PerceptaError(f"{src}: not a readable video ({exc})") from None
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp{dst.suffix}")
    try:
        with container:
            if not container.streams.video:
                raise PerceptaError(f"{src}: no video stream in this file")
            result = _transcode(container, src, tmp, frames_fn, batch, TemporalBlend(temporal), progress, crf)
        os.replace(tmp, dst)
    except av.error.FFmpegError as exc:
        raise PerceptaError(f"{src}: cannot process this video ({exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
    result.output = dst
    return result


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
        x = torch.stack([torch.from_numpy(f.to_ndarray(format="rgb24")).permute(2, 0, 1) for f in pending])
        x = x.float().div_(255.0)
        start = time.perf_counter()
        y = blend(x, frames_fn(x))
        seconds += time.perf_counter() - start
        y = y[..., : y.shape[-2] // 2 * 2, : y.shape[-1] // 2 * 2]  # H.264 in yuv420p wants even sides
        if vout is None:
            vout = out.add_stream("libx264", rate=vin.average_rate or vin.guessed_rate or 25)
            vout.width, vout.height, vout.pix_fmt = y.shape[-1], y.shape[-2], "yuv420p"
            vout.time_base = vin.time_base
            vout.options = {"crf": str(crf)}
            if pending[0].rotation:
                vout.set_display_rotation(pending[0].rotation)
            audio_out.update({a.index: out.add_stream_from_template(a) for a in audio_in})
            for packet in waiting_audio:
                mux_audio(packet)
            waiting_audio.clear()
        pixels = y.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
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
