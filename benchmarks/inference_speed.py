"""Inference time of style networks on this machine: median of repeats, eager vs inference_mode vs compiled.

    python benchmarks/inference_speed.py [--sizes 256,512] [--repeats 5] [--compile]

Weights are random (speed does not depend on them); architectures are the paper's and the bundled
models' CPU recipe. Prints a markdown table; compare ratios within one run (the machine is noisy).
"""

from __future__ import annotations

import argparse
import functools

import torch

from percepta.bench import median_seconds
from percepta.nets import NetConfig, TransformNet
from percepta.runtime import tune_allocator

ARCHS = {
    "paper (batch norm, full width, 5 blocks)": NetConfig.style(),
    "bundled (instance norm, resize, width 0.5, 3 blocks)": NetConfig.style("instance", "resize", 0.5, 3),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(freezing=True)")
    args = parser.parse_args()
    tune_allocator()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| network | size | eager no_grad | inference_mode |" + (" compiled |" if args.compile else ""))
    print("|---|---|---|---|" + ("---|" if args.compile else ""))
    for label, config in ARCHS.items():
        net = TransformNet(config).eval()
        for size in map(int, args.sizes.split(",")):
            x = torch.rand(1, 3, size, size)
            with torch.no_grad():
                eager = median_seconds(functools.partial(net, x), args.repeats)
            with torch.inference_mode():
                inf = median_seconds(functools.partial(net, x), args.repeats)
            row = f"| {label} | {size}x{size} | {eager * 1000:.0f} ms | {inf * 1000:.0f} ms |"
            if args.compile:
                compiled = torch.compile(net, options={"freezing": True})
                with torch.inference_mode():
                    row += f" {median_seconds(functools.partial(compiled, x), args.repeats) * 1000:.0f} ms |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
