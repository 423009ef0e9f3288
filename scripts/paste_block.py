"""Put generated text into a page between its ``<!-- NAME -->`` and ``<!-- /NAME -->`` markers (README.md,
docs/results.md), so that the repo's scripts regenerate a table inside a hand-written page.

    python scripts/paste_block.py PAGE NAME FILE     # FILE's text between PAGE's NAME markers
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from percepta.fsutil import atomic_write


def paste(path: Path, marker: str, text: str) -> None:
    """Put ``text`` between ``<!-- marker -->`` and ``<!-- /marker -->`` in ``path`` (which must have them)."""
    old = path.read_text()
    marked = re.compile(rf"<!-- {marker} -->.*<!-- /{marker} -->", re.S)
    if not marked.search(old):
        raise SystemExit(f"{path}: no <!-- {marker} --> ... <!-- /{marker} --> block to paste into")
    with atomic_write(path) as fh:
        fh.write(marked.sub(lambda _: f"<!-- {marker} -->\n{text}<!-- /{marker} -->", old).encode())


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__.strip().splitlines()[-1].strip())
    page, name, source = sys.argv[1:]
    paste(Path(page), name, Path(source).read_text())
