"""Frames per second of the page's live webcam: real frames through ``/ws/webcam`` of the real server, on loopback.

    python benchmarks/webcam.py [--models wave-fast,wave] [--frames 150] [--runs 5] [--out docs/webcam.md]

Starts ``percepta serve --workers 1`` in a child process (on a free 127.0.0.1 port), then streams 320x240 JPEG
frames (real photos, cropped to 4:3, quality 80 like the page's) to ``/ws/webcam?model=M`` as the page does:
two frames in flight, the next one sent as each answer comes back. Each run sends ``--frames`` frames after
10 to warm up and counts the stylised frames back per second; the table gives the median of ``--runs`` runs
with their spread, the size of the frames that came back (the server lowers it when frames take longer than
its real-time budget) and the time per frame on the server's worker. The client runs on the same machine
and takes some of its CPU (decoding the answers, as a browser would).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from websockets.sync.client import connect

from percepta.image import load_rgb
from percepta.serve.launch import running_server

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "tests" / "data" / "photos"
WARM_UP = 10
IN_FLIGHT = 2


@dataclass
class Run:
    fps: float
    sizes: set[tuple[int, int]]
    dropped: int  # frames answered with a JSON message instead of a picture


def frames(width: int, height: int) -> list[bytes]:
    """The photos of tests/data as ``width`` x ``height`` JPEG frames (centre crop to the aspect, quality 80)."""
    out = []
    for path in sorted(PHOTOS.glob("*.jpg")):
        img = load_rgb(path)
        scale = max(width / img.width, height / img.height)
        img = img.resize((max(width, round(img.width * scale)), max(height, round(img.height * scale))))
        left, top = (img.width - width) // 2, (img.height - height) // 2
        buffer = io.BytesIO()
        img.crop((left, top, left + width, top + height)).save(buffer, format="JPEG", quality=80)
        out.append(buffer.getvalue())
    return out


def stream(url: str, model: str, data: list[bytes], count: int) -> Run:
    """One run: ``WARM_UP`` + ``count`` frames with :data:`IN_FLIGHT` in flight; frames per second of the last
    ``count`` answers."""
    sizes: set[tuple[int, int]] = set()
    dropped = sent = answered = 0
    total = WARM_UP + count
    with connect(f"{url.replace('http', 'ws', 1)}/ws/webcam?model={model}", max_size=2**24) as ws:
        ready = json.loads(ws.recv())
        if ready.get("type") != "ready":
            raise SystemExit(f"the server refused the stream: {ready.get('error', ready)}")
        while sent < min(IN_FLIGHT, total):
            ws.send(data[sent % len(data)])
            sent += 1
        start = time.perf_counter()
        while answered < total:
            message = ws.recv()
            if isinstance(message, str):
                reply = json.loads(message)
                if not reply.get("frame"):
                    continue  # a new side: not an answer to a frame
                dropped += 1
            elif answered >= WARM_UP:
                sizes.add(Image.open(io.BytesIO(message)).size)
            answered += 1
            if answered == WARM_UP:
                start = time.perf_counter()
            if sent < total:
                ws.send(data[sent % len(data)])
                sent += 1
        return Run(count / (time.perf_counter() - start), sizes, dropped)


def render(args: argparse.Namespace, results: dict[str, list[Run]], load: float, frame_ms: dict[str, float]) -> str:
    """The markdown report: the command and machine, then a row per model."""
    lines = [
        f"`python benchmarks/webcam.py --models {args.models} --frames {args.frames} --runs {args.runs}` on "
        f"{platform.machine()} Linux, {os.cpu_count()} CPU cores (load average {load:.2f} before the runs), "
        f"Python {platform.python_version()}; server `percepta serve --workers 1` (ONNX Runtime on the CPU), the "
        f"client on the same machine over loopback: {args.width}x{args.height} JPEG frames, {IN_FLIGHT} in flight "
        f"as the page keeps them, {WARM_UP} frames to warm up, then {args.frames} frames a run.",
        "",
        "| model | frames/s (median) | min - max over runs | frames back | server ms / frame | dropped |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for model, runs in results.items():
        fps = [r.fps for r in runs]
        sizes = sorted(set().union(*(r.sizes for r in runs)), reverse=True)
        shown = ", ".join(f"{w}x{h}" for w, h in sizes) or "none"
        lines.append(
            f"| `{model}` | {statistics.median(fps):.1f} | {min(fps):.1f} - {max(fps):.1f} | {shown} | "
            f"{frame_ms.get(model, float('nan')):.0f} | {sum(r.dropped for r in runs)} |"
        )
    lines += [
        "",
        "frames/s: stylised frames received per second at the client, as the page's counter shows them. Server "
        "ms / frame: what a worker spends on one frame at the full side (decode, network, encode: "
        "`percepta.serve.webcam.stylize_frame` on the same frames, timed in-process after the server stopped). "
        "Several sizes under *frames back*: the server lowered the side to keep 15 frames/s.",
        "",
    ]
    return "\n".join(lines)


def worker_ms(model: str, data: list[bytes], side: int, repeat: int = 30) -> float:
    """Median milliseconds of :func:`percepta.serve.webcam.stylize_frame` on these frames in this process."""
    from percepta.infer import load_for
    from percepta.serve.webcam import Options, stylize_frame

    options = Options(model, load_for(model))
    stylize_frame(data[0], options, side, 10**8)
    times = [stylize_frame(data[i % len(data)], options, side, 10**8)[1] for i in range(repeat)]
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="wave-fast,wave", help="style models, comma-separated")
    parser.add_argument("--frames", type=int, default=150, help="frames a run, after the warm-up (default 150)")
    parser.add_argument("--runs", type=int, default=5, help="runs per model; the table gives the median")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--out", help="also write the markdown report here (e.g. docs/webcam.md)")
    args = parser.parse_args()
    data = frames(args.width, args.height)
    models = [m for m in args.models.split(",") if m]
    load = os.getloadavg()[0]
    results: dict[str, list[Run]] = {}
    with running_server("--workers", "1") as server:
        for model in models:
            results[model] = []
            for i in range(args.runs):
                run = stream(server.url, model, data, args.frames)
                results[model].append(run)
                print(f"{model} run {i + 1}: {run.fps:.1f} frames/s, sizes {sorted(run.sizes)}", file=sys.stderr)
    # measured after the server has stopped, so the two do not share the cores
    frame_ms = {model: worker_ms(model, data, max(args.width, args.height)) for model in models}
    report = render(args, results, load, frame_ms)
    print(report)
    if args.out:
        Path(args.out).write_text(report)
        print(f"written: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
