"""Model cards of the bundled models, from their own metadata (markdown on stdout).

    python scripts/model_cards.py > docs/model_cards.md
"""

from __future__ import annotations

from percepta.modelfile import BUNDLED_DIR, read_meta


def sr_card(path, config, meta) -> str:
    o = meta.get("options", {})
    losses = ", ".join(f"{k} {v:.4g}" for k, v in meta.get("final_losses", {}).items())
    s = config.scale
    loss = "feature reconstruction (" + ",".join(o.get("content_layers", [])) + ")" if o.get("sr_loss") == "feat" else "per-pixel"
    note = f" ({meta['budget_note']})" if meta.get("budget_note") else ""
    return "\n".join([
        f"### `{path.stem}`",
        f"- x{s} super-resolution, {loss} loss, TV {o.get('tv_weight')}",
        f"- network: `{config.arch}`, {config.norm} norm, {config.upsample} upsampling, skip `{config.skip}`; "
        f"weights stored as fp16 ({path.stat().st_size / 1e6:.1f} MB)",
        f"- recipe: {meta.get('recipe')}: {o.get('size')} px patches ({o.get('size', 0) // s} px inputs: blur sigma 1 + "
        f"bicubic), batch {o.get('batch_size')}, Adam lr {o.get('lr')}; {len(meta.get('held_out', []))} photos held out",
        f"- budget: {meta.get('iterations')} iterations, {meta.get('train_seconds', 0):.0f} s on "
        f"{meta.get('train_device')}{note}",
        f"- final losses (mean of the last 50 iterations): {losses}",
        "",
    ])


def card(path) -> str:
    config, meta = read_meta(path)
    if config.task == "sr":
        return sr_card(path, config, meta)
    o = meta.get("options", {})
    losses = ", ".join(f"{k} {v:.4g}" for k, v in meta.get("final_losses", {}).items())
    hours = meta.get("train_seconds", 0) / 3600
    warm = f"; warm-started from `{meta['warm_start']}`" if meta.get("warm_start") else ""
    return "\n".join([
        f"### `{path.stem}`",
        f"- style: `{meta.get('style_image')}` (sha256 `{meta.get('style_sha256', '')[:12]}…`), style size {o.get('style_size')} px",
        f"- network: `{config.arch}`, width {config.width}, {config.norm} norm, {config.upsample} upsampling; "
        f"weights stored as fp16 ({path.stat().st_size / 1e6:.1f} MB)",
        f"- recipe: {meta.get('recipe', 'percepta train style')}: {o.get('size')}x{o.get('size')} crops, batch "
        f"{o.get('batch_size')}, Adam lr {o.get('lr')}, content {o.get('content_weight')} at "
        f"{','.join(o.get('content_layers', []))}, style {o.get('style_weight')} ({o.get('gram_reduction')}) at "
        f"{','.join(o.get('style_layers', []))}, TV {o.get('tv_weight')}{warm}",
        f"- budget: {meta.get('iterations')} iterations, {hours:.2f} h on {meta.get('train_device')} "
        f"(percepta {meta.get('percepta_version')})",
        f"- final losses (mean of the last 50 iterations): {losses}",
        "",
    ])


if __name__ == "__main__":
    for p in sorted(BUNDLED_DIR.glob("*.safetensors")):
        print(card(p))
