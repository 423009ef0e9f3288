"""Write docs/architecture.md: one line per module of the package, what it owns, taken from the module's own
docstring (its first sentence), so that the page always matches the tree (tests/test_layout.py checks it).

    python scripts/architecture_page.py          # rewrite docs/architecture.md
    python scripts/architecture_page.py --check  # exit 1 if the page is out of date
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "percepta"
PAGE = ROOT / "docs" / "architecture.md"
INTRO = """# percepta's architecture

One line per module: what it owns, from the module's own docstring (`python scripts/architecture_page.py`
writes this page; `tests/test_layout.py` checks it matches the tree). The light install needs only the
modules marked *no torch* at their top (ONNX Runtime, numpy, Pillow; FastAPI for `serve`, PyAV for `video`);
the others import PyTorch (`percepta[train]`). Import arrows run one way: `cli` ->
`commands` -> `infer`/`upscaling`/`video`/`sheet` -> `modelfile` -> `graph` (light) or `export`/`nets`
(torch); nothing below imports what is above it.

Measurements have four homes, by what they measure: `experiments.py` re-runs the paper's experiments
(`percepta bench`: Table 1, Fig. 5, Figs. 3-4); `evaluate.py` scores models and stylised images (`percepta
eval`); `benchmarks/` times and sizes percepta itself (inference, start-up, the light install, the server,
video); `scripts/` regenerate the tables and pictures in `docs/` from those.
"""
#: modules importing no torch at the top (the light install)
TORCH = re.compile(
    r"^\s*(import torch|from torch|import torchvision|from \.(nets|losses|lossnet|backends|export|"
    r"optimization|data|bench|metrics|evaluate)\b|from \.\.(nets|losses|lossnet|train))",
    re.M,
)


ABBREVIATIONS = ("Fig. ", "Figs. ", "e.g. ", "i.e. ", "supp. ", "et al. ", "eq. ", "vs. ")


def first_sentence(doc: str) -> str:
    text = " ".join(doc.strip().split("\n\n")[0].split())
    for short in ABBREVIATIONS:  # not the end of a sentence
        text = text.replace(short, short.replace(".", "\0"))
    match = re.match(r"(.+?\.)(\s|$)", text)
    text = (match.group(1) if match else text).replace("\0", ".")
    return text if len(text) <= 240 else text[:239].rsplit(" ", 1)[0] + " ..."


def rows() -> list[tuple[str, str, bool]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        doc = ast.get_docstring(ast.parse(source)) or ""
        name = str(path.relative_to(PACKAGE)).removesuffix(".py").replace("/", ".")
        top = "\n".join(line for line in source.splitlines() if not line.startswith((" ", "\t")))
        found.append((name, first_sentence(doc) if doc else "(no docstring)", TORCH.search(top) is None))
    return found


def page() -> str:
    lines = [INTRO, "| module | no torch | what it owns |", "|---|---|---|"]
    lines += [f"| `{name}` | {'yes' if light else ''} | {what.replace('|', '/')} |" for name, what, light in rows()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = page()
    if args.check:
        sys.exit(0 if PAGE.is_file() and PAGE.read_text() == text else 1)
    PAGE.write_text(text)
    print(PAGE)


if __name__ == "__main__":
    main()
