"""Model cards of the bundled models, from their own metadata (markdown on stdout).

    python scripts/model_cards.py > docs/model_cards.md
"""

from __future__ import annotations

from pathlib import Path

from percepta.modelfile import BUNDLED_DIR, read_meta
from percepta.nets import NetConfig


def _style_lines(config: NetConfig, meta: dict, o: dict) -> list[str]:
    warm = f"; warm-started from `{meta['warm_start']}`" if meta.get("warm_start") else ""
    hours = meta.get("train_seconds", 0) / 3600
    return [
        f"- style: `{meta.get('style_image')}` (sha256 `{meta.get('style_sha256', '')[:12]}…`), style size {o.get('style_size')} px",
        f"- network: `{config.arch}`, width {config.width}, {config.norm} norm, {config.upsample} upsampling",
        f"- recipe: {meta.get('recipe', 'percepta train style')}: {o.get('size')}x{o.get('size')} crops, batch "
        f"{o.get('batch_size')}, Adam lr {o.get('lr')}, content {o.get('content_weight')} at "
        f"{','.join(o.get('content_layers', []))}, style {o.get('style_weight')} ({o.get('gram_reduction')}) at "
        f"{','.join(o.get('style_layers', []))}, TV {o.get('tv_weight')}{warm}",
        f"- budget: {meta.get('iterations')} iterations, {hours:.2f} h on {meta.get('train_device')} "
        f"(percepta {meta.get('percepta_version')})",
    ]


def _sr_lines(config: NetConfig, meta: dict, o: dict) -> list[str]:
    s = config.scale
    layers = ",".join(o.get("content_layers", []))
    loss = f"feature reconstruction ({layers})" if o.get("sr_loss") == "feat" else "per-pixel"
    note = f" ({meta['budget_note']})" if meta.get("budget_note") else ""
    return [
        f"- x{s} super-resolution, {loss} loss, TV {o.get('tv_weight')}",
        f"- network: `{config.arch}`, {config.norm} norm, {config.upsample} upsampling, skip `{config.skip}`",
        f"- recipe: {meta.get('recipe')}: {o.get('size')} px patches ({o.get('size', 0) // s} px inputs: blur sigma 1 + "
        f"bicubic), batch {o.get('batch_size')}, Adam lr {o.get('lr')}; {len(meta.get('held_out', []))} photos held out",
        f"- budget: {meta.get('iterations')} iterations, {meta.get('train_seconds', 0):.0f} s on "
        f"{meta.get('train_device')}{note}",
    ]


def card(path: Path) -> str:
    config, meta = read_meta(path)
    o = meta.get("options", {})
    lines = _sr_lines(config, meta, o) if config.task == "sr" else _style_lines(config, meta, o)
    losses = ", ".join(f"{k} {v:.4g}" for k, v in meta.get("final_losses", {}).items())
    return "\n".join([f"### `{path.stem}`", *lines,
                      f"- file: weights stored as fp16 ({path.stat().st_size / 1e6:.1f} MB)",
                      f"- final losses (mean of the last 50 iterations): {losses}", ""])


if __name__ == "__main__":
    for p in sorted(BUNDLED_DIR.glob("*.safetensors")):
        print(card(p))
