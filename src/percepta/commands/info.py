"""``percepta info``: what this install has (ONNX Runtime, torch, the VGG-16 weights, the models)."""

from __future__ import annotations

import argparse
from typing import Any

from .._version import __version__
from ..errors import PerceptaError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="versions, and where the VGG-16 weights come from")
    p.add_argument("--json", action="store_true", help="one JSON object")


def run(args: argparse.Namespace) -> None:
    """What this install has: versions, ONNX Runtime's providers, torch (training) and the VGG-16 weights,
    the models; each part that is missing is said, and the rest still printed."""
    import json
    import platform
    from importlib.util import find_spec

    import onnxruntime

    from ..graph import threads
    from ..modelfile import available_models, model_dirs

    info: dict[str, Any] = {"percepta": __version__, "python": platform.python_version(),
                            "onnxruntime": onnxruntime.__version__, "providers": onnxruntime.get_available_providers(),
                            "threads": threads(), "torch": None, "torchvision": None, "cuda": None,
                            "vgg16_weights": None, "vgg16_sha256": None, "models": len(available_models()),
                            "model_dirs": [str(d) for d in model_dirs()]}  # fmt: skip
    problem = None
    if find_spec("torch") is not None:
        import torch
        import torchvision

        info.update(torch=torch.__version__, torchvision=torchvision.__version__,
                    cuda=torch.cuda.get_device_name() if torch.cuda.is_available() else None)  # fmt: skip
        from ..lossnet import load_vgg16_weights

        try:
            weights = load_vgg16_weights(args.vgg_weights)
            info.update(vgg16_weights=weights.source, vgg16_sha256=weights.sha256)
        except PerceptaError as exc:
            problem = str(exc)
    if args.json:
        print(json.dumps({**info, "problem": problem}))
        return
    print(f"percepta {__version__}, python {info['python']}")
    print(f"inference: onnxruntime {info['onnxruntime']} ({', '.join(info['providers'])}), {info['threads']} threads")
    if info["torch"] is None:
        print("training: torch not installed (pip install 'percepta[train]' for train, optimize, eval, bench, export)")
    else:
        print(f"training: torch {info['torch']}, torchvision {info['torchvision']}, "
              f"cuda {info['cuda'] or 'not available'}")  # fmt: skip
        print(f"VGG-16 weights: {info['vgg16_weights'] or 'missing: ' + str(problem)}")
        if info["vgg16_sha256"]:
            print(f"VGG-16 sha256:  {info['vgg16_sha256']}")
    print(f"models: {info['models']} found in {', '.join(info['model_dirs'])}")
