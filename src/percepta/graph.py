"""The light inference path: a percepta model's ONNX graph run by ONNX Runtime on numpy arrays, no torch.

Every model file carries its inference graph (:mod:`percepta.modelfile` embeds it when the model is saved;
``percepta export`` writes one alone as ``.onnx``): the whole forward pass of the transformation network
for any height and width, exported once by :mod:`percepta.export` with the regroupings that make it fast
on a CPU (paper section 4.1, "Speed": the point of the method is one fast pass). :class:`Graph` runs it on
(N, 3, H, W) float32 arrays in [0, 1] with ONNX Runtime, on the CPU or a GPU execution provider
(:func:`providers`), so that ``stylize``, ``upscale``, video, ``sheet`` and ``serve`` need only ONNX Runtime,
numpy and Pillow.

Instance-norm style models also carry a *tiles* graph: the same network, whose every instance-norm layer
can use given statistics instead of its input's (``mix`` = 1) and which outputs the statistics it saw
(``mix`` = 0). :meth:`Graph.frozen` takes them once from the whole image downscaled and returns a runner
that normalises every tile with them (:mod:`percepta.tiling`), so tiles do not show seams.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from .arch import NetConfig
from .errors import PerceptaError, is_out_of_memory

Array = np.ndarray
Runner = Callable[[Array], Array]

#: ONNX opset of the exported graphs
OPSET = 18
#: bumped whenever the exported graph computes differently, so that cached graphs are exported again
GRAPH_VERSION = 3
#: the metadata ``percepta export`` and the model files' graphs carry (``metadata_props``)
GRAPH_FORMAT = "percepta-exported"

#: execution providers by ``--device`` name; the first one installed is used (``pip install onnxruntime-gpu``
#: brings CUDA, ``onnxruntime-directml`` DirectML; macOS wheels have CoreML)
DEVICE_PROVIDERS = {
    "cpu": ("CPUExecutionProvider",),
    "cuda": ("CUDAExecutionProvider",),
    "coreml": ("CoreMLExecutionProvider",),
    "mps": ("CoreMLExecutionProvider",),
    "directml": ("DmlExecutionProvider",),
}


def min_side(config: NetConfig) -> int:
    """The smallest height and width a graph accepts: the reflection pad (``pad`` and ``margin`` plus up to
    ``down_factor - 1``) must stay below the image's size, and the coarsest level needs 2 cells."""
    f = config.down_factor
    return max(config.pad + config.margin + f, 2 * f, 2)


def threads() -> int:
    """ONNX Runtime's threads: ``OMP_NUM_THREADS`` where set (as torch reads it), else every core."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else (os.cpu_count() or 1)


def providers(device: str = "cpu") -> list[Any]:
    """ONNX Runtime execution providers for ``device`` (``cpu``, ``cuda``, ``cuda:N``, ``coreml``/``mps``,
    ``directml``), or a one-line :class:`PerceptaError` naming what to install."""
    import onnxruntime as ort

    kind, _, index = str(device).partition(":")
    if kind not in DEVICE_PROVIDERS:
        raise PerceptaError(f"unknown device {device!r}; use cpu, cuda, cuda:N, coreml or directml")
    if index and not index.isdigit():
        raise PerceptaError(f"unknown device {device!r}; use cpu, cuda, cuda:N, coreml or directml")
    available = ort.get_available_providers()
    wanted = [p for p in DEVICE_PROVIDERS[kind] if p in available]
    if not wanted:
        raise PerceptaError(
            f"device {device!r} asked for, but this onnxruntime has no {DEVICE_PROVIDERS[kind][0]} "
            f"(it has {', '.join(available)}); use --device cpu"
        )
    options = {"device_id": int(index)} if index and kind in ("cuda", "directml") else {}
    return [(wanted[0], options), "CPUExecutionProvider"] if kind != "cpu" else ["CPUExecutionProvider"]


def session(data: bytes | str | os.PathLike, device: str = "cpu", threads_: int | None = None) -> Any:
    """An ONNX Runtime session with all graph optimisations on ``device``'s provider."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads_ or threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 4  # fatal only: its errors become one-line PerceptaErrors here
    # no busy-waiting after a run: spinning threads would compete with the image conversions around it
    # (measured: stylize of a 256 px image 25 -> 18 ms on 2 cores, the network alone unchanged)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = data if isinstance(data, bytes) else str(data)
    return ort.InferenceSession(source, options, providers=providers(device))


def reflect_pad(x: Array, pad: tuple[int, int, int, int]) -> Array:
    """Reflection padding (left, right, top, bottom) that also works when the pad exceeds the image: repeated,
    as the network's own padding does (edge replication for a 1-pixel side)."""
    left, right, top, bottom = pad
    while left or right or top or bottom:
        h, w = x.shape[-2:]
        if w == 1 or h == 1:
            return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), mode="edge")
        step = (min(left, w - 1), min(right, w - 1), min(top, h - 1), min(bottom, h - 1))
        x = np.pad(x, ((0, 0), (0, 0), (step[2], step[3]), (step[0], step[1])), mode="reflect")
        left, right, top, bottom = (a - b for a, b in zip((left, right, top, bottom), step))
    return x


def _run(sess: Any, outputs: list[str] | None, feeds: dict[str, Array]) -> list[Array]:
    """``sess.run``, with ONNX Runtime's errors as one line: out of memory, or what the graph refused."""
    try:
        return sess.run(outputs, feeds)
    except Exception as exc:  # noqa: BLE001 -- onnxruntime raises its own types (Fail, InvalidArgument, ...)
        text = " ".join(str(exc).split()) or type(exc).__name__
        if is_out_of_memory(exc) or "alloc" in text.lower():
            raise MemoryError(text) from None
        shape = "x".join(str(d) for d in feeds["image"].shape)
        raise PerceptaError(f"the model's graph cannot run on a {shape} input ({text[:200]})") from None


def network_pad(x: Array, config: NetConfig) -> Array:
    """The padding :meth:`percepta.nets.TransformNet.forward` applies: ``pad`` + ``margin`` on every side by
    repeated reflection, plus up to a multiple of the downsampling factor (and at least 2 cells) right and
    bottom -- what a model file's graph takes (metadata ``input: padded``), so that any size runs exactly."""
    h, w = x.shape[-2:]
    f, p = config.down_factor, config.pad + config.margin
    extra_h, extra_w = max(-(-h // f), 2) * f - h, max(-(-w // f), 2) * f - w
    return reflect_pad(x, (p, p + extra_w, p, p + extra_h))


class Graph:
    """A model's inference graph behind the interface :mod:`percepta.infer` runs: ``config``, ``kind`` and a call
    on (N, 3, H, W) float32 arrays in [0, 1] for any H x W, cropped to the input's size (times ``scale``).
    A model file's graph takes its input padded the network's way (:func:`network_pad`, exact at every size);
    a ``percepta export`` file pads inside, and inputs under its :func:`min_side` are repeat-padded here first
    (near those edges its output then differs a little from the network's).
    ``tiles``: the optional tiles graph of an instance-norm model (see the module docstring)."""

    kind = "onnx"

    def __init__(self, config: NetConfig, data: bytes | str | os.PathLike, device: str = "cpu",
                 tiles: bytes | None = None, smallest: int | None = None) -> None:  # fmt: skip
        self.config, self.device = config, device
        self.session = session(data, device)
        self._tiles_data, self._tiles = tiles, None
        inputs = [i.name for i in self.session.get_inputs()]
        if inputs != ["image"]:
            raise PerceptaError(f"the graph's inputs are {inputs}, not one named 'image'; export it with percepta")
        self.padded = self.metadata.get("input") == "padded"
        self.min_side = 1 if self.padded else (smallest or min_side(config))

    @property
    def metadata(self) -> dict[str, str]:
        """The graph's ``metadata_props`` (config, name, meta, min_side, input, ...)."""
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def _fit(self, x: Array) -> tuple[Array, int, int]:
        """``x`` as the graph takes it (contiguous float32, padded) and the size to crop the output to."""
        h, w = x.shape[-2:]
        if self.padded:
            x = network_pad(x, self.config)
        elif min(h, w) < self.min_side:  # the graph's reflection pad needs a larger image: repeat-pad it first
            x = reflect_pad(x, (0, max(0, self.min_side - w), 0, max(0, self.min_side - h)))
        return np.ascontiguousarray(x, dtype=np.float32), h, w

    def __call__(self, x: Array) -> Array:
        x, h, w = self._fit(x)
        s = self.config.scale
        return _run(self.session, ["output"], {"image": x})[0][:, :, : h * s, : w * s]

    @property
    def has_tiles(self) -> bool:
        return self._tiles_data is not None

    def _tiles_session(self) -> Any:
        if self._tiles is None:
            if self._tiles_data is None:
                raise PerceptaError("this model has no tiles graph (instance-norm statistics cannot be shared)")
            self._tiles = session(self._tiles_data, self.device)
        return self._tiles

    def statistics(self, x: Array) -> Array:
        """Every instance-norm layer's per-channel mean and variance on the image ``x`` (1, 3, H, W), as one
        vector in the tiles graph's order."""
        x, _, _ = self._fit(x)
        stats = self._tiles_session()
        given = np.zeros(stats.get_inputs()[2].shape[0], np.float32)  # not read when mix is 0
        return _run(stats, ["statistics"], {"image": x, "mix": np.zeros(1, np.float32), "given": given})[0][0]

    def frozen(self, stats: Array) -> Runner:
        """A runner normalising every instance-norm layer with ``stats`` (from :meth:`statistics`)."""
        tiles, s = self._tiles_session(), self.config.scale
        given, mix = np.ascontiguousarray(stats, np.float32), np.ones(1, np.float32)

        def run(x: Array) -> Array:
            x, h, w = self._fit(x)
            return _run(tiles, ["output"], {"image": x, "mix": mix, "given": given})[0][:, :, : h * s, : w * s]

        return run


def exported_info(meta: Any, path: Any, kind: str) -> tuple[NetConfig, dict[str, Any], int]:
    """The config, metadata and smallest side an exported file's percepta metadata (``metadata_props`` or a
    TorchScript file's extra file) records, or a one-line :class:`ModelFileError` naming ``path``."""
    import json

    from .errors import ModelFileError
    from .limits import MAX_MIN_SIDE

    if not isinstance(meta, dict) or meta.get("format") != GRAPH_FORMAT:
        raise ModelFileError(f"{path}: not exported by percepta (no percepta metadata); use `percepta export`")
    try:
        config = NetConfig(**json.loads(meta["config"]))
        info = json.loads(meta.get("meta") or "{}")
        smallest = int(meta.get("min_side") or min_side(config))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: malformed percepta metadata ({exc})") from None
    if not 1 <= smallest <= MAX_MIN_SIDE:
        raise ModelFileError(f"{path}: malformed percepta metadata (min_side {smallest} is not 1..{MAX_MIN_SIDE})")
    info = {**(info if isinstance(info, dict) else {}), "name": meta.get("name") or path.stem, "exported": kind}
    return config, info, smallest


def graph_metadata(data: bytes) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX graph's bytes (a session without optimisations reads them)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 4  # fatal only: its errors become one-line PerceptaErrors here
    return dict(ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
                .get_modelmeta().custom_metadata_map)  # fmt: skip
