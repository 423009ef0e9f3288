"""The README's style-quality table: every style model against the paper authors' own output, on chicago.jpg.

    python scripts/style_eval_table.py [--data ../shared/data] [--models-dir DIR] [--out docs/style_eval.md]

For each painting with both a model (bundled, or ``--models-dir/NAME.safetensors`` and ``NAME-fast``) and
an output of the authors' released model in ``reference/``, `percepta eval style` at 510 px (the authors'
output size): content loss and style ratio, lower is better for both; "Pareto" says whether our model is
equal or better on both numbers than the authors' output; change and motif scale (``percepta.lookmetrics``:
how bold and how large the painting's marks are), each also as a multiple of the authors' (issue 23's target:
at least 0.85x).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from paste_block import paste  # the markers' filler (scripts/)

from percepta.evaluate import evaluate_style
from percepta.fsutil import atomic_write
from percepta.modelfile import available_models

ROOT = Path(__file__).resolve().parents[1]
#: painting -> the authors' output of chicago.jpg with their model for it (shared/data/reference)
REFERENCES = {
    "wave": "eccv16/chicago_wave.jpg",
    "starry_night": "eccv16/chicago_starry_night.jpg",
    "composition_vii": "eccv16/chicago_composition_vii.jpg",
    "the_scream": "instance_norm/chicago_scream.jpg",
    "udnie": "instance_norm/chicago_udnie.jpg",
}


def compact(rows: list[tuple[str, object, object]]) -> str:
    """The README's table: each full model beside the authors' output for its painting, the four numbers."""
    out = ["| painting | content loss (lower: more of the photo) | style ratio (lower: closer Grams) | change "
           "(higher: bolder) | motif scale (larger marks) |", "|---|---|---|---|---|"]  # fmt: skip
    for painting, ours, authors in rows:
        out.append(f"| {painting} | {ours.content:.3g} / {authors.content:.3g} | {ours.style_ratio:.3g} / "
                   f"{authors.style_ratio:.3g} | {ours.change:.3f} / {authors.change:.3f} | "
                   f"{ours.motif_scale:.1f} / {authors.motif_scale:.1f} px |")  # fmt: skip
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--models-dir", type=Path, help="take NAME.safetensors and NAME-fast.safetensors from here")
    parser.add_argument("--size", type=int, default=510)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "style_eval.md")
    parser.add_argument(
        "--paste",
        action="store_true",
        help="also paste the table into docs/results.md, the full models' into README.md",
    )
    args = parser.parse_args()
    installed = available_models()
    lines = ["| painting | model | content loss | style ratio | Pareto-equal or better than the authors' | change | "
             "motif scale (px) |", "|---|---|---:|---:|---|---:|---:|"]  # fmt: skip
    full = []
    for painting, reference in REFERENCES.items():
        if args.models_dir:
            candidates = [args.models_dir / f"{name}.safetensors" for name in (painting, f"{painting}-fast")]
            models = [p for p in candidates if p.is_file()]
        else:
            models = [installed[n] for n in (painting, f"{painting}-fast") if n in installed]
        if not models:
            continue
        photo, style = args.data / "content" / "chicago.jpg", args.data / "styles" / f"{painting}.jpg"
        report = evaluate_style([args.data / "reference" / reference], [photo], style, models, size=args.size,
                                device=args.device)  # fmt: skip
        authors, *ours = report.summary
        lines.append(f"| {painting} | authors' ({reference.split('/')[0]}) | {authors.content:.3g} | "
                     f"{authors.style_ratio:.3g} | | {authors.change:.3f} | {authors.motif_scale:.1f} |")  # fmt: skip
        for score, path in zip(ours, models):
            verdict = "yes" if score.pareto_equal_or_better(authors) else "no"
            lines.append(f"| {painting} | `{path.stem}` | {score.content:.3g} | {score.style_ratio:.3g} | {verdict} | "
                         f"{score.change:.3f} ({score.change / authors.change:.2f}x) | {score.motif_scale:.1f} "
                         f"({score.motif_scale / authors.motif_scale:.2f}x) |")  # fmt: skip
            if path.stem == painting:
                full.append((painting, score, authors))
        print("\n".join(lines[-1 - len(ours) :]), flush=True)
    text = (
        f"`percepta eval style` on chicago.jpg at {args.size} px (longer side), the painting at 512 px; "
        "lower is better for content loss and style ratio; change (RMS luminance difference from the photo) and "
        "motif scale (the luminance's energy-weighted wavelength) say how bold and how large the painting's marks "
        "are, here also as multiples of the authors' (`python scripts/style_eval_table.py`).\n\n"
    )
    text += "\n".join(lines) + "\n"
    with atomic_write(args.out) as fh:
        fh.write(text.encode())
    if args.paste:
        paste(ROOT / "docs" / "results.md", "style_eval", text)
        paste(ROOT / "README.md", "style_eval", compact(full))
    print(text)


if __name__ == "__main__":
    main()
