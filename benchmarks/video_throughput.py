"""Video stylisation throughput on this machine: frames per second at 640x360, and flicker with --temporal.

    python benchmarks/video_throughput.py [--model wave] [--seconds 2] [--repeats 3] [--out docs/video.md]

The clip is a slow pan across the bundled example photo (freely licensed, see src/percepta/examples), made
here with PyAV. Reported: the network's frames per second (forward passes only) and end to end (decode,
stylise, encode, mux), medians of ``--repeats`` runs, and the flicker metric (mean absolute difference of
consecutive output frames over the input's) without and with ``--temporal``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from percepta.image import load_rgb
from percepta.infer import Blend, stylize
from percepta.video import flicker, transform_video

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "percepta" / "examples" / "picos_de_europa.jpg"


def pan_clip(path: Path, width: int = 640, height: int = 360, seconds: float = 2.0, fps: int = 24) -> Path:
    """A slow horizontal pan across the example photo, as H.264."""
    photo = load_rgb(EXAMPLE)
    scale = max(width * 1.3 / photo.width, height * 1.2 / photo.height)  # room to pan, at any clip size
    photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), resample=3)
    frames = round(seconds * fps)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "16"}
        for i in range(frames):
            left = round((photo.width - width) * i / max(frames - 1, 1))
            top = (photo.height - height) // 2
            crop = photo.crop((left, top, left + width, top + height))
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(crop), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def decoded(path: Path) -> list[torch.Tensor]:
    with av.open(str(path)) as c:
        return [
            torch.from_numpy(f.to_ndarray(format="rgb24")).permute(2, 0, 1).float() / 255 for f in c.decode(video=0)
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="wave")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    blend = Blend.load(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        clip = pan_clip(Path(tmp) / "pan.mp4", seconds=args.seconds)
        network, total, results = [], [], {}
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = transform_video(clip, Path(tmp) / "out.mp4", lambda x: stylize(x, blend), batch=args.batch,
                                     overwrite=True, progress=False)  # fmt: skip
            total.append(result.frames / (time.perf_counter() - start))
            network.append(result.frames_per_second)
        inputs = decoded(clip)
        for w in (0.0, 0.5, 0.8):
            out = transform_video(clip, Path(tmp) / f"t{w}.mp4", lambda x: stylize(x, blend), batch=args.batch,
                                  temporal=w, overwrite=True, progress=False)  # fmt: skip
            results[w] = flicker(inputs, decoded(out.output))
    text = (
        f"Video, 640x360, {result.frames} frames ({args.seconds:g} s at 24 fps), model `{blend.name}`, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} cores, torch {torch.__version__}; medians of "
        f"{args.repeats} runs.\n\n| | frames per second |\n|---|---:|\n"
        f"| network only | {statistics.median(network):.1f} |\n| end to end (decode, stylise, encode) | "
        f"{statistics.median(total):.1f} |\n\n| `--temporal` | flicker (output jitter / input jitter) |\n|---|---:|\n"
        + "".join(f"| {w:g} | {f:.2f} |\n" for w, f in results.items())
    )
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
