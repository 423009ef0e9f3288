"""``percepta fetch-weights``: torchvision's VGG-16 weights (needs internet; PyTorch)."""

from __future__ import annotations

import argparse

NAME = "fetch-weights"
TORCH = True


def add_parser(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("fetch-weights", help="download torchvision's VGG-16 IMAGENET1K_FEATURES (needs internet)")


def run(args: argparse.Namespace) -> None:
    from ..lossnet import fetch_torchvision_weights

    print(fetch_torchvision_weights())
