"""The README's video pictures: a strip of frames before and after, and the contact sheet of every style.

    python scripts/video_demo.py [--model wave] [--temporal 0.5] [--out docs]

The clip is benchmarks/video_throughput.py's slow pan across the bundled example photo (freely licensed);
it is stylised with ``percepta stylize clip.mp4 -m MODEL --temporal W`` and four of its frames shown above
the same frames of the input. The sheet is ``percepta sheet`` of the example photo.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from video_throughput import EXAMPLE, decoded, pan_clip  # noqa: E402

from percepta.image import save_image, to_pil  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="wave")
    parser.add_argument("--temporal", default="0.5")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    percepta = [sys.executable, "-m", "percepta"]
    with tempfile.TemporaryDirectory() as tmp:
        clip = pan_clip(Path(tmp) / "pan.mp4", seconds=2.0)
        styled = Path(tmp) / "styled.mp4"
        subprocess.run([*percepta, "stylize", str(clip), "-m", args.model, "-o", str(styled), "--temporal",
                        args.temporal], check=True)  # fmt: skip
        before, after = decoded(clip), decoded(styled)
    picks = [round(i * (len(before) - 1) / 3) for i in range(4)]
    w, h = 240, 135
    strip = Image.new("RGB", (4 * w, 2 * h), "white")
    for col, i in enumerate(picks):
        strip.paste(to_pil(before[i]).resize((w, h), Image.Resampling.LANCZOS), (col * w, 0))
        strip.paste(to_pil(after[i]).resize((w, h), Image.Resampling.LANCZOS), (col * w, h))
    save_image(strip, args.out / "video_strip.jpg", quality=88)
    subprocess.run([*percepta, "sheet", str(EXAMPLE), "-o", str(args.out / "sheet.jpg"), "--tile", "240",
                    "--max-size", "512", "--overwrite"], check=True)  # fmt: skip
    print(args.out / "video_strip.jpg", args.out / "sheet.jpg")


if __name__ == "__main__":
    main()
