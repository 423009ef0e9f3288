"""``percepta export``: a model as ONNX or TorchScript with dynamic height and width (PyTorch)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import PerceptaError

TORCH = True


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a model as ONNX or TorchScript (dynamic height and width)")
    p.add_argument("model", metavar="MODEL", help="model name or .safetensors file")
    p.add_argument("--format", choices=("onnx", "torchscript"), default="onnx", help="default onnx")
    p.add_argument("-o", "--output", required=True, help="file to write (.onnx, or .pt for TorchScript)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")


def run(args: argparse.Namespace) -> None:
    from ..export import export_model
    from ..fsutil import check_new_file
    from ..modelfile import load_model

    out = Path(args.output)
    check_new_file(out, args.overwrite)
    model = load_model(args.model)
    if getattr(model.net, "kind", None):
        raise PerceptaError(f"{args.model} is already an exported graph; export its .safetensors model")
    path = export_model(model, args.format, out)
    print(f"{path}  ({args.format}, {model.name}, dynamic height and width; {path.stat().st_size / 1e6:.1f} MB)")
