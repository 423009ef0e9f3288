"""``percepta serve``: the API through FastAPI's test client (real bundled models, real photos), the bounded
pool, the limits (413 for bytes and pixels, 503 with Retry-After, 504), the webcam WebSocket (frames in,
stylised frames out, one stream per worker), and the real server from the CLI."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import threading
import time
import warnings
import zlib
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="percepta serve needs the serve extra: pip install -e '.[serve]'")

from percepta.image import center_square, decode_image, load_rgb
from percepta.infer import stylize
from percepta.serve.app import STATIC, ServeConfig, create_app
from percepta.serve.pool import DeadlinePassed, InferencePool, PoolFull
from percepta.upscaling import upscale

from .conftest import PHOTOS

with warnings.catch_warnings():  # Starlette suggests httpx2 over httpx for its test client; httpx still works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

#: small limits, so that the tests' images can go over them cheaply
LIMITS = ServeConfig(max_upload_bytes=300_000, max_pixels=1_000_000, max_side=64, max_output_pixels=300_000)


def encoded(image: Image.Image, fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def ladybird(size: int = 48) -> Image.Image:
    return center_square(load_rgb(PHOTOS / "mate_LadyBird.jpg"), size)


def error_of(response) -> str:  # an httpx.Response
    """The JSON error message of a non-200 answer, checked to be one line."""
    assert response.headers["content-type"] == "application/json", response.text
    message = response.json()["error"]
    assert message and "\n" not in message
    return message


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(LIMITS)) as c:  # the lifespan preloads every model
        yield c


def test_page_docs_health_and_models(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    for asset in ("app.js", "style.css", "docs.js"):
        assert client.get(f"/static/{asset}").status_code == 200
    for path in STATIC.rglob("*"):  # no CDN: nothing the page or the docs load comes from elsewhere
        if path.suffix in (".html", ".js", ".css"):
            assert "http://" not in path.read_text() and "https://" not in path.read_text(), path
    assert "docs.js" in client.get("/docs").text
    schema = client.get("/openapi.json").json()
    assert {"/api/stylize", "/api/upscale", "/api/models", "/healthz"} <= set(schema["paths"])
    stylize_doc = schema["paths"]["/api/stylize"]["post"]
    assert {"200", "400", "413", "503", "504"} <= set(stylize_doc["responses"]) and "422" not in stylize_doc[
        "responses"
    ]

    listing = client.get("/api/models").json()
    models = {m["name"]: m for m in listing["models"]}
    assert {"wave", "udnie", "starry_night", "the_scream", "sr_x4_feat", "sr_x8_feat"} <= set(models)
    assert models["sr_x8_feat"]["task"] == "sr" and models["sr_x8_feat"]["scale"] == 8
    assert all("path" not in m and m["loaded"] for m in models.values())
    assert listing["limits"]["max_side"] == 64 and listing["limits"]["max_upload_bytes"] == 300_000
    thumb = client.get(models["wave"]["thumbnail"])
    assert thumb.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 160  # the shipped painting, not the model's 96 px
    assert client.get("/api/models/sr_x4_feat/thumbnail").status_code == 404
    assert client.get("/api/models/nope/thumbnail").status_code == 404


def test_stylize_png_is_the_library_result(client: TestClient) -> None:
    photo = ladybird(48)
    data = encoded(photo)
    r = client.post("/api/stylize", files={"image": ("lady bird.jpg", data, "image/jpeg")}, data={"model": "wave"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert float(r.headers["x-processing-ms"]) >= 0 and "infer;dur=" in r.headers["server-timing"]
    assert 'filename="lady_bird_percepta.png"' in r.headers["content-disposition"]
    got = Image.open(io.BytesIO(r.content))
    expected = stylize(decode_image(data).rgb, "wave", max_size=64)  # by name: the graph the server loads
    assert got.size == (48, 48) == expected.size
    assert np.array_equal(np.asarray(got.convert("RGB")), np.asarray(expected))


def test_stylize_jpeg_with_options_and_the_size_limit(client: TestClient) -> None:
    data = encoded(ladybird(128))
    options = {"model": "udnie", "strength": "0.5", "preserve_color": "true", "format": "jpeg", "max_size": "32"}
    r = client.post("/api/stylize", files={"image": ("a.jpg", data, "image/jpeg")}, data=options)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
    assert Image.open(io.BytesIO(r.content)).size == (32, 32)
    assert r.headers["x-resized-from"] == "128x128"  # the page says "resized from 128x128 to 32x32"
    # a max_size over the server's max_side is held to it
    r = client.post(
        "/api/stylize", files={"image": ("a.jpg", data, "image/jpeg")}, data={"model": "wave", "max_size": "999"}
    )
    assert r.status_code == 200 and r.headers["x-image-size"] == "64x64" and r.headers["x-resized-from"] == "128x128"
    r = client.post("/api/stylize", files={"image": ("a.jpg", encoded(ladybird(40)), "image/jpeg")},
                    data={"model": "wave"})  # fmt: skip
    assert r.status_code == 200 and "x-resized-from" not in r.headers  # not resized: no header


def test_stylize_keeps_alpha_in_png(client: TestClient) -> None:
    rgba = ladybird(32).convert("RGBA")
    rgba.putalpha(Image.new("L", rgba.size, 128))
    r = client.post(
        "/api/stylize", files={"image": ("a.png", encoded(rgba, "PNG"), "image/png")}, data={"model": "wave"}
    )
    assert r.status_code == 200, r.text
    out = Image.open(io.BytesIO(r.content))
    assert out.mode == "RGBA" and out.getchannel("A").getextrema() == (128, 128)


def test_upscale(client: TestClient) -> None:
    small = ladybird(16)
    data = encoded(small, "PNG")
    r = client.post("/api/upscale", files={"image": ("s.png", data, "image/png")})
    assert r.status_code == 200, r.text
    got = Image.open(io.BytesIO(r.content))
    assert got.size == (64, 64)
    # by name, as the server loads it: a loaded PyTorch network exported on the fly is another graph, whose
    # sums round 1 level apart in a pixel on some CPUs (seen on an AMD EPYC with AVX-512)
    assert np.array_equal(np.asarray(got), np.asarray(upscale(small, "sr_x4_feat")))
    r = client.post("/api/upscale", files={"image": ("s.png", data, "image/png")},
                    data={"scale": "8", "max_size": "12", "match_histogram": "true", "format": "jpeg"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg" and Image.open(io.BytesIO(r.content)).size == (96, 96)
    assert r.headers["x-resized-from"] == "16x16"  # shrunk to 12 px before x8
    r = client.post("/api/upscale", files={"image": ("s.png", data, "image/png")}, data={"model": "sr_x4_pixel"})
    assert r.status_code == 200 and r.headers["x-image-size"] == "64x64" and "x-resized-from" not in r.headers

    def refused(status: int, **fields: str) -> str:
        r = client.post("/api/upscale", files={"image": ("s.png", data, "image/png")}, data=fields)
        assert r.status_code == status, r.text
        return error_of(r)

    assert "4 or 8" in refused(400, scale="3")
    assert "x4, not x8" in refused(400, scale="8", model="sr_x4_pixel")
    assert "not a super-resolution model" in refused(400, model="wave")
    assert "no model named" in refused(404, model="sr_x16")
    # 100x100 x8 = 640,000 output pixels, over the 300,000 limit: refused from the header, with a way out
    big = encoded(ladybird(100), "PNG")
    r = client.post("/api/upscale", files={"image": ("b.png", big, "image/png")}, data={"scale": "8"})
    assert r.status_code == 413 and "max_size 68 or less" in error_of(r)


def test_bad_uploads_and_options_are_400_or_404(client: TestClient) -> None:
    good = encoded(ladybird(128))
    header_only = encoded(Image.new("RGB", (40, 30)), "PNG")[:60]

    def post(data: bytes, **fields: str) -> tuple[int, str]:
        r = client.post("/api/stylize", files={"image": ("upload.jpg", data, "image/jpeg")}, data=fields)
        return r.status_code, error_of(r)

    assert post(b"", model="wave") == (400, "upload.jpg: file is empty (0 bytes)")
    assert post(b"just some text", model="wave")[1].endswith("not a recognised image file (supported: JPEG, PNG, "
                                                            "WebP, BMP, TIFF, GIF)")  # fmt: skip
    assert "truncated" in post(good[: len(good) // 2], model="wave")[1]
    assert post(good[:300], model="wave")[0] == 400  # cut inside the JPEG header
    assert "truncated" in post(header_only, model="wave")[1]  # header fine, pixels missing: caught by the worker
    assert post(good, model="nope") == (404, "no model named 'nope'; GET /api/models lists them")
    assert post(good, model="../models/wave.safetensors")[0] == 404  # names only, never paths
    assert post(good, model="sr_x4_feat") == (400, "sr_x4_feat is a super-resolution model, not a style model")
    for field, value in [("strength", "1.5"), ("strength", "nan"), ("max_size", "0"), ("format", "gif")]:
        status, message = post(good, model="wave", **{field: value})
        assert status == 400 and message.startswith(f"{field}: "), message
    r = client.post("/api/stylize", data={"model": "wave"})
    assert r.status_code == 400 and error_of(r) == "image: Field required"
    r = client.get("/api/stylize")
    assert r.status_code == 405 and error_of(r)


def _multipart(data_chunks: Iterator[bytes], boundary: str = "percepta-test") -> Iterator[bytes]:
    yield (f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwave\r\n--{boundary}\r\n'
           'Content-Disposition: form-data; name="image"; filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
           ).encode()  # fmt: skip
    yield from data_chunks
    yield f"\r\n--{boundary}--\r\n".encode()


def test_too_many_bytes_is_413(client: TestClient) -> None:
    junk = b"\xff" * 400_000
    r = client.post("/api/stylize", files={"image": ("big.jpg", junk, "image/jpeg")}, data={"model": "wave"})
    assert r.status_code == 413 and "upload too large" in error_of(r)
    # no Content-Length (chunked): counted as it arrives, refused once over the limit
    chunks = _multipart(iter([b"\xff" * 50_000] * 8))
    r = client.post(
        "/api/stylize", content=chunks, headers={"content-type": "multipart/form-data; boundary=percepta-test"}
    )
    assert r.status_code == 413 and "upload too large" in error_of(r)
    # and the same way of sending, under the limit, works
    small = _multipart(iter([encoded(ladybird(32))]))
    r = client.post(
        "/api/stylize", content=small, headers={"content-type": "multipart/form-data; boundary=percepta-test"}
    )
    assert r.status_code == 200, r.text


def _png_claiming(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header says ``width`` x ``height``: a decompression bomb's first bytes, no pixels."""
    data = bytearray(encoded(Image.new("RGB", (1, 1)), "PNG"))
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(data)


def test_too_many_pixels_is_413_from_the_header(client: TestClient) -> None:
    flat = encoded(Image.new("RGB", (2000, 1000)), "PNG")  # 2 MP in about 6 kB
    assert len(flat) < LIMITS.max_upload_bytes
    r = client.post("/api/stylize", files={"image": ("flat.png", flat, "image/png")}, data={"model": "wave"})
    assert r.status_code == 413
    assert error_of(r) == "flat.png: image is 2000x1000 = 2000000 pixels, over the limit of 1000000 pixels"
    for width, height in [(1100, 1000), (60_000, 60_000)]:  # ours, and over Pillow's own bomb guard
        r = client.post("/api/stylize", files={"image": ("b.png", _png_claiming(width, height), "image/png")},
                        data={"model": "wave"})  # fmt: skip
        assert r.status_code == 413 and ("too large" in error_of(r) or "over the limit" in error_of(r))


def _frame_reply(ws) -> bytes | dict:  # a starlette WebSocketTestSession
    """The answer to one frame: the stylised JPEG's bytes, or the JSON message of a frame not stylised
    (``side`` messages, which the server may send between frames, are skipped)."""
    while True:
        message = ws.receive()
        if message.get("bytes") is not None:
            return message["bytes"]
        reply = json.loads(message["text"])
        if reply.get("frame"):
            return reply
        assert reply["type"] == "side", reply


def test_webcam_stream_stylises_frames_at_the_size_the_server_chooses(client: TestClient) -> None:
    from percepta.image import encode_image
    from percepta.serve.webcam import FRAME_QUALITY, WEBCAM_SIDE

    photo = load_rgb(PHOTOS / "mate_Garden.jpg")
    with client.websocket_connect("/ws/webcam?model=wave-fast") as ws:
        ready = ws.receive_json()
        assert ready["type"] == "ready" and ready["model"] == "wave-fast" and ready["side"] == WEBCAM_SIDE == 320
        for size, expected in [((640, 480), (320, 240)), ((64, 48), (64, 48)), ((48, 64), (48, 64))]:
            frame = photo.resize(size)
            ws.send_bytes(encoded(frame))
            reply = _frame_reply(ws)
            assert isinstance(reply, bytes) and reply[:2] == b"\xff\xd8", reply  # a JPEG
            assert Image.open(io.BytesIO(reply)).size == expected  # shrunk to the side, never enlarged
        small = photo.resize((64, 48))
        expected = stylize(decode_image(encoded(small)).rgb, "wave-fast")
        ws.send_bytes(encoded(small))
        assert _frame_reply(ws) == encode_image(expected, None, "JPEG", FRAME_QUALITY)  # the model's, as JPEG
        # a bad frame is answered and the stream goes on
        ws.send_bytes(b"not a frame")
        reply = _frame_reply(ws)
        assert reply["type"] == "error" and "not a recognised image file" in reply["error"]
        # options change mid-stream; a bad one is refused in one line and the old ones stay
        ws.send_text(json.dumps({"model": "udnie", "strength": 0.5, "side": 32}))
        changed = ws.receive_json()
        assert (changed["type"], changed["model"], changed["strength"], changed["side"]) == ("ready", "udnie", 0.5, 32)
        for bad, message in [({"model": "nope"}, "no model named 'nope'"), ({"strength": 2}, "strength: must be"),
                             ({"model": "sr_x4_feat"}, "not a style model"), ({"colour": 1}, "unknown option"),
                             ("[1]", "bad options message")]:  # fmt: skip
            ws.send_text(bad if isinstance(bad, str) else json.dumps(bad))
            reply = ws.receive_json()
            assert reply["type"] == "error" and message in reply["error"] and "frame" not in reply, reply
        ws.send_bytes(encoded(photo.resize((64, 48))))
        assert Image.open(io.BytesIO(_frame_reply(ws))).size == (32, 24)


def test_webcam_streams_are_bounded_by_the_workers(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    from percepta.serve.webcam import POLICY_VIOLATION

    with client.websocket_connect("/ws/webcam?model=wave-fast") as first:
        assert first.receive_json()["type"] == "ready"
        with client.websocket_connect("/ws/webcam?model=wave-fast") as second:  # LIMITS has one worker
            refusal = second.receive_json()
            assert refusal["type"] == "error" and "1 webcam stream at once" in refusal["error"], refusal
            assert "in use" in refusal["error"]
            with pytest.raises(WebSocketDisconnect) as closed:
                second.receive_json()
            assert closed.value.code == POLICY_VIOLATION == 1008
        first.send_bytes(encoded(ladybird(32)))  # the first stream is unaffected
        assert isinstance(_frame_reply(first), bytes)
    with client.websocket_connect("/ws/webcam?model=wave-fast") as again:  # its slot is free again
        assert again.receive_json()["type"] == "ready"
    for query, message in [("model=nope", "no model named"), ("model=wave&strength=x", "strength: not a number"),
                           ("model=wave&side=5000", "side: must be between")]:  # fmt: skip
        with client.websocket_connect(f"/ws/webcam?{query}") as ws:
            reply = ws.receive_json()
            assert reply["type"] == "error" and message in reply["error"], reply
            with pytest.raises(WebSocketDisconnect):
                ws.receive_json()


def test_webcam_side_follows_the_frame_time() -> None:
    from percepta.serve.webcam import MIN_SIDE, SideControl

    control = SideControl(320, budget=0.05)
    changes = [control.update(0.2) for _ in range(5)]
    assert changes == [False] * 4 + [True] and control.side == 256  # too slow: a fifth smaller
    for _ in range(40):
        control.update(0.2)
    assert control.side == MIN_SIDE  # never below the floor
    for _ in range(60):
        control.update(0.001)
    assert control.side == 320  # quick again: back up to the cap, never above it


def _wait_idle(pool: InferencePool) -> None:
    deadline = time.monotonic() + 10
    while pool.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.in_flight == 0


def test_full_pool_is_503_with_retry_after() -> None:
    app = create_app(ServeConfig(workers=1, queue=0, preload=False))
    pool: InferencePool = app.state.pool
    data = encoded(ladybird(32))
    with TestClient(app) as c:
        gate = threading.Event()
        pool.submit(gate.wait, 10)  # the one worker is busy
        try:
            r = c.post("/api/stylize", files={"image": ("a.jpg", data, "image/jpeg")}, data={"model": "wave"})
            assert r.status_code == 503 and "busy" in error_of(r)
            assert int(r.headers["retry-after"]) >= 1
            assert c.get("/healthz").json()["busy"] == 1  # health checks are answered while busy
        finally:
            gate.set()
        _wait_idle(pool)
        r = c.post("/api/stylize", files={"image": ("a.jpg", data, "image/jpeg")}, data={"model": "wave"})
        assert r.status_code == 200, r.text


def test_timeout_is_504_and_the_waiting_job_is_dropped() -> None:
    app = create_app(ServeConfig(workers=1, queue=1, timeout=0.4, preload=False))
    pool: InferencePool = app.state.pool
    data = encoded(ladybird(32))
    with TestClient(app) as c:
        gate = threading.Event()
        pool.submit(gate.wait, 10)
        try:
            start = time.monotonic()
            r = c.post("/api/stylize", files={"image": ("a.jpg", data, "image/jpeg")}, data={"model": "wave"})
            assert r.status_code == 504 and "0.4 s" in error_of(r)
            assert 0.3 < time.monotonic() - start < 5
        finally:
            gate.set()
        _wait_idle(pool)
        assert pool.completed == 1  # the blocker ran; the timed-out request's job never did


def test_pool_bounds_and_deadlines() -> None:
    pool = InferencePool(workers=1, queue=1)
    gate = threading.Event()
    try:
        running = pool.submit(gate.wait, 10)
        waiting = pool.submit(lambda: 42)
        with pytest.raises(PoolFull) as info:
            pool.submit(lambda: 0)
        assert info.value.retry_after >= 1 and pool.in_flight == pool.capacity == 2
        assert waiting.cancel() and pool.in_flight == 1  # a cancelled waiting job frees its slot
        late = pool.submit(lambda: 0, deadline=time.monotonic() - 1)
    finally:
        gate.set()
    assert running.result(10) is True
    with pytest.raises(DeadlinePassed):
        late.result(10)
    _wait_idle(pool)
    with pytest.raises(ValueError):
        InferencePool(workers=0, queue=1)
    pool.shutdown()


def test_cli_serve_is_lazy_and_checks_its_flags() -> None:
    code = (
        "import sys; from percepta.cli import build_parser; build_parser().parse_args(['serve']); print(*sys.modules)"
    )
    modules = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "fastapi" not in modules and "torch" not in modules
    from percepta.cli import build_parser, main

    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.workers, args.queue, args.timeout) == ("127.0.0.1", 8000, 1, 8, 120.0)
    assert main(["serve", "--port", "70000"]) == 1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--workers", "0"])


def test_the_real_server_from_the_command_line() -> None:
    httpx = pytest.importorskip("httpx")
    from percepta.serve.launch import running_server

    with running_server("--max-upload-mb", "0.5", "--queue", "2", "--timeout", "30s") as server:
        assert server.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=server.url, timeout=30) as http:
            health = http.get("/healthz").json()
            assert health["capacity"] == 3
            r = http.post("/api/stylize", files={"image": ("a.jpg", encoded(ladybird(40)), "image/jpeg")},
                          data={"model": "the_scream"})  # fmt: skip
            assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (40, 40)
            r = http.post("/api/stylize", files={"image": ("big.jpg", b"\0" * 600_000, "image/jpeg")},
                          data={"model": "wave"})  # fmt: skip
            assert r.status_code == 413 and json.loads(r.text)["error"].startswith("upload too large")
            assert http.get("/healthz").status_code == 200
        assert "Uvicorn running on http://127.0.0.1" in server.log()
