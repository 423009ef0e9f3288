"""How long the command line takes to answer ``--help`` and ``models`` (median of N fresh processes).

    python benchmarks/cli_startup.py [--repeats 5] [--against OTHER_CHECKOUT]

With ``--against``, the same commands run in the same loop with another checkout's ``src`` first on the
path (for example a clone of an older revision), and the table gives both medians and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {"percepta --help": ["--help"], "percepta models": ["models"]}


def seconds(src: Path, argv: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "percepta", *argv], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    args = parser.parse_args()
    trees = {"this checkout": ROOT / "src"}
    if args.against:
        trees["other"] = args.against.resolve() / "src"
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):  # interleaved, so that machine noise hits both alike
        for command, argv in COMMANDS.items():
            for tree, src in trees.items():
                times.setdefault((command, tree), []).append(seconds(src, argv))
    head = "| command | " + " | ".join(trees) + (" | other / this |" if args.against else " |")
    print(head + "\n|---|" + "---|" * (len(trees) + bool(args.against)))
    for command in COMMANDS:
        medians = [statistics.median(times[command, tree]) for tree in trees]
        cells = " | ".join(f"{m * 1000:.0f} ms" for m in medians)
        ratio = f" | {medians[1] / medians[0]:.1f}x |" if args.against else " |"
        print(f"| `{command}` | {cells}{ratio}")


if __name__ == "__main__":
    main()
