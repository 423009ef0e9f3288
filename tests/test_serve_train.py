"""Training from the web page (issue 24, item 5): ``POST /api/train`` really trains the quick recipe in a child
process (the shipped base model and photos, a budget of under a second: one iteration), the server installs the
model by name into a temporary user models folder, ``GET /api/models`` lists it and ``POST /api/stylize`` uses it;
one job at a time (409); bad names, uploads and minutes get 400 or 413 with one line of JSON; cancelling and the
server's shutdown stop the child, which runs at a lower priority with one thread; without PyTorch (or with
``--no-train``) the routes answer 501 and say why."""

from __future__ import annotations

import io
import math
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="percepta serve needs the serve extra: pip install -e '.[serve]'")

from percepta.modelfile import BUNDLED_DIR, cache_dir, install_model, user_models_dir
from percepta.serve.app import ServeConfig, create_app

from .test_serve import encoded, error_of, ladybird

with warnings.catch_warnings():  # Starlette suggests httpx2 over httpx for its test client; httpx still works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PAINTING = Path(__file__).resolve().parents[1] / "src" / "percepta" / "examples" / "hokusai_great_wave.jpg"
#: the painting small (the quick recipe looks at it at 256 px anyway): a cheap upload
SMALL = encoded(Image.open(PAINTING).convert("RGB").resize((320, 220)))
#: a time budget that ends the run after its first iteration (0.6 s)
TINY = "0.01"


@pytest.fixture
def user_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh user models folder (platformdirs follows XDG_DATA_HOME) and no $PERCEPTA_MODELS."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("PERCEPTA_MODELS", raising=False)
    assert user_models_dir().is_relative_to(tmp_path)
    return user_models_dir()


def _client(**settings) -> TestClient:
    return TestClient(create_app(ServeConfig(preload=False, **settings)))


def _start(client: TestClient, name: str, minutes: str | None = TINY, data: bytes = SMALL, filename: str = "p.jpg",
           **fields: str):  # fmt: skip
    form = {"name": name, **({"minutes": minutes} if minutes is not None else {}), **fields}
    return client.post("/api/train", files={"image": (filename, data, "image/jpeg")}, data=form)


def _wait(client: TestClient, job_id: str, until: tuple[str, ...] = ("done", "failed", "cancelled")) -> dict:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job = client.get(f"/api/train/{job_id}").json()
        if job["state"] in until:
            return job
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} still {job['state']} ({job['phase']})")


def _leftovers() -> list[Path]:
    return sorted((cache_dir() / "serve-train").glob("*"))


@pytest.fixture
def client(user_models: Path) -> Iterator[TestClient]:
    with _client(max_upload_bytes=300_000, max_pixels=1_000_000) as c:
        yield c


def test_a_job_trains_installs_and_the_model_stylises(client: TestClient, user_models: Path) -> None:
    r = _start(client, "my_wave")
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/api/train/{job['id']}"
    assert job["name"] == "my_wave" and job["state"] in ("queued", "running") and job["budget_seconds"] == 0.6
    busy = _start(client, "another")  # one job at a time
    assert busy.status_code == 409 and "one at a time" in error_of(busy) and int(busy.headers["retry-after"]) >= 1
    assert client.get("/api/train").json()["job"]["id"] == job["id"]

    done = _wait(client, job["id"])
    assert done["state"] == "done", done
    assert done["model"] == "my_wave" and done["iteration"] >= 1 and done["iterations"] == 5000
    assert done["progress"] == 1.0 and done["eta_seconds"] == 0 and done["error"] is None
    numbers = done["numbers"]
    assert (numbers["photo"], numbers["size"]) == ("picos_de_europa.jpg", 384)
    for key in ("content_loss", "style_ratio", "change", "motif_scale"):
        assert math.isfinite(numbers[key]) and numbers[key] > 0, numbers
    preview = Image.open(io.BytesIO(client.get(done["preview"]).content))
    assert preview.format == "JPEG" and preview.width > 2 * preview.height  # painting | photo | result
    assert (user_models / "my_wave.safetensors").is_file() and _leftovers() == []

    listed = {m["name"]: m for m in client.get("/api/models").json()["models"]}
    assert listed["my_wave"]["task"] == "style" and listed["my_wave"]["style_image"] == "p.png"
    assert client.get(listed["my_wave"]["thumbnail"]).headers["content-type"] == "image/jpeg"
    r = client.post("/api/stylize", files={"image": ("a.jpg", encoded(ladybird(48)), "image/jpeg")},
                    data={"model": "my_wave"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size == (48, 48)
    # the name is taken now: refused unless the client asks to replace it
    assert "installed already" in error_of(_start(client, "my_wave"))


def test_cancel_and_shutdown_stop_the_child(user_models: Path) -> None:
    install_model(BUNDLED_DIR / "wave-fast.safetensors", name="mine")
    before = (user_models / "mine.safetensors").read_bytes()
    with _client() as client:
        r = _start(client, "mine", minutes="5", replace="true")  # replacing a user model, when asked: accepted
        assert r.status_code == 202, r.text
        job = _wait(client, r.json()["id"], until=("running", "done", "failed"))  # the child has lowered its priority
        process = client.app.state.training.job.process
        assert os.getpriority(os.PRIO_PROCESS, process.pid) >= min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
        if Path(f"/proc/{process.pid}/environ").exists():
            assert b"OMP_NUM_THREADS=1\0" in Path(f"/proc/{process.pid}/environ").read_bytes()
        cancelled = client.delete(f"/api/train/{job['id']}")
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled", cancelled.text
        assert process.poll() is not None and _leftovers() == []
        assert (user_models / "mine.safetensors").read_bytes() == before  # nothing installed
        again = client.delete(f"/api/train/{job['id']}")
        assert again.status_code == 409 and "cancelled already" in error_of(again)
        assert client.get(f"/api/train/{job['id']}/preview").status_code == 404

        r = _start(client, "other", minutes="5")  # the slot is free again
        assert r.status_code == 202, r.text
        process = client.app.state.training.job.process
    assert process.poll() is not None  # the server's shutdown stopped it
    assert client.app.state.training.job.state == "cancelled" and _leftovers() == []
    assert not (user_models / "other.safetensors").exists()


def test_bad_names_uploads_and_minutes_are_400_or_413(
    client: TestClient, user_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_model(BUNDLED_DIR / "wave-fast.safetensors", name="mine")

    def refused(*args, **fields) -> tuple[int, str]:
        r = _start(client, *args, **fields)
        return r.status_code, error_of(r)

    for name in ("../evil", "with space", ".hidden", "a" * 65, "dots.in.it", "-dash"):
        status, message = refused(name)
        assert status == 400 and message.startswith("name must be 1 to 64 letters"), message
    assert refused("")[0] == 400
    assert refused("wave") == (400, "wave is the name of a bundled model; choose another name")
    assert refused("wave", replace="true")[0] == 400  # never a bundled one
    assert "installed already" in refused("mine")[1] and "replace=true" in refused("mine")[1]
    models = tmp_path / "elsewhere"
    models.mkdir()
    install_model(BUNDLED_DIR / "udnie-fast.safetensors", name="shared")
    os.replace(user_models / "shared.safetensors", models / "shared.safetensors")
    monkeypatch.setenv("PERCEPTA_MODELS", str(models))
    assert "PERCEPTA_MODELS" in refused("shared", replace="true")[1]

    for minutes in ("0", "-1", "nan", "inf", "31", "1e9"):
        status, message = refused("ok", minutes=minutes)
        assert status == 400 and message.startswith("minutes must be"), (minutes, message)
    assert refused("ok", minutes="soon")[0] == 400

    good = encoded(ladybird(128))
    assert refused("ok", data=b"") == (400, "p.jpg: file is empty (0 bytes)")
    assert "not a recognised image file" in refused("ok", data=b"a painting, honestly")[1]
    assert "truncated" in refused("ok", data=good[: len(good) // 2])[1]  # the header fine, the pixels cut off
    huge = encoded(Image.new("RGB", (1200, 1000)), "PNG")  # over the 1 MP limit, a small file
    status, message = refused("ok", data=huge, filename="big.png")
    assert status == 413 and "over the limit of 1000000 pixels" in message
    assert refused("ok", data=b"\xff" * 400_000)[0] == 413  # over the byte limit
    r = client.post("/api/train", data={"name": "ok"})
    assert r.status_code == 400 and error_of(r) == "image: Field required"

    for method, path in (("get", "/api/train/nope"), ("delete", "/api/train/nope"), ("get", "/api/train/x/preview")):
        r = getattr(client, method)(path)
        assert r.status_code == 404 and "no training job" in error_of(r)
    assert client.get("/api/train").json()["job"] is None and _leftovers() == []  # nothing was started
    schema = client.get("/openapi.json").json()
    assert {"/api/train", "/api/train/{job_id}", "/api/train/{job_id}/preview"} <= set(schema["paths"])
    assert "422" not in schema["paths"]["/api/train"]["post"]["responses"]


def test_without_pytorch_or_turned_off_the_routes_say_why(user_models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from percepta.serve.training import DEFAULT_MINUTES
    from percepta.train.recipes import recipe

    assert recipe("quick").minutes == DEFAULT_MINUTES
    with _client(train_minutes_max=5) as client:
        info = client.get("/api/train").json()
        assert info == {"enabled": True, "available": True, "reason": None, "minutes_max": 5.0,
                        "minutes_default": 5.0, "job": None}  # fmt: skip
        assert client.get("/api/models").json()["limits"]["train"] is True

    with monkeypatch.context() as patched:
        patched.setitem(sys.modules, "torch", None)  # as in the light install: no torch to import
        with _client() as client:
            info = client.get("/api/train").json()
            assert info["enabled"] and not info["available"] and "pip install 'percepta[train]'" in info["reason"]
            assert client.get("/api/models").json()["limits"]["train"] is False
            r = _start(client, "mine")
            assert r.status_code == 501 and "training needs PyTorch" in error_of(r) and "percepta[train]" in r.text

    with _client(train=False) as client:
        assert client.get("/api/train").json()["enabled"] is False
        r = _start(client, "mine")
        off = "training is turned off on this server (percepta serve --no-train)"
        assert r.status_code == 501 and error_of(r) == off


def test_cli_training_flags() -> None:
    from percepta.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert (args.train, args.train_minutes_max, args.train_threads) == (True, 30.0, 1)
    args = build_parser().parse_args(["serve", "--no-train", "--train-minutes-max", "5", "--train-threads", "2"])
    assert (args.train, args.train_minutes_max, args.train_threads) == (False, 5.0, 2)
    for bad in (["--train-minutes-max", "0"], ["--train-threads", "0"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["serve", *bad])
    with pytest.raises(ValueError, match="train_minutes_max"):
        ServeConfig(train_minutes_max=float("inf"))
