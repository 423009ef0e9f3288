"""Seconds per training iteration on this machine, fp32 against mixed precision (``--amp``), per recipe.

    python benchmarks/train_step.py [--recipes quick,cpu,paper] [--steps 7] [--threads 2] [--out docs/train_step.md]

One optimisation step of each recipe's network and loss (``percepta.train.recipes``: its crop size, painting
size, network and loss weights; batch 4, random photos and painting, which cost the same as real ones) is timed
``--steps`` times after one warm-up step, in these modes, interleaved so that a noisy machine slows all alike:

- ``fp32``: the paper's precision (``--amp off``);
- ``fp32, channels-last``: the same, in the memory layout oneDNN's fastest kernels use;
- ``bf16``: autocast (the networks in bf16, the loss terms in fp32);
- ``bf16, channels-last``: what ``--amp auto`` picks on a CPU with native bf16 units
  (``percepta.runtime.mixed_precision``).

The table gives medians and each mode's speed-up over fp32 from the same run. bf16 only pays on a CPU with
native bf16 units (Intel's AMX tiles, or AVX-512 bf16 as on AMD's Zen 4 and later); elsewhere PyTorch emulates
it. Each kind of CPU (``percepta.runtime.cpu_kind``) has its own section of the page: a run replaces its
kind's and keeps the others'.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from percepta.runtime import CPU_KINDS, cpu_kind, cpu_name  # no torch at import

ROOT = Path(__file__).resolve().parents[1]
MODES = {"fp32": ("off", False), "fp32, channels-last": ("off", True), "bf16": ("bf16", False),
         "bf16, channels-last": ("bf16", True)}  # fmt: skip


def steppers(name: str):
    """One ``_Step`` per mode for recipe ``name``, with its batch."""
    import torch

    from percepta.data import Batch
    from percepta.losses import PerceptualLoss
    from percepta.nets import TransformNet
    from percepta.train.loop import _Step
    from percepta.train.recipes import recipe

    r = recipe(name)
    torch.manual_seed(0)
    x = torch.rand(4, 3, r.size, r.size)
    out = {}
    for mode, (amp, channels_last) in MODES.items():
        net, loss = TransformNet(r.net).train(), PerceptualLoss(r.loss)
        loss.set_style(torch.rand(3, r.style_size, r.style_size))
        step = _Step(net, loss, torch.optim.Adam(net.parameters(), 1e-3), amp, torch.device("cpu"))
        step.channels_last = channels_last
        layout = torch.channels_last if channels_last else torch.contiguous_format
        net.to(memory_format=layout), loss.to(memory_format=layout)
        out[mode] = (step, Batch(x, x))
    return out


def measure(name: str, steps: int) -> dict[str, float]:
    runs = steppers(name)
    times: dict[str, list[float]] = {mode: [] for mode in runs}
    for i in range(steps + 1):
        for mode, (step, batch) in runs.items():
            t0 = time.perf_counter()
            step.backward(step.forward(batch))
            if i:  # the first step warms up
                times[mode].append(time.perf_counter() - t0)
    return {mode: statistics.median(t) for mode, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipes", default="quick,cpu,paper")
    ap.add_argument("--steps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "docs" / "train_step.md"))
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    from percepta.train.recipes import recipe

    torch.set_num_threads(args.threads)
    kind = cpu_kind()
    lines = [
        f"## {CPU_KINDS[kind]}",
        "",
        f"{cpu_name()}: one run, median of {args.steps} steps per cell, {args.threads} threads.",
        "",
        "| recipe | crops / painting | " + " | ".join(MODES) + " | bf16, channels-last / fp32 |",
        "|---|---|" + "---:|" * (len(MODES) + 1),
    ]
    for name in args.recipes.split(","):
        r, s = recipe(name), measure(name, args.steps)
        cells = " | ".join(f"{s[m]:.2f} s ({s['fp32'] / s[m]:.2f}x)" for m in MODES)
        best = s["fp32"] / s["bf16, channels-last"]
        lines.append(f"| {name} | {r.size} / {r.style_size} px | {cells} | {best:.2f}x |")
        print(lines[-1], flush=True)
    out = Path(args.out)
    sections = kept_sections(out.read_text() if out.is_file() else "")
    sections[kind] = "\n".join(lines) + "\n"
    out.write_text(page(sections))


def kept_sections(text: str) -> dict[str, str]:
    """The page's sections by kind of CPU (``## `` + its heading in ``CPU_KINDS``)."""
    heading = {f"## {title}": kind for kind, title in CPU_KINDS.items()}
    sections, kind = {}, None
    for line in text.splitlines(keepends=True):
        if line.startswith("## "):
            kind = heading.get(line.strip())
        if kind:
            sections[kind] = sections.get(kind, "") + line
    return {k: v.rstrip("\n") + "\n" for k, v in sections.items()}


def page(sections: dict[str, str]) -> str:
    head = [
        "# Training speed on a CPU: fp32 against bf16 (`--amp`)",
        "",
        "Written by `python benchmarks/train_step.py`, one run per kind of CPU on the 2-core development "
        "machine (whichever it was that day; other jobs may have run beside it, which is why the modes are "
        "interleaved: compare the ratios, not the seconds across runs or machines). One step is batch 4 through "
        "the recipe's network and the VGG-16 loss, forward and backward.",
        "",
        "`--amp auto` (the `quick` and `cpu` recipes' setting) is the last mode on a CPU with native bf16 units "
        "and fp32 elsewhere; the `paper` recipe keeps the paper's fp32 unless `--amp` is given.",
        "",
    ]
    return "\n".join(head + [sections[k] for k in CPU_KINDS if k in sections])


if __name__ == "__main__":
    main()
