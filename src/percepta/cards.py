"""What a model file says about itself, for people: the ``percepta models`` line and the markdown card.

Both come from the file's header alone (:func:`percepta.modelfile.read_meta`, no torch). Text taken from
metadata is cleaned of control characters, so a hostile file cannot send escape codes to a terminal.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

from .arch import NetConfig
from .modelfile import read_meta
from .train.options import TrainOptions


def clean(value: Any, limit: int = 200) -> str:
    """``value`` as one line of printable text: control characters shown escaped, long text cut."""
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else ascii(ch)[1:-1] for ch in str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _value(value: Any) -> float | int | None:
    """``value`` if metadata holds a number there, else None."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _number(value: Any, spec: str) -> str:
    return "?" if _value(value) is None else format(value, spec)


def _losses(meta: dict[str, Any]) -> dict[str, Any]:
    return meta["final_losses"] if isinstance(meta.get("final_losses"), dict) else {}


def _decay(o: TrainOptions) -> str:
    """`` falling linearly to 0`` for a run with ``--lr-decay linear``, else nothing (the paper's constant rate)."""
    return " falling linearly to 0" if o.lr_decay == "linear" else ""


def _hours(seconds: Any) -> str:
    return "?" if _value(seconds) is None else format(seconds / 3600, ".2f")


def _options(meta: dict[str, Any]) -> TrainOptions | None:
    return TrainOptions.stored_in(meta)


def _what(config: NetConfig, meta: dict[str, Any], opts: TrainOptions | None) -> str:
    if config.task == "style":
        return clean(meta.get("style_image", "?"), 28)
    return f"x{config.scale} {opts.loss.sr_loss if opts else '?'}"


def model_summary(name: str, path: Path) -> dict[str, Any]:
    """What ``percepta models --json`` prints for one model (metadata strings cleaned)."""
    config, meta = read_meta(path)
    opts = _options(meta)
    losses = _losses(meta)
    return {"name": name, "task": config.task, "path": str(path), "arch": config.arch, "scale": config.scale,
            "style_image": clean(meta["style_image"]) if config.task == "style" and "style_image" in meta else None,
            "sr_loss": opts.loss.sr_loss if opts and config.task == "sr" else None,
            "iterations": _value(meta.get("iterations")), "train_seconds": _value(meta.get("train_seconds")),
            "train_device": clean(meta.get("train_device", "")), "final_loss": _value(losses.get("total"))}  # fmt: skip


#: ``percepta models`` lines fit a terminal this wide (the file's path and the rest: --json, --markdown)
LINE_WIDTH = 100


def model_line(name: str, path: Path) -> str:
    """One line of ``percepta models``, at most :data:`LINE_WIDTH` characters: name, task, style or scale, the
    network (full or the slim ``-fast`` one), iterations, and where the file is (bundled, or its folder)."""
    from .arch import FAST_STYLE_ARCH
    from .modelfile import BUNDLED_DIR

    config, meta = read_meta(path)
    kind = "fast" if config.arch == FAST_STYLE_ARCH else "full"
    where = "bundled" if path.parent == BUNDLED_DIR else clean(path.parent, 26)
    iters = f"{_number(meta.get('iterations'), 'd')} iters"
    what = _what(config, meta, _options(meta))
    line = f"{clean(name, 24):24} {config.task:5} {what:24} {kind:4} {iters:>12}  {where}"
    return line[:LINE_WIDTH]


def model_card(path: Path) -> str:
    """A markdown card of a model file: the network, the recipe and budget, the final losses."""
    config, meta = read_meta(path)
    o = _options(meta)
    lines = [f"### `{clean(path.name.removesuffix('.safetensors'))}`"]
    if o is None:
        lines.append(f"- network: `{config.arch}`, {config.norm} norm (no training options recorded)")
    elif config.task == "style":
        w = o.loss
        warm = f"; warm-started from `{clean(meta['warm_start'])}`" if meta.get("warm_start") else ""
        if o.teacher:
            behind = (meta.get("options") or {}).get("teacher_margin", 0)  # absent: trained before it existed
            behind = f" behind a {behind} px reflection margin" if behind else ""
            warm += (f"; distilled from `{clean(meta.get('teacher') or Path(o.teacher).name)}` (its output{behind} "
                     f"is the content target), pixel {w.pixel:g}")  # fmt: skip
        residual = ", padded residual convs" if config.residual == "same" else ""
        if config.margin:
            residual += f", {config.margin} px reflection margin"
        before = meta.get("warm_start_iterations")
        earlier = (f", after {before} iterations ({_hours(meta.get('warm_start_seconds'))} h) of "
                   f"{clean(meta.get('warm_start_recipe') or 'a warm start')}" if before else "")  # fmt: skip
        lines += [
            f"- style: `{clean(meta.get('style_image'))}` (sha256 `{clean(meta.get('style_sha256', ''))[:12]}…`), "
            f"style size {o.style_size} px",
            f"- network: `{config.arch}`, width {config.width}, {config.norm} norm, {config.upsample} upsampling"
            f"{residual}, {config.macs_per_pixel() / 1000:.0f}k multiply-adds per pixel",
            f"- recipe: {clean(meta.get('recipe', 'percepta train style'))}: {o.size}x{o.size} crops, batch "
            f"{o.batch_size}, Adam lr {o.lr}{_decay(o)}, content {w.content} at {','.join(w.content_layers)}, "
            f"style {w.style} ({w.gram_reduction}) at {','.join(w.style_layers)}"
            f"{f' on {w.style_octaves} octaves' if w.style_octaves > 1 else ''}, TV {w.tv}{warm}",
            f"- budget: {meta.get('iterations')} iterations, {_hours(meta.get('train_seconds'))} h "
            f"on {clean(meta.get('train_device'))}{earlier} (percepta {clean(meta.get('percepta_version'))})",
        ]
        if meta.get("margin_note"):
            lines.append(f"- {clean(meta['margin_note'])}")
    else:
        s, w = config.scale, o.loss
        loss = f"feature reconstruction ({','.join(w.content_layers)})" if w.sr_loss == "feat" else "per-pixel"
        note = f" ({clean(meta['budget_note'], 400)})" if meta.get("budget_note") else ""
        lines += [
            f"- x{s} super-resolution, {loss} loss, TV {w.tv}",
            f"- network: `{config.arch}`, {config.norm} norm, {config.upsample} upsampling, skip `{config.skip}`",
            f"- recipe: {clean(meta.get('recipe'))}: {o.size} px patches ({o.size // s} px inputs: blur sigma 1 + "
            f"bicubic), batch {o.batch_size}, Adam lr {o.lr}{_decay(o)}; {len(meta.get('held_out', []))} photos "
            "held out",
            f"- budget: {meta.get('iterations')} iterations, {_number(meta.get('train_seconds', 0), '.0f')} s on "
            f"{clean(meta.get('train_device'))}{note}",
        ]
    losses = _losses(meta)
    size = path.stat().st_size / 1e6
    stored = "weights stored as fp16" if o is not None and o.half else "weights stored as fp32"
    return "\n".join(
        [
            *lines,
            f"- file: {stored} ({size:.1f} MB)",
            "- final losses (mean of the last 50 iterations): "
            + ", ".join(f"{clean(k)} {_number(v, '.4g')}" for k, v in losses.items()),
            "",
        ]
    )
