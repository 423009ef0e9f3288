"""Export a transformation network to ONNX or TorchScript, and load such files back as models.

The exported graph is the whole forward pass of :class:`percepta.nets.TransformNet` for any height and
width (both dynamic, like the batch): reflection-pad by the network's ``pad`` plus up to a multiple of
its downsampling factor, the body, the output layer (the paper's scaled tanh, or bicubic skip + clamp for
SR), and the crop back to ``scale`` times the input's size. It is written without data-dependent Python
control flow (:class:`ExportGraph`), so tracers record the shape arithmetic instead of specialising it.
Two layers are regrouped for speed, computing the same sums (:class:`PhaseTail`, :class:`CroppedResidual`;
tested against the network): exported graphs are for inference, the network stays the paper's.
One restriction remains, stored in the file as ``min_side``: both sides must be at least
:func:`min_side` pixels (the reflection pad must be smaller than the image); percepta pads smaller
inputs itself before running such a file.

ONNX files are written by the public ``torch.onnx.export`` (the dynamo exporter, opset 18) and carry
percepta's config and metadata in ``metadata_props``; TorchScript files come from ``torch.jit.trace``
with the same metadata as extra files. ``percepta stylize -m model.onnx`` (or ``.pt``) runs them through
:func:`load_exported`.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._version import __version__
from .arch import NetConfig
from .errors import ModelFileError, PerceptaError
from .fsutil import atomic_write
from .nets import ResidualBlock

FORMATS = ("onnx", "torchscript")
SUFFIXES = {".onnx": "onnx", ".pt": "torchscript", ".ts": "torchscript"}
OPSET = 18
#: bumped whenever :class:`ExportGraph` computes differently, so that cached graphs are exported again
GRAPH_VERSION = 2
#: TorchScript extra-file name holding the JSON metadata
_TS_META = "percepta.json"


def min_side(config: NetConfig) -> int:
    """The smallest height and width an exported graph accepts: the reflection pad (``pad`` and ``margin`` plus
    up to ``down_factor - 1``) must stay below the image's size, and the coarsest level needs 2 cells."""
    f = config.down_factor
    return max(config.pad + config.margin + f, 2 * f, 2)


def _up_taps(up: nn.Module, phase: int) -> list[tuple[int, int]]:
    """For a x2 upsampling layer, the (input offset t, kernel index k) pairs of one output phase along one axis:
    ``out[2 * Y + phase] += w[k] * in[Y + t]``. Resize-conv (nearest x2, 3x3 conv, padding 1) reads the
    upsampled pixel ``2Y + phase + k - 1``, i.e. input ``Y + (phase + k - 1) // 2``; the paper's stride-1/2 conv
    (3x3, padding 1, output padding 1) adds input ``i`` times ``w[k]`` to output ``2i - 1 + k``."""
    if isinstance(up, nn.ConvTranspose2d):
        return [((phase + 1 - k) // 2, k) for k in range(3) if (phase + 1 - k) % 2 == 0]
    return [((phase + k - 1) // 2, k) for k in range(3)]


class PhaseTail(nn.Module):
    """The networks' last stage -- x2 upsampling, normalisation, ReLU, and the RGB conv (``c9s1-3`` / ``c3s1-3``)
    -- computed at the *input's* resolution on the four output phases (pixel (2Y + py, 2X + px) is phase
    (py, px)), with one ``pixel_shuffle`` at the very end: the same sums regrouped, equal to the layers it
    replaces up to float rounding (tested), for inference graphs only.

    * the upsampling becomes one conv with 4x the output channels (2x2 taps for the stride-1/2 conv,
      3x3 for resize-conv) and no nearest-neighbour resize;
    * batch norm is folded into it; instance norm takes its statistics over the four phases of a channel
      together (a reshape, no copy);
    * the RGB conv reads the phases directly: a conv with 12 outputs on a quarter of the positions instead
      of 3 outputs everywhere, which is what costs on a CPU (ONNX Runtime pads 3 outputs to 8 lanes and reads
      the input 81 times).

    Measured on the 2-core CPU with ONNX Runtime, the paper's last stage on a 64-channel 256x256 input
    (stride-1/2 conv, batch norm, ReLU, ``c9s1-3``): 207 ms as written, 89 ms as phases.
    """

    def __init__(self, up: nn.Module, norm: nn.Module, last: nn.Conv2d) -> None:
        super().__init__()
        conv = up if isinstance(up, nn.ConvTranspose2d) else up[1]
        w = conv.weight.detach()
        w = w.transpose(0, 1) if isinstance(up, nn.ConvTranspose2d) else w  # (out, in, 3, 3)
        b = conv.bias.detach()
        cout, cin = w.shape[:2]
        if isinstance(norm, nn.BatchNorm2d):  # inference batch norm is a per-channel affine map: fold it in
            a = norm.weight.detach() / torch.sqrt(norm.running_var + norm.eps)
            w, b = w * a[:, None, None, None], (b - norm.running_mean) * a + norm.bias.detach()
        self.norm = norm if isinstance(norm, nn.InstanceNorm2d) else None
        taps = [_up_taps(up, phase) for phase in (0, 1)]
        lo = min(t for phase in taps for t, _ in phase)
        size = max(t for phase in taps for t, _ in phase) - lo + 1
        weight = w.new_zeros(cout * 4, cin, size, size)
        for py in (0, 1):
            for px in (0, 1):  # channel c * 4 + py * 2 + px: pixel_shuffle's order
                for ty, ky in taps[py]:
                    for tx, kx in taps[px]:
                        weight[py * 2 + px :: 4, :, ty - lo, tx - lo] += w[:, :, ky, kx]
        before, after = -lo, size - 1 + lo  # zero padding of the input around the taps
        symmetric = before == after
        self.pad = (0, 0, 0, 0) if symmetric else (before, after, before, after)  # F.pad: left, right, top, bottom
        self.up = nn.Conv2d(cin, cout * 4, size, padding=before if symmetric else 0)
        self.up.weight, self.up.bias = _frozen(weight), _frozen(b.repeat_interleave(4))

        k, p = last.kernel_size[0], last.padding[0]
        reach = (p + 1) // 2  # output phase (py, px) reads phase (qy, qx) at offsets -reach..reach
        lw = last.weight.detach()
        weight = lw.new_zeros(last.out_channels * 4, cout * 4, 2 * reach + 1, 2 * reach + 1)
        for py in (0, 1):
            for px in (0, 1):
                for ky in range(k):
                    ty, qy = divmod(py + ky - p, 2)
                    for kx in range(k):
                        tx, qx = divmod(px + kx - p, 2)
                        weight[py * 2 + px :: 4, qy * 2 + qx :: 4, ty + reach, tx + reach] = lw[:, :, ky, kx]
        self.last = nn.Conv2d(cout * 4, last.out_channels * 4, 2 * reach + 1, padding=reach)
        self.last.weight, self.last.bias = _frozen(weight), _frozen(last.bias.detach().repeat_interleave(4))

    @staticmethod
    def matches(layers: list[nn.Module]) -> bool:
        """Whether ``layers`` end in a stage this class computes exactly: the x2 upsampling of
        :func:`percepta.nets._upsample`, batch / instance / no norm, ReLU, and a 'same'-padded odd square conv."""
        if len(layers) < 4:
            return False
        up, norm, relu, last = layers[-4:]
        transpose = (
            isinstance(up, nn.ConvTranspose2d) and up.kernel_size == (3, 3) and up.stride == (2, 2)
            and up.padding == (1, 1) and up.output_padding == (1, 1) and up.groups == 1 and up.bias is not None
        )  # fmt: skip
        resize = (
            isinstance(up, nn.Sequential) and len(up) == 2 and isinstance(up[0], nn.Upsample)
            and up[0].mode == "nearest" and up[0].scale_factor in (2, 2.0, (2, 2), (2.0, 2.0))
            and _same_conv(up[1]) and up[1].kernel_size == (3, 3)
        )  # fmt: skip
        norm_ok = isinstance(norm, (nn.Identity, nn.BatchNorm2d)) or (
            isinstance(norm, nn.InstanceNorm2d) and not norm.track_running_stats
        )
        return (transpose or resize) and norm_ok and isinstance(relu, nn.ReLU) and _same_conv(last)

    def forward(self, x: Tensor) -> Tensor:
        y = self.up(F.pad(x, self.pad) if any(self.pad) else x)
        if self.norm is not None:  # statistics over all four phases of each channel, as over the full image
            n, c, h, w = y.shape
            y = self.norm(y.reshape(n, c // 4, 4 * h, w)).reshape(n, c, h, w)
        return F.pixel_shuffle(self.last(torch.relu(y)), 2)


class CroppedResidual(nn.Module):
    """A :class:`percepta.nets.ResidualBlock` with unpadded convs whose shortcut crop is a depthwise conv with a
    one-hot kernel (1 at the centre, 0 elsewhere: the same numbers as the slice, for finite features), for
    inference graphs only. ONNX Runtime then keeps the whole block in its blocked memory layout and adds
    the shortcut inside the second conv, instead of converting layouts around a slice (measured 3% of the
    paper's network at 512x512 on the 2-core CPU)."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        c, k = block.body[0].in_channels, 2 * block.crop + 1
        self.body = block.body
        self.shortcut = nn.Conv2d(c, c, k, groups=c, bias=False)
        weight = torch.zeros(c, 1, k, k)
        weight[:, :, block.crop, block.crop] = 1.0
        self.shortcut.weight = _frozen(weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.body(x)


def _same_conv(conv: nn.Module) -> bool:
    """A plain conv with bias, odd square kernel and 'same' zero padding."""
    return (
        isinstance(conv, nn.Conv2d) and conv.stride == (1, 1) and conv.groups == 1 and conv.dilation == (1, 1)
        and conv.bias is not None and conv.kernel_size[0] == conv.kernel_size[1] and conv.kernel_size[0] % 2 == 1
        and conv.padding == (conv.kernel_size[0] // 2,) * 2 and conv.padding_mode == "zeros"
    )  # fmt: skip


def _frozen(t: Tensor) -> nn.Parameter:
    return nn.Parameter(t.contiguous(), requires_grad=False)


class ExportGraph(nn.Module):
    """:meth:`TransformNet.forward` without Python branches on the input's size, for tracing exporters.

    Equal to the network's own forward for every input of at least :func:`min_side` pixels per side. The last
    stage (upsampling, norm, ReLU, RGB conv) runs as a :class:`PhaseTail` where the network ends in one, and
    residual blocks with a cropped shortcut as :class:`CroppedResidual`.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.config: NetConfig = net.config
        layers = [CroppedResidual(m) if isinstance(m, ResidualBlock) and m.crop else m for m in net.body]
        if PhaseTail.matches(layers):
            layers[-4:] = [PhaseTail(*layers[-4:-2], layers[-1])]
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[2], x.shape[3]
        f, p = self.config.down_factor, self.config.pad + self.config.margin
        extra_h, extra_w = (f - h % f) % f, (f - w % f) % f
        x = F.pad(x, (p, p + extra_w, p, p + extra_h), mode="reflect")
        return self.net.output(self.body(x), x, h, w)


def _example(config: NetConfig, batch: int) -> Tensor:
    """A traced example input: twice the minimum side (at least 64), not square, ``batch`` images (the dynamo
    exporter specialises batch sizes 0 and 1)."""
    side = max(64, min_side(config) * 2)
    return torch.rand(batch, 3, side, side + 4)


def _metadata(model: Any) -> dict[str, str]:
    return {
        "format": "percepta-exported",
        "percepta_version": __version__,
        "name": model.name,
        "config": json.dumps(model.config.to_dict()),
        "meta": json.dumps(model.meta, default=str),
        "min_side": str(min_side(model.config)),
    }


def onnx_bytes(model: Any, dynamo: bool = True) -> bytes:
    """The model's :class:`ExportGraph` as an ONNX file's bytes (float32, dynamic batch, height and width).

    ``dynamo=True`` is ``torch.onnx``'s current exporter (``percepta export``); it takes 10-15 s per network
    on a 2-core CPU. ``dynamo=False`` is the TorchScript-based one, deprecated but 30-100x faster, which the
    CPU backend's cache uses when this torch still has it; both graphs match the network within 1e-5 (tested).
    """
    graph, smallest = ExportGraph(model.net).cpu().eval(), min_side(model.config)
    example = _example(model.config, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            try:
                import onnxscript  # noqa: F401 -- the dynamo exporter needs it; say so in one line
            except ImportError:
                raise PerceptaError("ONNX export needs onnxscript: pip install onnxscript") from None
            dims = {2: torch.export.Dim("height", min=smallest), 3: torch.export.Dim("width", min=smallest)}
            program = torch.onnx.export(
                graph, (example,), dynamo=True, opset_version=OPSET, input_names=["image"], output_names=["output"],
                dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1), **dims}}, verbose=False,
            )  # fmt: skip
            proto = program.model_proto
        else:
            import onnx

            buffer = io.BytesIO()
            axes = {0: "batch", 2: "height", 3: "width"}
            torch.onnx.export(graph, (example,), buffer, dynamo=False, opset_version=OPSET, input_names=["image"],
                              output_names=["output"], dynamic_axes={"image": axes, "output": axes})  # fmt: skip
            proto = onnx.load_from_string(buffer.getvalue())
    for key, value in _metadata(model).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def export_model(model: Any, fmt: str, path: str | os.PathLike) -> Path:
    """Write ``model`` (a :class:`percepta.modelfile.Model`) as ``fmt`` (``onnx`` or ``torchscript``) to ``path``
    atomically, and check the file reproduces the network on an odd-sized input (within 1e-4)."""
    if fmt not in FORMATS:
        raise PerceptaError(f"export format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    path = Path(path)
    if fmt == "onnx":
        data = onnx_bytes(model)
        with atomic_write(path) as fh:
            fh.write(data)
    else:
        graph = ExportGraph(model.net).cpu().eval()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # torch.jit is deprecated in favour of torch.export, still supported
            traced = torch.jit.trace(graph, _example(model.config, 1), check_trace=False)
            with atomic_write(path) as fh:
                torch.jit.save(traced, fh, _extra_files={_TS_META: json.dumps(_metadata(model))})
    check = load_exported(path)
    side = min_side(model.config) + 7
    x = torch.rand(1, 3, side, side + 10)
    with torch.inference_mode():
        want = model.net.cpu()(x)
        got = check.net(x)
    if got.shape != want.shape or float((got - want).abs().max()) > 1e-4:
        path.unlink(missing_ok=True)
        raise PerceptaError(f"the exported {fmt} graph does not reproduce {model.name}; nothing written")
    return path


class ExportedNet(nn.Module):
    """An exported graph (ONNX Runtime session or TorchScript module) behind :class:`TransformNet`'s interface:
    ``config`` and ``forward`` on (N, 3, H, W) float32 in [0, 1] for any H x W (small inputs padded here)."""

    def __init__(self, config: NetConfig, kind: str, runner: Any, smallest: int) -> None:
        super().__init__()
        self.config, self.kind, self.runner, self.min_side = config, kind, runner, smallest

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        s = self.config.scale
        if min(h, w) < self.min_side:  # the graph's reflection pad needs a larger image: repeat-pad it first
            from .nets import _reflect_pad

            x = _reflect_pad(x, (0, max(0, self.min_side - w), 0, max(0, self.min_side - h)))
        x = x.detach().float().cpu().contiguous()
        if self.kind == "onnx":
            y = torch.from_numpy(self.runner.run(None, {"image": x.numpy()})[0])
        else:
            y = self.runner(x)
        return y[:, :, : h * s, : w * s]


def onnx_session(data: bytes | str | os.PathLike, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session with all graph optimisations and ``threads`` (default: torch's) threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # no busy-waiting after a run: ORT's spinning threads would compete with torch's for the image conversions
    # around it (measured: stylize of a 256 px image 25 -> 18 ms on 2 cores, the network alone unchanged)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = data if isinstance(data, bytes) else str(data)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def load_exported(path: str | os.PathLike) -> Any:
    """A :class:`percepta.modelfile.Model` running an exported ``.onnx`` or TorchScript file."""
    from .modelfile import Model

    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ModelFileError(f"{path}: not an exported model (expected {', '.join(SUFFIXES)})")
    try:
        if kind == "onnx":
            runner = onnx_session(path)
            meta = dict(runner.get_modelmeta().custom_metadata_map)
        else:
            extra = {_TS_META: ""}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                runner = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
            meta = json.loads(extra[_TS_META] or "{}")
    except Exception as exc:  # noqa: BLE001 -- OSError, RuntimeError, and onnxruntime's and torch.jit's own types
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path}: cannot load the exported model ({first[:200]})") from None
    if meta.get("format") != "percepta-exported":
        raise ModelFileError(f"{path}: not exported by percepta (no percepta metadata); use `percepta export`")
    try:
        config = NetConfig(**json.loads(meta["config"]))
        info = json.loads(meta.get("meta") or "{}")
        smallest = int(meta.get("min_side") or min_side(config))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: malformed percepta metadata ({exc})") from None
    net = ExportedNet(config, kind, runner, smallest)
    info = {**(info if isinstance(info, dict) else {}), "name": meta.get("name") or path.stem, "exported": kind}
    return Model(net.eval(), info, path)
