"""Write the small images the test suite uses into tests/data/ (run once; the result is committed).

    python scripts/make_test_fixtures.py [--data ../shared/data]

Only pictures the project may ship: photos from Debian packages under free licences (credited in
tests/data/CREDITS.md) with the shorter side reduced to 256 px, two 192 x 192 crops of full-resolution
photos that the bundled super-resolution models never saw (lossless PNG), and the public-domain paintings
with the longer side reduced to 256 px.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from percepta.image import load_rgb, resize_long_side, resize_short_side

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = (
    "opencv_baboon",
    "opencv_fruits",
    "opencv_orange",
    "mate_Garden",
    "mate_LadyBird",
    "lxqt_beam",
    "lomiri_life_by_Aitzol_Berasategi",
    "lomiri_Bridge_by_Sander_Klootwijk",
)
#: held out from the bundled SR models (scripts/train_sr_models.HELD_OUT): crops at full resolution
SR_CROPS = {"plasma_ColorfulCups": (256, 192, 448, 384), "opencv_building": (300, 200, 492, 392)}
PAINTINGS = ("wave", "starry_night", "the_scream", "udnie", "composition_vii")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    out = ROOT / "tests" / "data"
    for folder in ("photos", "sr", "styles"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        img = resize_short_side(load_rgb(args.data / "photos" / f"{name}.jpg"), 256, resample=Image.Resampling.LANCZOS)
        img.save(out / "photos" / f"{name}.jpg", quality=92)
    for name, box in SR_CROPS.items():
        load_rgb(args.data / "photos" / f"{name}.jpg").crop(box).save(out / "sr" / f"{name}_crop.png")
    for name in PAINTINGS:
        resize_long_side(load_rgb(args.data / "styles" / f"{name}.jpg"), 256).save(
            out / "styles" / f"{name}.jpg", quality=92
        )


if __name__ == "__main__":
    main()
