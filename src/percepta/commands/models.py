"""``percepta models``: bundled and user models with their provenance (read from the files' headers);
``models install FILE`` and ``models remove NAME`` manage the user model folder that ``-m NAME`` searches."""

from __future__ import annotations

import argparse

from ..errors import PerceptaError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list bundled and user models with their provenance")
    p.add_argument("--markdown", action="store_true", help="print each model's card as markdown (docs/model_cards.md)")
    p.add_argument("--bundled", action="store_true", help="only the models that come with percepta")
    p.add_argument("--json", action="store_true", help="one JSON object per model")
    act = p.add_subparsers(dest="models_action", metavar="ACTION")
    i = act.add_parser("install", help="copy a model file into the user model folder, so that -m NAME finds it")
    i.add_argument("file", metavar="FILE", help="a percepta model file (.safetensors)")
    i.add_argument("--name", help="the name to use (default: the file's name)")
    i.add_argument("--overwrite", action="store_true", help="replace an installed model of that name")
    r = act.add_parser("remove", help="delete an installed user model (bundled models stay)")
    r.add_argument("name", metavar="NAME")


def run(args: argparse.Namespace) -> None:
    if getattr(args, "models_action", None) == "install":
        from ..modelfile import SUFFIX, install_model

        path = install_model(args.file, args.name, args.overwrite)
        print(f"installed {path.name.removesuffix(SUFFIX)}: {path}")
        return
    if getattr(args, "models_action", None) == "remove":
        remove(args.name)
        return
    list_models(args)


def remove(name: str) -> None:
    """Delete the user model ``name`` (never a bundled one)."""
    from ..modelfile import user_model_path, user_models_dir

    path = user_model_path(name)
    if not path.is_file():
        raise PerceptaError(f"no installed user model named {name} (in {user_models_dir()})")
    path.unlink()
    print(f"removed {name}: {path}")


def list_models(args: argparse.Namespace) -> None:
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
