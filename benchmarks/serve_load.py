"""Load test for ``percepta serve``: many concurrent clients, a mix of good and bad uploads, on loopback.

    python benchmarks/serve_load.py [--clients 50] [--requests 300] [--duration 180] [--out docs/serve_load.md]

Starts the real server (``percepta serve`` in a child process, on a free 127.0.0.1 port), then ``--clients``
threads send ``--requests`` requests in all (stopping early after ``--duration`` seconds): small real photos
to stylise (256 px, the bundled style models in turn) and to upscale x4, uploads over the byte limit, images
over the pixel limit (a flat 8000x6000 PNG: 48 MP in a few hundred kB), and corrupt files (truncated, random
bytes, text, empty). It reports the answers by kind and status, latency percentiles, throughput and the
server's peak resident memory (``VmHWM`` from ``/proc/PID/status``), and fails (exit 1) on any 500, a
dead server, or a server that no longer answers ``/healthz``. 503 (the bounded queue shedding load, with
Retry-After) is an expected answer under this load, not a failure.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image

from percepta.image import center_square, load_rgb
from percepta.serve.launch import running_server

ROOT = Path(__file__).resolve().parents[1]

PHOTOS = ROOT / "tests" / "data" / "photos"
STYLES = ("wave", "udnie", "starry_night", "the_scream")
#: (kind, share of the requests)
MIX = (("stylize", 0.55), ("upscale", 0.10), ("too many bytes", 0.12), ("too many pixels", 0.10), ("corrupt", 0.13))
#: the answers each kind may get: 503 is the full queue shedding load, before the upload is even read
EXPECTED = {"stylize": {200, 503}, "upscale": {200, 503}, "too many bytes": {413}, "too many pixels": {413, 503},
            "corrupt": {400, 503}}  # fmt: skip


@dataclass
class Outcome:
    kind: str
    status: int  # the last answer's; 0: no HTTP answer (connection error)
    seconds: float  # from the first try to the last answer, waits included
    error: str = ""
    shed: int = 0  # 503 answers before the last (each followed by a wait of Retry-After)


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def payloads(max_upload_bytes: int) -> dict[str, list[tuple[str, bytes]]]:
    """The uploads of each kind, made once: (file name, bytes)."""
    photos = sorted(PHOTOS.glob("*.jpg"))
    stylize = [(p.name, _jpeg(load_rgb(p))) for p in photos]  # 256 px on the shorter side
    upscale = [(p.name, _jpeg(center_square(load_rgb(p), 48))) for p in photos]
    noise = random.Random(0).randbytes(max_upload_bytes + 2**20)
    flat = io.BytesIO()
    Image.new("RGB", (8000, 6000), (90, 120, 150)).save(flat, format="PNG")
    good = stylize[0][1]
    corrupt = [("truncated.jpg", good[: len(good) // 3]), ("header_only.jpg", good[:200]),
               ("noise.jpg", noise[:50_000]), ("notes.png", b"not an image\n" * 50), ("empty.jpg", b"")]  # fmt: skip
    return {"stylize": stylize, "upscale": upscale, "too many bytes": [("huge.jpg", noise)],
            "too many pixels": [("flat_48mp.png", flat.getvalue())], "corrupt": corrupt}  # fmt: skip


def plan(count: int, seed: int) -> list[str]:
    """``count`` request kinds in the proportions of :data:`MIX`, shuffled."""
    kinds = [kind for kind, share in MIX for _ in range(round(share * count))]
    kinds = (kinds + ["stylize"] * count)[:count]
    random.Random(seed).shuffle(kinds)
    return kinds


def peak_rss_mib(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) of a process in MiB, from /proc (Linux)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmHWM", float("nan")), fields.get("VmRSS", float("nan"))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def run(args: argparse.Namespace) -> int:
    max_upload = int(args.max_upload_mb * 2**20)
    uploads = payloads(max_upload)
    kinds = plan(args.requests, args.seed)
    flags = ["--workers", str(args.workers), "--queue", str(args.queue), "--max-upload-mb", str(args.max_upload_mb),
             "--timeout", f"{args.timeout}s"]  # fmt: skip
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    next_index = iter(range(len(kinds)))
    with running_server(*flags) as server:
        pid = server.process.pid
        start_rss = peak_rss_mib(pid)[1]
        stop_at = time.monotonic() + args.duration

        def client(number: int) -> None:
            rng = random.Random(args.seed * 1000 + number)
            with httpx.Client(base_url=server.url, timeout=args.timeout + 30) as http:
                while time.monotonic() < stop_at:
                    with lock:
                        index = next(next_index, None)
                    if index is None:
                        return
                    kind = kinds[index]
                    name, data = rng.choice(uploads[kind])
                    route, fields = ("/api/upscale", {"scale": "4"}) if kind == "upscale" else (
                        "/api/stylize", {"model": rng.choice(STYLES), "max_size": "256"})  # fmt: skip
                    start, shed = time.perf_counter(), 0
                    while True:
                        try:
                            r = http.post(route, files={"image": (name, data, "image/jpeg")}, data=fields)
                            status, error = r.status_code, (r.json().get("error", "") if r.status_code != 200 else "")
                        except httpx.HTTPError as exc:
                            status, error = 0, f"{type(exc).__name__}: {exc}"
                        if status != 503 or shed >= args.retries or time.monotonic() > stop_at:
                            break
                        shed += 1  # a polite client: wait as told (capped, jittered), then try again
                        time.sleep(min(float(r.headers.get("retry-after", "1")), 10.0) * rng.uniform(0.75, 1.25))
                    with lock:
                        outcomes.append(Outcome(kind, status, time.perf_counter() - start, error, shed))

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.duration + args.timeout + 60)
        wall = time.perf_counter() - started
        alive = server.process.poll() is None
        try:
            healthy = httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        except httpx.HTTPError:
            healthy = False
        peak, rss = peak_rss_mib(pid) if alive else (float("nan"), float("nan"))
        server_log = server.log()

    report = render(args, outcomes, wall, (start_rss, peak, rss), alive and healthy)
    print(report)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report)
        print(f"written: {args.out}", file=sys.stderr)
    failures = [o for o in outcomes if o.status >= 500 and o.status not in (503, 504)]
    unexpected = [o for o in outcomes if o.status not in EXPECTED[o.kind]]
    for o in unexpected[:10]:
        print(f"unexpected: {o.kind} -> {o.status} {o.error}", file=sys.stderr)
    if failures or not (alive and healthy) or any(o.status == 0 for o in outcomes):
        print("FAILED: a 5xx other than 503/504, a connection error, or a dead server", file=sys.stderr)
        print(server_log[-3000:], file=sys.stderr)
        return 1
    return 0


def _row(label: str, group: list[Outcome], statuses: list[int]) -> str:
    counts = Counter(o.status for o in group)
    ms = [o.seconds * 1000 for o in group]
    cells = [label, str(len(group)), *(str(counts.get(s, 0)) for s in statuses), str(sum(o.shed for o in group))]
    cells += [f"{percentile(ms, q):.0f}" for q in (50, 90, 99)]
    return "| " + " | ".join(cells) + " |"


def render(
    args: argparse.Namespace, outcomes: list[Outcome], wall: float, rss: tuple[float, float, float], healthy: bool
) -> str:
    """The markdown report: the command and machine, a table by kind of upload, throughput and memory."""
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_kind[o.kind].append(o)
    statuses = sorted({o.status for o in outcomes})
    done_ms = [o.seconds * 1000 for o in outcomes if o.status == 200]
    server_errors = sum(1 for o in outcomes if o.status >= 500 and o.status not in (503, 504))
    start_rss, peak, end_rss = rss
    lines = [
        f"`python benchmarks/serve_load.py --clients {args.clients} --requests {args.requests}` on "
        f"{platform.machine()} Linux, {os.cpu_count()} CPU cores, Python {platform.python_version()}; server flags "
        f"`--workers {args.workers} --queue {args.queue} --max-upload-mb {args.max_upload_mb:g} --timeout "
        f"{args.timeout:g}s`; {args.clients} concurrent clients on loopback, {len(outcomes)} requests in {wall:.1f} s. "
        f"A client that gets 503 waits as Retry-After says (at most 10 s) and tries again, {args.retries} times at "
        "most: the table counts each request's last answer, and its latency runs from the first try to that answer.",
        "",
        "| upload | requests | "
        + " | ".join(f"last answer {s}" if s else "no answer" for s in statuses)
        + " | 503s before it | p50 ms | p90 ms | p99 ms |",
        "|---|" + "---:|" * (len(statuses) + 5),
        *(_row(kind, by_kind.get(kind, []), statuses) for kind, _ in MIX),
        _row("**all**", outcomes, statuses),
        "",
        f"Throughput: {len(outcomes) / wall:.1f} requests/s answered, {len(done_ms) / wall:.1f} images/s processed; "
        f"latency of the processed images p50 {percentile(done_ms, 50):.0f} ms, p90 {percentile(done_ms, 90):.0f} "
        f"ms, p99 {percentile(done_ms, 99):.0f} ms. Server memory: {start_rss:.0f} MiB resident after start-up, "
        f"peak {peak:.0f} MiB (VmHWM), {end_rss:.0f} MiB at the end. 500s: {server_errors}; the server answered "
        f"/healthz afterwards: {'yes' if healthy else 'NO'}.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=300, help="requests in all (default 300)")
    parser.add_argument("--duration", type=float, default=180.0, help="stop sending after this many seconds")
    parser.add_argument("--workers", type=int, default=1, help="the server's --workers (default 1)")
    parser.add_argument("--queue", type=int, default=8, help="the server's --queue (default 8)")
    parser.add_argument("--max-upload-mb", type=float, default=4.0, help="the server's --max-upload-mb (default 4)")
    parser.add_argument("--timeout", type=float, default=60.0, help="the server's --timeout in seconds (default 60)")
    parser.add_argument("--retries", type=int, default=5, help="tries after a 503, waiting Retry-After (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="also write the markdown report here (e.g. docs/serve_load.md)")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
