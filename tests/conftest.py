"""Shared fixtures: the real VGG-16 loss network and real photos from ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torchvision.transforms.functional as TF

from percepta.image import load_rgb, to_tensor
from percepta.lossnet import VGG16LossNetwork

DATA = Path(os.environ.get("PERCEPTA_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
PHOTOS = DATA / "photos"
STYLES = DATA / "styles"
CONTENT = DATA / "content"

if "OMP_NUM_THREADS" not in os.environ:
    torch.set_num_threads(min(2, os.cpu_count() or 1))


def photo(path: Path, size: int, square: bool = True) -> torch.Tensor:
    """A real photo as (1, 3, H, W) in [0, 1]: shorter side resized to ``size``, centre-cropped if square."""
    img = TF.resize(load_rgb(path), size, antialias=True)
    if square:
        img = TF.center_crop(img, size)
    return to_tensor(img)


@pytest.fixture(scope="session")
def lossnet() -> VGG16LossNetwork:
    """One loss network up to relu4_3 for the whole session (weights load once)."""
    return VGG16LossNetwork(["relu1_2", "relu2_2", "relu3_3", "relu4_3"])


@pytest.fixture(scope="session")
def chicago64() -> torch.Tensor:
    return photo(CONTENT / "chicago.jpg", 64)


@pytest.fixture(scope="session")
def wave64() -> torch.Tensor:
    return photo(STYLES / "wave.jpg", 64)
