"""Does ``percepta serve`` stay responsive while the page trains a style? (issue 24, item 5)

    python benchmarks/serve_train.py [--requests 40] [--size 512] [--out docs/serve_train.md]

Starts the real server (a child process on a free loopback port, with its own cache and user models folders
under a temporary directory), sends ``--requests`` stylise requests one after another (the example photo,
``wave``, ``--size`` px) and times each from request to answer; then starts a training job from the shipped
Hokusai painting (``POST /api/train``, the quick recipe), waits until its loss log shows it training (10
iterations), sends the same requests again while it trains, and cancels the job. Reports both medians and
their ratio, from this one run, with the iterations the job made meanwhile. Nothing is installed outside the
temporary folder.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from percepta.serve.launch import running_server

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "src" / "percepta" / "examples" / "picos_de_europa.jpg"
PAINTING = ROOT / "src" / "percepta" / "examples" / "hokusai_great_wave.jpg"


def latencies(http: httpx.Client, count: int, size: int) -> list[float]:
    """``count`` stylise requests in turn; the seconds each took."""
    photo, out = PHOTO.read_bytes(), []
    for _ in range(count):
        start = time.perf_counter()
        r = http.post("/api/stylize", files={"image": (PHOTO.name, photo, "image/jpeg")},
                      data={"model": "wave", "max_size": str(size)})  # fmt: skip
        r.raise_for_status()
        out.append(time.perf_counter() - start)
    return out


def training_started(http: httpx.Client, job: str, timeout: float = 300) -> dict:
    """Wait until ``job`` has logged its first iterations (the child's start-up is over)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = http.get(f"/api/train/{job}").json()
        if state["state"] not in ("queued", "running"):
            raise SystemExit(f"the training job ended before it was measured: {state['state']} {state['error']}")
        if state["iteration"] >= 10:
            return state
        time.sleep(0.5)
    raise SystemExit("the training job did not start training in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "serve_train.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="percepta-serve-train-") as tmp:
        env = {**os.environ, "PERCEPTA_CACHE": f"{tmp}/cache", "XDG_DATA_HOME": f"{tmp}/data"}
        env.pop("PERCEPTA_MODELS", None)
        with running_server(env=env) as server, httpx.Client(base_url=server.url, timeout=300) as http:
            latencies(http, 2, args.size)  # warm: the model loaded, the first pass made
            idle = latencies(http, args.requests, args.size)
            r = http.post("/api/train", files={"image": (PAINTING.name, PAINTING.read_bytes(), "image/jpeg")},
                          data={"name": "benchmark_wave", "minutes": "5"})  # fmt: skip
            r.raise_for_status()
            job = r.json()["id"]
            before = training_started(http, job)["iteration"]
            busy = latencies(http, args.requests, args.size)
            after = http.get(f"/api/train/{job}").json()["iteration"]
            http.delete(f"/api/train/{job}")
    a, b = statistics.median(idle), statistics.median(busy)
    lines = [
        "# Stylising while the page trains a style (benchmarks/serve_train.py)",
        "",
        f"`percepta serve` on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs: {args.requests} "
        f"stylise requests in turn (`wave`, {args.size} px, the example photo), timed from request to answer, "
        "with no job and then while a training job (the quick recipe, one thread, `nice` +10) trains; one run.",
        "",
        "| | median (s) | slowest (s) |",
        "|---|---:|---:|",
        f"| no training | {a:.3f} | {max(idle):.3f} |",
        f"| while training | {b:.3f} | {max(busy):.3f} |",
        "",
        f"While training, a request takes **{b / a:.2f}x** as long (median); the job went on training meanwhile "
        f"(iterations {before} to {after} of its loss log, written every 10).",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
