"""The light install: inference on ONNX Runtime with no torch imported (run by ``make test`` in a virtualenv
without torch, and in the full one). Everything here runs the real bundled models on small real photos."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

DATA = Path(__file__).resolve().parents[1] / "data"
PHOTO = DATA / "photos" / "lomiri_Bridge_by_Sander_Klootwijk.jpg"
HAS_TORCH = find_spec("torch") is not None

#: runs percepta's CLI on several inference commands in one process, then reports what it imported
PROBE = """
import json, sys
from percepta.cli import main
codes = [main(args) for args in json.loads(sys.argv[1])]
heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'torchvision', 'skimage', 'matplotlib', 'onnx'})
print(json.dumps({"codes": codes, "heavy": heavy}))
"""


def _probe(commands: list[list[str]]) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(commands)], capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def _small(tmp_path: Path, side: int = 96) -> Path:
    path = tmp_path / "photo.png"
    img = Image.open(PHOTO).convert("RGB")
    img.thumbnail((side, side))
    img.save(path)
    return path


def test_inference_commands_import_no_torch(tmp_path) -> None:
    photo = _small(tmp_path)
    out = tmp_path / "out"
    commands = [
        ["stylize", str(photo), "-m", "wave-fast", "-o", str(out / "a.png")],
        ["stylize", str(photo), "-m", "wave-fast:0.5,udnie-fast:0.5", "--preserve-color", "--strength", "0.8",
         "-o", str(out / "b.png")],
        ["stylize", str(photo), "-m", "udnie-fast", "--tile", "64", "-o", str(out / "c.png")],
        ["upscale", str(photo), "-o", str(out / "d.png"), "--match-histogram"],
        ["sheet", str(photo), "-m", "wave-fast", "udnie-fast", "-o", str(out / "e.png")],
        ["models"],
    ]  # fmt: skip
    result = _probe(commands)
    assert result["codes"] == [0] * len(commands)
    assert result["heavy"] == []
    w, h = Image.open(photo).size
    for name, size in [("a", (w, h)), ("b", (w, h)), ("c", (w, h)), ("d", (4 * w, 4 * h))]:
        with Image.open(out / f"{name}.png") as img:
            assert img.size == size, name


def test_info_says_what_this_install_has(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "percepta", "info"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "onnxruntime" in done.stdout and "CPUExecutionProvider" in done.stdout and "models:" in done.stdout
    if not HAS_TORCH:
        assert "torch not installed" in done.stdout and "percepta[train]" in done.stdout


def test_stylised_photo_is_the_painting_not_the_photo(tmp_path) -> None:
    import percepta

    photo = Image.open(PHOTO).convert("RGB").resize((120, 80))
    styled = percepta.stylize(photo, "wave-fast")
    assert isinstance(styled, Image.Image) and styled.size == photo.size
    a, b = np.asarray(photo, np.float32), np.asarray(styled, np.float32)
    assert np.abs(a - b).mean() > 10  # restyled, not a copy
    arr = percepta.stylize(a.transpose(2, 0, 1) / 255.0, "wave-fast")  # arrays in, arrays out
    assert arr.shape == (3, 80, 120) and arr.dtype == np.float32
    assert np.abs(arr * 255 - np.asarray(styled, np.float32).transpose(2, 0, 1)).max() <= 1.0


def test_tiles_share_the_whole_images_statistics() -> None:
    import percepta

    x = np.asarray(Image.open(PHOTO).convert("RGB").resize((200, 136)), np.float32).transpose(2, 0, 1) / 255.0
    whole = percepta.stylize(x, "wave-fast", tile=0)
    tiled = percepta.stylize(x, "wave-fast", tile=96)
    assert tiled.shape == whole.shape
    assert np.abs(tiled - whole).mean() < 0.02


def test_torch_commands_name_the_extra_they_need(tmp_path) -> None:
    if HAS_TORCH:
        pytest.skip("torch is installed here: the light virtualenv runs this test")
    done = subprocess.run([sys.executable, "-m", "percepta", "train", "style", "--style", str(PHOTO), "--data",
                           str(DATA / "photos"), "-o", str(tmp_path / "m.safetensors")], capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "percepta[train]" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    done = subprocess.run([sys.executable, "-m", "percepta", "stylize", str(PHOTO), "-m", "wave-fast", "--backend",
                           "eager", "-o", str(tmp_path / "x.png")], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 1 and "percepta[train]" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.skipif(find_spec("av") is None, reason="needs PyAV (percepta[video])")
def test_video_runs_in_the_light_install(tmp_path) -> None:
    import av

    src = tmp_path / "clip.mp4"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        base = np.asarray(Image.open(PHOTO).convert("RGB").resize((64, 48)))
        for i in range(6):
            frame = av.VideoFrame.from_ndarray(np.roll(base, i, axis=1).copy(), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    result = _probe([["stylize", str(src), "-m", "wave-fast", "-o", str(tmp_path / "styled.mp4")]])
    assert result == {"codes": [0], "heavy": []}
    with av.open(str(tmp_path / "styled.mp4")) as clip:
        assert sum(1 for _ in clip.decode(video=0)) == 6


@pytest.mark.skipif(find_spec("fastapi") is None or find_spec("httpx") is None, reason="needs percepta[serve]")
def test_server_stylises_in_the_light_install(tmp_path) -> None:
    import io

    from fastapi.testclient import TestClient

    from percepta.serve.app import ServeConfig, create_app

    buffer = io.BytesIO()
    Image.open(PHOTO).convert("RGB").resize((80, 60)).save(buffer, "PNG")
    with TestClient(create_app(ServeConfig(workers=1))) as client:
        reply = client.post("/api/stylize", files={"image": ("p.png", buffer.getvalue(), "image/png")},
                            data={"model": "wave-fast"})  # fmt: skip
        with client.websocket_connect("/ws/webcam?model=wave-fast") as ws:  # the page's webcam, no torch either
            assert ws.receive_json()["type"] == "ready"
            ws.send_bytes(buffer.getvalue())
            frame = ws.receive_bytes()
    assert reply.status_code == 200, reply.text
    assert Image.open(io.BytesIO(reply.content)).size == (80, 60)
    assert Image.open(io.BytesIO(frame)).size == (80, 60) and frame[:2] == b"\xff\xd8"


@pytest.mark.skipif(HAS_TORCH, reason="the light install's answer: PyTorch is installed here")
@pytest.mark.skipif(find_spec("fastapi") is None or find_spec("httpx") is None, reason="needs percepta[serve]")
def test_server_says_training_needs_the_full_install() -> None:
    """Training from the page needs PyTorch: the light install's server says so in one line, and which extra."""
    import io

    from fastapi.testclient import TestClient

    from percepta.serve.app import ServeConfig, create_app

    buffer = io.BytesIO()
    Image.open(PHOTO).convert("RGB").resize((80, 60)).save(buffer, "PNG")
    with TestClient(create_app(ServeConfig(preload=False))) as client:
        info = client.get("/api/train").json()
        reply = client.post("/api/train", files={"image": ("p.png", buffer.getvalue(), "image/png")},
                            data={"name": "mine"})  # fmt: skip
        limits = client.get("/api/models").json()["limits"]
    assert info["enabled"] and not info["available"] and "percepta[train]" in info["reason"]
    assert reply.status_code == 501 and "pip install 'percepta[train]'" in reply.json()["error"]
    assert "\n" not in reply.json()["error"] and limits["train"] is False
