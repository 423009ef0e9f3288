"""The package's shape: a torch-free command line and public API surface, one home per name."""

from __future__ import annotations

import subprocess
import sys
import types

import percepta


def _modules_after(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    return set(done.stdout.split())


def test_help_and_the_model_list_do_not_import_torch() -> None:
    assert "torch" not in _modules_after("import percepta")
    assert "torch" not in _modules_after("from percepta.cli import build_parser; build_parser().format_help()")
    assert "torch" not in _modules_after("from percepta.cli import main; main(['models'])")
    assert "torch" not in _modules_after("import percepta.hyperparams, percepta.arch, percepta.train.options")


def test_public_api_names_are_functions_not_modules() -> None:
    for name in percepta.__all__:
        value = getattr(percepta, name)
        assert not isinstance(value, types.ModuleType), name
    assert callable(percepta.upscale) and callable(percepta.optimize) and callable(percepta.stylize)
    from percepta import optimization, upscaling

    assert callable(percepta.upscale) and percepta.upscale is upscaling.upscale  # not shadowed by the module
    assert percepta.optimize is optimization.stylize_by_optimization


def test_the_papers_defaults_live_in_one_place() -> None:
    from percepta import hyperparams as hp
    from percepta.cli import build_parser
    from percepta.train.options import TrainOptions

    style = TrainOptions("style", "photos", "m.safetensors", style="s.jpg")
    sr = TrainOptions("sr", "photos", "m.safetensors")
    assert (style.size, style.iters, style.batch_size, style.lr) == (hp.STYLE_CROP, hp.STYLE_ITERATIONS, 4, 1e-3)
    assert (sr.size, sr.iters, sr.loss.sr_loss) == (hp.SR_PATCH, hp.SR_ITERATIONS, "feat")
    assert style.loss == hp.LossWeights() and style.loss.style == hp.STYLE_WEIGHT
    args = build_parser().parse_args(["train", "style", "--style", "s.jpg", "--data", "d", "-o", "m.safetensors"])
    assert (args.style_weight, args.size, args.style_size) == (hp.STYLE_WEIGHT, hp.STYLE_CROP, hp.STYLE_IMAGE_SIZE)
    args = build_parser().parse_args(["train", "sr", "--data", "d", "-o", "m.safetensors"])
    assert args.size == hp.SR_PATCH and args.iters is None  # None: the task's paper default in TrainOptions
