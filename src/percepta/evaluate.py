"""Evaluation runners: run models on images and tabulate the measures of :mod:`percepta.metrics`.

:func:`evaluate_sr` is the super-resolution protocol of the paper's section 4.2 (Table 3): bicubic and each
model on the same degraded inputs, PSNR / SSIM on Y and the relu2_2 feature distance, per image and mean.

:func:`evaluate_style` is the yardstick for stylised images: the **content loss** (relu2_2 feature
distance to the photo, eq. 2, on the 0..255 Caffe scale the loss network uses) and the **style ratio**
(:func:`percepta.metrics.style_ratio` against the painting at :data:`STYLE_EVAL_SIZE` px). Lower is better
for both; one output is Pareto-equal or better than another when neither number is higher. Beside them it
reports how the picture looks (:mod:`percepta.lookmetrics`, issue 23), which Gram statistics do not see:
the **change** (RMS luminance difference to the photo, 0..1) and the **motif scale** (energy-weighted mean
wavelength of the luminance, px), both with the output judged 512 px wide. Higher means a bolder repaint
and larger motifs; the paper authors' models score about 0.27-0.32 and 19-33 px on chicago. Blur also
lengthens the motif scale, so read the four numbers together.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .data import degrade
from .errors import PerceptaError
from .hyperparams import STYLE_LAYERS
from .image import expand_inputs, load_rgb, resize_long_side, to_tensor
from .infer import stylize
from .lookmetrics import change, motif_scale
from .lossnet import VGG16LossNetwork
from .metrics import bicubic_upscale, feature_distance, psnr_y, quantize, ssim_y, style_ratio
from .modelfile import Model, load_model
from .upscaling import upscale

#: The painting's longer side when its Grams are the style target of :func:`evaluate_style`.
STYLE_EVAL_SIZE = 512


def _json(report: object, indent: int | None) -> str:
    """JSON of a report dataclass; non-finite numbers (e.g. PSNR of identical images) become ``null``."""

    def clean(v: object) -> object:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(asdict(report)), indent=indent, allow_nan=False)


@dataclass
class SRScore:
    """Scores of one method, on one image (``image`` set) or averaged over all of them (``image`` None)."""

    method: str
    psnr: float
    ssim: float
    feature: float
    image: str | None = None


@dataclass
class SRReport:
    """Result of :func:`evaluate_sr`: per-method means (``summary``) and per-image ``rows``."""

    scale: int
    border: int
    layer: str
    images: list[str]
    summary: list[SRScore] = field(default_factory=list)
    rows: list[SRScore] = field(default_factory=list)

    def to_markdown(self, per_image: bool = True) -> str:
        """Markdown tables: the means, then (``per_image``) one row per image and method."""
        head = f"| method | PSNR (dB) | SSIM | {self.layer} feature distance |"

        def line(s: SRScore, first: str) -> str:
            return f"| {first} | {s.psnr:.2f} | {s.ssim:.4f} | {s.feature:.4g} |"

        out = [
            f"Super-resolution x{self.scale}, {len(self.images)} image(s), Y channel, "
            f"{self.border}-pixel border shaved",
            "",
            head,
            "|---|---:|---:|---:|",
        ]
        out += [line(s, s.method) for s in self.summary]
        if per_image:
            out += ["", "| image | method | PSNR (dB) | SSIM | feature distance |", "|---|---|---:|---:|---:|"]
            out += [line(s, f"{s.image} | {s.method}") for s in self.rows]
        return "\n".join(out) + "\n"

    def to_json(self, indent: int | None = 2) -> str:
        """JSON of the whole report; non-finite numbers (PSNR of identical images) become ``null``."""
        return _json(self, indent)


def evaluate_sr(
    images: Sequence[str | os.PathLike],
    scale: int,
    models: Sequence[str | os.PathLike | Model] = (),
    *,
    lossnet: VGG16LossNetwork | None = None,
    layer: str = "relu2_2",
    tile: int = 256,
    overlap: int = 16,
    device: str = "cpu",
) -> SRReport:
    """Evaluate bicubic upsampling and each SR model on high-resolution images (paper section 4.2).

    ``images``: files, or folders of them (expanded recursively, as the CLI does).

    Each image is cropped to the top-left H - H % scale by W - W % scale pixels, degraded with
    :func:`percepta.data.degrade` (Gaussian blur sigma 1, antialiased bicubic x1/scale) and the
    low-resolution input rounded to 8-bit levels (as a saved LR image would be). Every output --
    :func:`bicubic_upscale` and each model through :func:`percepta.upscaling.upscale` (``tile``,
    ``overlap``) -- is rounded to 8-bit levels before PSNR/SSIM on Y with ``scale`` pixels shaved, and
    the ``layer`` feature distance. Means are plain averages of the per-image values.
    """
    loaded = [load_model(m, device) for m in models]
    names = ["bicubic"]
    for i, model in enumerate(loaded):
        if model.task != "sr" or model.config.scale != scale:
            raise PerceptaError(
                f"{model.name} is a {model.task} x{model.config.scale} model, not a x{scale} super-resolution model"
            )
        names.append(model.name if model.name not in names else f"{model.name}#{i + 1}")
    lossnet = lossnet or VGG16LossNetwork([layer]).to(device)
    report = SRReport(scale, scale, layer, [])
    for path in expand_inputs(images):
        hr = to_tensor(load_rgb(path))
        h, w = hr.shape[-2:]
        hr = hr[:, :, : h - h % scale, : w - w % scale]
        if min(hr.shape[-2:]) < 2 * scale + 11:  # SSIM's 11 x 11 window must fit after shaving
            raise PerceptaError(f"{path}: {w}x{h} is too small to evaluate at x{scale}")
        lr = quantize(degrade(hr, scale))
        outputs = [bicubic_upscale(lr, scale)] + [upscale(lr, m, tile=tile, overlap=overlap) for m in loaded]
        name = Path(path).name
        report.images.append(name)
        for method, sr in zip(names, outputs):
            sr = quantize(sr)
            report.rows.append(
                SRScore(
                    method, psnr_y(sr, hr, scale), ssim_y(sr, hr, scale), feature_distance(sr, hr, lossnet, layer), name
                )
            )
    for method in names:
        rows = [r for r in report.rows if r.method == method]
        report.summary.append(
            SRScore(
                method,
                float(np.mean([r.psnr for r in rows])),
                float(np.mean([r.ssim for r in rows])),
                float(np.mean([r.feature for r in rows])),
            )
        )
    return report


@dataclass
class StyleScore:
    """The yardstick's numbers for one stylised image (``image`` set) or their means (``image`` None):
    content loss and style ratio (lower is better), change and motif scale (how bold and how large the
    painting's marks are; :mod:`percepta.lookmetrics`)."""

    method: str
    content: float
    style_ratio: float
    image: str | None = None
    change: float = math.nan
    motif_scale: float = math.nan

    def pareto_equal_or_better(self, other: StyleScore) -> bool:
        """Neither number is higher than ``other``'s."""
        return self.content <= other.content and self.style_ratio <= other.style_ratio


@dataclass
class StyleReport:
    """Result of :func:`evaluate_style`: per-method means (``summary``) and per-image ``rows``."""

    style: str
    size: int | None
    photos: list[str]
    summary: list[StyleScore] = field(default_factory=list)
    rows: list[StyleScore] = field(default_factory=list)

    def to_markdown(self, per_image: bool = True) -> str:
        where = f"at {self.size} px (longer side)" if self.size else "at each output's size"
        out = [f"Style `{self.style}` ({STYLE_EVAL_SIZE} px), {len(self.photos)} photo(s), {where}; content loss and "
               "style ratio: lower is better; change and motif scale (output judged 512 px wide): higher is bolder",
               "", "| method | content loss (relu2_2) | style ratio | change | motif scale (px) |",
               "|---|---:|---:|---:|---:|"]  # fmt: skip

        def numbers(s: StyleScore) -> str:
            return f"{s.content:.4g} | {s.style_ratio:.3g} | {s.change:.3f} | {s.motif_scale:.1f}"

        out += [f"| {s.method} | {numbers(s)} |" for s in self.summary]
        if per_image:
            out += ["", "| photo | method | content loss | style ratio | change | motif scale (px) |",
                    "|---|---|---:|---:|---:|---:|"]  # fmt: skip
            out += [f"| {s.image} | {s.method} | {numbers(s)} |" for s in self.rows]
        return "\n".join(out) + "\n"

    def to_json(self, indent: int | None = 2) -> str:
        return _json(self, indent)


def evaluate_style(outputs: Sequence[str | os.PathLike], photos: Sequence[str | os.PathLike],
                   style: str | os.PathLike, models: Sequence[str | os.PathLike | Model] = (), *,
                   size: int | None = None, lossnet: VGG16LossNetwork | None = None,
                   device: str = "cpu") -> StyleReport:  # fmt: skip
    """Score stylised images (``outputs``, files) and each of ``models`` on ``photos`` against ``style``.

    Outputs pair with photos in order, or all with the one photo given. Each output is compared at its own
    size (or, with ``size``, its longer side resized to ``size``) with its photo resized to exactly that
    size; a model stylises each photo (resized to ``size`` if given) itself. Change and motif scale judge
    that output 512 px wide (:mod:`percepta.lookmetrics`), against the photo at the same size.
    """
    photo_paths = expand_inputs(photos)
    output_paths = expand_inputs(outputs) if outputs else []
    if output_paths and len(photo_paths) not in (1, len(output_paths)):
        raise PerceptaError(f"{len(output_paths)} outputs and {len(photo_paths)} photos: give one photo, "
                            "or one per output in the same order")  # fmt: skip
    lossnet = lossnet or VGG16LossNetwork(["relu2_2", *STYLE_LAYERS]).to(device)
    painting = to_tensor(resize_long_side(load_rgb(style), STYLE_EVAL_SIZE, upscale=True))
    report = StyleReport(Path(style).name, size, [Path(p).name for p in photo_paths])

    def score(method: str, output, photo_path: Path) -> None:
        original = load_rgb(photo_path)
        photo = original.resize(output.size, resample=3)  # the photo at the output's size (bicubic)
        o, p = to_tensor(output), to_tensor(photo)
        content = feature_distance(o, p, lossnet, "relu2_2")
        ratio = style_ratio(o, p, painting, lossnet)
        report.rows.append(
            StyleScore(method, content, ratio, photo_path.name, change(output, original), motif_scale(output))
        )

    for i, path in enumerate(output_paths):
        score(
            path.stem, resize_long_side(load_rgb(path), size, upscale=True), photo_paths[min(i, len(photo_paths) - 1)]
        )
    names = [p.stem for p in output_paths]
    for i, model in enumerate([load_model(m, device) for m in models]):
        if model.task != "style":
            raise PerceptaError(f"{model.name} is a {model.task} model, not a style model")
        names.append(model.name if model.name not in names else f"{model.name}#{i + 1}")
        for path in photo_paths:
            score(names[-1], stylize(resize_long_side(load_rgb(path), size, upscale=True), model), path)
    for method in dict.fromkeys(r.method for r in report.rows):
        rows = [r for r in report.rows if r.method == method]
        mean = {k: float(np.mean([getattr(r, k) for r in rows])) for k in ("content", "style_ratio", "change",
                                                                             "motif_scale")}  # fmt: skip
        report.summary.append(StyleScore(method, **mean))
    return report
