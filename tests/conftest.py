"""Shared fixtures: the real VGG-16 loss network and small real images shipped in tests/data.

The suite needs nothing outside the repository. ``SHARED`` (``../shared/data``, or ``$PERCEPTA_TEST_DATA``)
is only for optional checks marked ``shared``, which skip cleanly where it is missing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from percepta.image import center_square, load_rgb, resize_short_side, to_tensor
from percepta.lossnet import VGG16LossNetwork

DATA = Path(__file__).resolve().parent / "data"
PHOTOS = DATA / "photos"
STYLES = DATA / "styles"
SR_CROPS = DATA / "sr"
#: a city photo and a landscape, standing in for the paper authors' demo photos
CITY = PHOTOS / "lomiri_Bridge_by_Sander_Klootwijk.jpg"
LANDSCAPE = PHOTOS / "lomiri_life_by_Aitzol_Berasategi.jpg"
SHARED = Path(os.environ.get("PERCEPTA_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

# exported ONNX graphs (the CPU backend's cache) go to a fresh folder per test run, not the user's cache,
# removed when the run ends (pytest_sessionfinish)
_OWN_CACHE = None if "PERCEPTA_CACHE" in os.environ else tempfile.mkdtemp(prefix="percepta-test-cache-")
os.environ.setdefault("PERCEPTA_CACHE", _OWN_CACHE or "")
if "OMP_NUM_THREADS" not in os.environ:
    torch.set_num_threads(min(2, os.cpu_count() or 1))


def photo(path: Path, size: int, square: bool = True) -> torch.Tensor:
    """A real photo as (1, 3, H, W) in [0, 1]: shorter side resized to ``size``, centre-cropped if square."""
    img = load_rgb(path)
    return to_tensor(center_square(img, size) if square else resize_short_side(img, size))


def needs_shared(path: Path) -> Path:
    """``path`` under ``SHARED``, or skip the test where the shared data is not beside this clone."""
    if not path.exists():
        pytest.skip(f"needs {path} (the project's shared data, not part of a clone)")
    return path


@pytest.fixture(scope="session")
def lossnet() -> VGG16LossNetwork:
    """One loss network up to relu4_3 for the whole session (weights load once)."""
    return VGG16LossNetwork(["relu1_2", "relu2_2", "relu3_3", "relu4_3"])


@pytest.fixture(scope="session")
def content64() -> torch.Tensor:
    return photo(PHOTOS / "mate_LadyBird.jpg", 64)


@pytest.fixture(scope="session")
def wave64() -> torch.Tensor:
    return photo(STYLES / "wave.jpg", 64)


def pytest_sessionfinish(session, exitstatus) -> None:
    """The suite cleans up after itself: the graph cache it made (tens of MB a run) goes with it."""
    if _OWN_CACHE:
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)
