"""Store each bundled model's inference graphs in its file (percepta.modelfile.save_model), so that the light
install runs them on ONNX Runtime without torch. Weights, config and metadata stay as they are (checked).

    python scripts/embed_graphs.py            # every bundled model
    python scripts/embed_graphs.py wave udnie # some
"""

from __future__ import annotations

import sys

import torch

from percepta.modelfile import BUNDLED_DIR, GRAPH_KEYS, load_model_file, save_model


def main(names: list[str]) -> None:
    paths = [BUNDLED_DIR / f"{n}.safetensors" for n in names] or sorted(BUNDLED_DIR.glob("*.safetensors"))
    for path in paths:
        before = load_model_file(path)
        half = any(v.dtype == torch.float16 for v in _raw(path).values())
        save_model(path, before.net, before.meta, half=half)
        after = load_model_file(path)
        same = all(torch.equal(a, b) for a, b in zip(before.net.state_dict().values(), after.net.state_dict().values()))
        assert same and after.config == before.config and after.meta == before.meta, path
        print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB, graphs {sorted(_graph_keys(path))}")


def _raw(path):
    from safetensors.torch import load_file

    return {k: v for k, v in load_file(path).items() if k not in GRAPH_KEYS.values()}


def _graph_keys(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as fh:
        return set(fh.keys()) & set(GRAPH_KEYS.values())


if __name__ == "__main__":
    main(sys.argv[1:])
