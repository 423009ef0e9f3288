"""``percepta models``: bundled and user models with their provenance (read from the files' headers)."""

from __future__ import annotations

import argparse

from ..errors import PerceptaError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list bundled and user models with their provenance")
    p.add_argument("--markdown", action="store_true", help="print each model's card as markdown (docs/model_cards.md)")
    p.add_argument("--bundled", action="store_true", help="only the models that come with percepta")
    p.add_argument("--json", action="store_true", help="one JSON object per model")


def run(args: argparse.Namespace) -> None:
    import json

    from ..cards import clean, model_card, model_line, model_summary
    from ..modelfile import BUNDLED_DIR, available_models

    models = {k: v for k, v in available_models().items() if not args.bundled or v.parent == BUNDLED_DIR}
    if not models and not args.json:
        print("no models installed")
    for name, path in models.items():
        try:
            if args.json:
                print(json.dumps(model_summary(name, path)))
            else:
                print(model_card(path) if args.markdown else model_line(name, path))
        except PerceptaError as exc:
            print(json.dumps({"name": name, "path": str(path), "error": str(exc)}) if args.json
                  else f"{clean(name, 24):24} (unreadable: {clean(exc, 70)})")  # fmt: skip
