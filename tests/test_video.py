"""Video: frame rate, duration, rotation and sound kept (the audio copied, not re-encoded), and the
temporal option lowering flicker, on small clips made here."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

from percepta.cli import main
from percepta.video import flicker

FPS, FRAMES, W, H = 10, 10, 48, 32


def make_clip(path: Path, noise: float = 0.0, audio: bool = True, rotation: int = 90, video: bool = True,
              frames: int = FRAMES) -> Path:  # fmt: skip
    """A small H.264 clip (a drifting gradient, optional sensor noise) with a 440 Hz AAC track."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        if video:
            v = out.add_stream("libx264", rate=FPS)
            v.width, v.height, v.pix_fmt = W, H, "yuv420p"
            v.options = {"crf": "10"}
            v.set_display_rotation(rotation)
        a = out.add_stream("aac", rate=16000) if audio else None
        if a is not None:
            a.layout = "mono"
        yy, xx = np.mgrid[0:H, 0:W]
        for i in range(frames if video else 0):
            img = np.stack([(xx * 5 + i) % 256, yy * 7, np.full_like(xx, 120)], -1).astype(float)
            img = np.clip(img + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)
            for packet in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        if video:
            for packet in v.encode():
                out.mux(packet)
        if a is not None:
            samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000 * frames // FPS) / 16000)).astype(np.float32)
            for start in range(0, len(samples), 1024):
                frame = av.AudioFrame.from_ndarray(samples[None, start : start + 1024].copy(), format="fltp",
                                                   layout="mono")  # fmt: skip
                frame.sample_rate, frame.pts = 16000, start
                for packet in a.encode(frame):
                    out.mux(packet)
            for packet in a.encode():
                out.mux(packet)
    return path


def probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [torch.from_numpy(f.to_ndarray(format="rgb24")).permute(2, 0, 1).float() / 255 for f in c.decode(v)]
    with av.open(str(path)) as c:
        first_rotation = next(c.decode(video=0)).rotation
        audio = [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size] if c.streams.audio else []
        return {"frames": frames, "fps": float(c.streams.video[0].average_rate), "duration": c.duration / 1e6,
                "rotation": first_rotation, "audio": audio}  # fmt: skip


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("video") / "clip.mp4")


def test_stylised_video_keeps_rate_duration_rotation_and_sound(clip, tmp_path, capsys) -> None:
    out = tmp_path / "styled.mp4"
    assert main(["stylize", str(clip), "-m", "wave", "-o", str(out), "--batch", "3"]) == 0
    assert "10 frames" in capsys.readouterr().out
    before, after = probe(clip), probe(out)
    assert len(after["frames"]) == FRAMES and after["fps"] == FPS
    assert after["duration"] == pytest.approx(before["duration"], abs=0.05)
    assert after["rotation"] == before["rotation"] == 90
    assert after["audio"] and after["audio"] == before["audio"]  # the same AAC packets: copied, not re-encoded
    assert after["frames"][0].shape == before["frames"][0].shape
    assert (after["frames"][0] - before["frames"][0]).abs().mean() > 0.05  # stylised, not copied
    up = tmp_path / "up.mp4"
    assert main(["upscale", str(clip), "--scale", "4", "-o", str(up)]) == 0
    assert probe(up)["frames"][0].shape == (3, 4 * H, 4 * W)


def test_bad_videos_are_one_line_errors(tmp_path, clip, capsys) -> None:
    sound_only = make_clip(tmp_path / "sound.mp4", video=False)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    for src, words in [(sound_only, "no video stream"), (junk, "not a readable video")]:
        assert main(["stylize", str(src), "-m", "wave", "-o", str(tmp_path / "o.mp4")]) == 1
        assert words in capsys.readouterr().err
    assert main(["stylize", str(clip), "-m", "wave", "-o", str(clip)]) == 1  # never over the input
    assert "overwrite the input" in capsys.readouterr().err
    assert main(["stylize", str(clip), "-m", "wave", "-o", str(tmp_path / "o.png")]) == 1
    assert not list(tmp_path.glob(".*.tmp*"))


def test_temporal_blending_lowers_flicker(tmp_path) -> None:
    """On a nearly still, noisy clip the stylised frames jitter more than the input; --temporal calms them."""
    noisy = make_clip(tmp_path / "noisy.mp4", noise=6.0, audio=False)
    scores = {}
    for w in ("0", "0.8"):
        out = tmp_path / f"t{w}.mp4"
        assert main(["stylize", str(noisy), "-m", "wave", "-o", str(out), "--temporal", w]) == 0
        scores[w] = flicker(probe(noisy)["frames"], probe(out)["frames"])
    assert scores["0.8"] < 0.7 * scores["0"], scores  # measured: 1.61 against 4.46 (0.5: 2.53)
