"""Export a transformation network to ONNX or TorchScript: the graphs every model file carries, and ``percepta export``.

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
:func:`percepta.modelfile.load_exported`. :func:`inference_graphs` makes the graphs that
:func:`percepta.modelfile.save_model` stores in each model file: the same :class:`ExportGraph` taking its
input padded (so any size runs exactly), and for instance-norm models a :class:`TilesGraph`.
"""

from __future__ import annotations

import copy
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
from .graph import GRAPH_FORMAT, GRAPH_VERSION, OPSET, min_side
from .nets import ResidualBlock

FORMATS = ("onnx", "torchscript")
SUFFIXES = {".onnx": "onnx", ".pt": "torchscript", ".ts": "torchscript"}
#: TorchScript extra-file name holding the JSON metadata
_TS_META = "percepta.json"


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
        self.norm = norm if isinstance(norm, (nn.InstanceNorm2d, SwitchNorm)) else None
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
        norm_ok = isinstance(norm, (nn.Identity, nn.BatchNorm2d, SwitchNorm)) or (
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

    ``padded=True``: the graph a model file carries takes the input already padded the network's way
    (:func:`percepta.graph.network_pad`, repeated reflection, so any size works) and leaves the crop to the
    image's size to its caller too; it drops only the top and left margin.
    """

    def __init__(self, net: nn.Module, padded: bool = False) -> None:
        super().__init__()
        self.net, self.padded = net, padded
        self.config: NetConfig = net.config
        layers = [CroppedResidual(m) if isinstance(m, ResidualBlock) and m.crop else m for m in net.body]
        if PhaseTail.matches(layers):
            layers[-4:] = [PhaseTail(*layers[-4:-2], layers[-1])]
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.padded:
            y, s, m = self.body(x), self.config.scale, self.config.margin
            return self.net.output(y, x, y.shape[2] // s - m, y.shape[3] // s - m)
        h, w = x.shape[2], x.shape[3]
        f, p = self.config.down_factor, self.config.pad + self.config.margin
        extra_h, extra_w = (f - h % f) % f, (f - w % f) % f
        x = F.pad(x, (p, p + extra_w, p, p + extra_h), mode="reflect")
        return self.net.output(self.body(x), x, h, w)


class SwitchNorm(nn.Module):
    """An instance-norm layer for the tiles graph: normalises with its input's own statistics (``mix`` = 0) or
    with given ones (``mix`` = 1: a tile normalised like the whole image, :mod:`percepta.tiling`), and records
    the statistics it saw. Set ``given``, ``mix`` and ``seen`` before each forward (:class:`TilesGraph` does)."""

    def __init__(self, norm: nn.InstanceNorm2d) -> None:
        super().__init__()
        self.channels, self.eps = norm.num_features, norm.eps
        self.weight, self.bias = norm.weight, norm.bias
        self.given: Tensor | None = None
        self.mix: Tensor | None = None
        self.seen: list[Tensor] = []

    def forward(self, x: Tensor) -> Tensor:
        var, mean = torch.var_mean(x, dim=(2, 3), unbiased=False, keepdim=True)
        self.seen.append(torch.cat([mean.flatten(1), var.flatten(1)], 1))
        c = self.channels
        mean = mean + self.mix * (self.given[:c].view(1, c, 1, 1) - mean)
        var = var + self.mix * (self.given[c:].view(1, c, 1, 1) - var)
        y = (x - mean) / torch.sqrt(var + self.eps)
        return y * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1) if self.weight is not None else y


class TilesGraph(nn.Module):
    """:class:`ExportGraph` with every instance norm a :class:`SwitchNorm`: inputs ``image``, ``mix`` (1,) and
    ``given`` (every layer's means then variances, concatenated), outputs ``output`` and ``statistics`` (N, the
    same layout) -- the graph :meth:`percepta.graph.Graph.frozen` runs tiles with."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        net = copy.deepcopy(net).cpu().eval()
        self.norms: list[SwitchNorm] = []
        for parent in list(net.modules()):
            for name, child in parent.named_children():
                if isinstance(child, nn.InstanceNorm2d):
                    switch = SwitchNorm(child)
                    setattr(parent, name, switch)
                    self.norms.append(switch)
        self.graph = ExportGraph(net, padded=True)

    @property
    def width(self) -> int:
        return sum(2 * n.channels for n in self.norms)

    def forward(self, x: Tensor, mix: Tensor, given: Tensor) -> tuple[Tensor, Tensor]:
        start = 0
        for norm in self.norms:
            norm.given, norm.mix, norm.seen = given[start : start + 2 * norm.channels], mix, []
            start += 2 * norm.channels
        y = self.graph(x)
        return y, torch.cat([s for norm in self.norms for s in norm.seen], 1)


def tiles_onnx_bytes(model: Any) -> bytes | None:
    """The tiles graph (:class:`TilesGraph`) of an instance-norm model as ONNX bytes, ``None`` for other models."""
    if not any(isinstance(m, nn.InstanceNorm2d) for m in model.net.modules()):
        return None
    import onnx

    graph = TilesGraph(model.net)
    example = (_example(model.config, 2), torch.ones(1), torch.rand(graph.width) + 0.5)
    axes = {0: "batch", 2: "height", 3: "width"}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, example, buffer, dynamo=False, opset_version=OPSET,
                          input_names=["image", "mix", "given"], output_names=["output", "statistics"],
                          dynamic_axes={"image": axes, "output": axes, "statistics": {0: "batch"}})  # fmt: skip
    proto = onnx.load_from_string(buffer.getvalue())
    _add_metadata(proto, model, padded=True)
    return proto.SerializeToString()


def _example(config: NetConfig, batch: int) -> Tensor:
    """A traced example input: twice the minimum side (at least 64), not square, ``batch`` images (the dynamo
    exporter specialises batch sizes 0 and 1)."""
    side = max(64, min_side(config) * 2)
    return torch.rand(batch, 3, side, side + 4)


def _metadata(model: Any) -> dict[str, str]:
    return {
        "format": GRAPH_FORMAT,
        "graph_version": str(GRAPH_VERSION),
        "percepta_version": __version__,
        "name": model.name,
        "config": json.dumps(model.config.to_dict()),
        "meta": json.dumps(model.meta, default=str),
        "min_side": str(min_side(model.config)),
        "weights_key": str(model.meta.get("weights_key", "")),
    }


def onnx_bytes(model: Any, dynamo: bool = True, padded: bool = False) -> bytes:
    """The model's :class:`ExportGraph` as an ONNX file's bytes (float32, dynamic batch, height and width).

    ``dynamo=True`` is ``torch.onnx``'s current exporter (``percepta export``); it takes 10-15 s per network
    on a 2-core CPU. ``dynamo=False`` is the TorchScript-based one, deprecated but 30-100x faster, which the
    CPU backend's cache uses when this torch still has it; both graphs match the network within 1e-5 (tested).
    ``padded``: the graph model files carry (:class:`ExportGraph`'s ``padded``; metadata ``input: padded``).
    """
    graph, smallest = ExportGraph(model.net, padded).cpu().eval(), min_side(model.config)
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
    _add_metadata(proto, model, padded)
    return proto.SerializeToString()


def _add_metadata(proto: Any, model: Any, padded: bool = False) -> None:
    for key, value in {**_metadata(model), "input": "padded" if padded else "image"}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


class _Named:
    """What the graph builders read of a model: its network, config, name and metadata."""

    def __init__(self, net: nn.Module, name: str, meta: dict[str, Any]) -> None:
        self.net, self.config, self.name, self.meta = net, net.config, name, meta


def inference_graphs(net: nn.Module, name: str, meta: dict[str, Any] | None = None) -> dict[str, bytes]:
    """The graphs a model file carries for the light path (:mod:`percepta.graph`): ``main`` (:class:`ExportGraph`,
    the fast TorchScript-based exporter where this torch has it) and, for instance-norm models, ``tiles``
    (:class:`TilesGraph`)."""
    model = _Named(net.cpu().eval(), name, dict(meta or {}))
    try:
        main = onnx_bytes(model, dynamo=False, padded=True)
    except Exception:  # noqa: BLE001 -- the legacy exporter gone or failing: the current one
        main = onnx_bytes(model, dynamo=True, padded=True)
    tiles = tiles_onnx_bytes(model)
    return {"main": main, **({"tiles": tiles} if tiles else {})}


def export_model(model: Any, fmt: str, path: str | os.PathLike) -> Path:
    """Write ``model`` (a :class:`percepta.modelfile.Model`) as ``fmt`` (``onnx`` or ``torchscript``) to ``path``.

    The path is checked before any work (its suffix must be the format's), and the graph is checked to
    reproduce the network on an odd-sized input (within 1e-4) before it is written, atomically: a failed
    export leaves no file and an existing one as it was."""
    from .graph import Graph

    if fmt not in FORMATS:
        raise PerceptaError(f"export format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    path = Path(path)
    if SUFFIXES.get(path.suffix.lower()) != fmt:
        wanted = " or ".join(k for k, v in SUFFIXES.items() if v == fmt)
        raise PerceptaError(f"{path}: a {fmt} export is written to a {wanted} file")
    side = min_side(model.config) + 7
    x = torch.rand(1, 3, side, side + 10)
    if fmt == "onnx":
        data = onnx_bytes(model)
        got = torch.from_numpy(Graph(model.config, data)(x.numpy()))
    else:
        graph = ExportGraph(model.net).cpu().eval()
        buffer = io.BytesIO()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # torch.jit is deprecated in favour of torch.export, still supported
            traced = torch.jit.trace(graph, _example(model.config, 1), check_trace=False)
            torch.jit.save(traced, buffer, _extra_files={_TS_META: json.dumps(_metadata(model))})
            data = buffer.getvalue()
            got = torch.jit.load(io.BytesIO(data), map_location="cpu")(x)
    with torch.inference_mode():
        want = model.net.cpu()(x)
    if got.shape != want.shape or float((got - want).abs().max()) > 1e-4:
        raise PerceptaError(f"the exported {fmt} graph does not reproduce {model.name}; nothing written")
    with atomic_write(path) as fh:
        fh.write(data)
    return path


class ExportedNet(nn.Module):
    """A TorchScript export behind :class:`TransformNet`'s interface: ``config`` and ``forward`` on (N, 3, H, W)
    float32 in [0, 1] for any H x W (small inputs padded here)."""

    kind = "torchscript"

    def __init__(self, config: NetConfig, runner: Any, smallest: int) -> None:
        super().__init__()
        self.config, self.runner, self.min_side = config, runner, smallest

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        s = self.config.scale
        if min(h, w) < self.min_side:  # the graph's reflection pad needs a larger image: repeat-pad it first
            from .nets import _reflect_pad

            x = _reflect_pad(x, (0, max(0, self.min_side - w), 0, max(0, self.min_side - h)))
        return self.runner(x.detach().float().cpu().contiguous())[:, :, : h * s, : w * s]


def load_torchscript(path: str | os.PathLike) -> tuple[ExportedNet, dict[str, Any]]:
    """The network and metadata of a TorchScript file written by ``percepta export --format torchscript``."""
    path = Path(path)
    try:
        extra = {_TS_META: ""}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runner = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        meta = json.loads(extra[_TS_META] or "{}")
    except Exception as exc:  # noqa: BLE001 -- OSError, RuntimeError, and torch.jit's own types
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path}: cannot load the exported model ({first[:200]})") from None
    from .graph import exported_info

    config, info, smallest = exported_info(meta, path, "torchscript")
    return ExportedNet(config, runner, smallest), info
