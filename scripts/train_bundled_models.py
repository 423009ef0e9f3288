"""Train the style models bundled with percepta (the CPU recipe), resumably.

    python scripts/train_bundled_models.py [--iters 1000] [--warm-iters 500] [--styles wave,starry_night,...]
    python scripts/train_bundled_models.py --recipe balanced --warm-iters 300     # the second stage
    python scripts/train_bundled_models.py --recipe balanced --styles composition_vii --warm-iters 800 \
        --init-from src/percepta/models/wave.safetensors --work ~/.cache/percepta-train/stage3   # a new style
    python scripts/train_bundled_models.py --recipe fast --warm-iters 400 --work DIR        # the -fast students

Checkpoints, logs and models go to ``~/.cache/percepta-train/`` (outside the work tree), so the
script can be stopped and re-run: each style resumes from its checkpoint, finished styles are skipped.
Copy the finished ``models/*.safetensors`` into ``src/percepta/models/``.

The CPU recipe (a 2-core machine does ~1 iteration/s with it, vs ~0.13/s at the paper's settings):
128x128 crops (paper 256) with the style image at 256 px (half the authors' usual 512, so strokes keep
their size relative to the crop), batch 4, Adam 1e-3, half-width network with 3 residual blocks
(paper: full width, 5), instance norm and resize-convolution (no checkerboard), the first style trained
from scratch and every later one warm-started from it. The shipped models then had a second stage,
``--recipe balanced``: 300 more iterations from each first-stage model at the lower style weights of
``BALANCED`` (``~/.cache/percepta-train/balanced/``; the model cards record both stages); ``starry_night``
and ``the_scream`` had a third, 400 iterations at the still lower weights now in ``BALANCED`` (5e-5 and
2e-4 before), and ``composition_vii`` one stage of 800 from ``wave`` at its ``BALANCED`` weight. A new stage
needs a new ``--work`` folder: a style whose checkpoint there is finished is skipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

from percepta.arch import EDGE_MARGIN, NetConfig
from percepta.hyperparams import LossWeights
from percepta.train import TrainOptions, train_resumable

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WORK = Path.home() / ".cache" / "percepta-train"
SHIPPED = Path(__file__).resolve().parents[1] / "src" / "percepta" / "models"
HELD_OUT = ("chicago.jpg", "hoovertowernight.jpg", "amber.jpg")
#: style -> style weight (Frobenius form, see percepta.hyperparams.LossWeights); TV weight
STYLES = {
    "wave": (2e-4, 1.0),
    "starry_night": (2e-4, 1.0),
    "the_scream": (4e-4, 1.0),
    "udnie": (4e-4, 1.0),
    "composition_vii": (2e-4, 1.0),
}
#: ``--recipe balanced``: the style weights of a second, warm-started stage that keeps more of the photo
#: (the first stage's models washed content out; measured with ``percepta eval style`` on chicago.jpg, the
#: wave model at 5e-5 kept more content and more style than the authors' model; starry_night at 5e-5 and
#: the_scream at 2e-4 still kept less of chicago than the authors' models, and went down to these values)
BALANCED = {"wave": 5e-5, "starry_night": 2e-5, "the_scream": 5e-5, "udnie": 2e-4, "composition_vii": 5e-5}
#: ``--recipe fast``: weight of the per-pixel term against the teacher's output (on the 0..1 scale, where the
#: relu2_2 content term on the 0..255 features is far larger: 2e6 puts it at ~1/10 of the content term at the start)
FAST_PIXEL = 2e6
#: ``--recipe gpu``: the authors' own weights per painting (shared/data/README.md): content, style on the
#: mean-of-Gram-entries form (``gram_reduction="mean"``), their sum-form TV weight, and their style size.
#: Our TV is a mean on the 0..255 scale: at 256 px crops, ours = theirs / 5e-6 (percepta.losses.total_variation).
AUTHORS = {
    "wave": (1.0, 5.0, 1e-4, 512),
    "starry_night": (1.0, 3.0, 1e-5, 512),
    "composition_vii": (1.0, 5.0, 1e-6, 512),
    "the_scream": (1.0, 20.0, 1e-5, 384),
    "udnie": (0.5, 10.0, 1e-6, 256),
}
#: styles trained by default (composition_vii when time allows: --styles ...,composition_vii)
DEFAULT_STYLES = ("wave", "starry_night", "the_scream", "udnie")


def recipe(style: str, iters: int, init_from: str | None, balanced: bool = False, work: Path = WORK) -> TrainOptions:
    style_weight, tv_weight = STYLES[style]
    work = work / "balanced" if balanced else work
    if balanced:
        style_weight = BALANCED[style]
    return TrainOptions(
        task="style",
        data=str(DATA / "photos"),
        output=str(work / "models" / f"{style}.safetensors"),
        style=str(DATA / "styles" / f"{style}.jpg"),
        size=128,
        style_size=256,
        batch_size=4,
        lr=1e-3,
        iters=iters,
        loss=LossWeights(style=style_weight, tv=tv_weight),
        net=NetConfig.style(norm="instance", upsample="resize", width=0.5, blocks=3),
        seed=0,
        exclude=HELD_OUT,
        checkpoint=str(work / f"{style}.ckpt"),
        checkpoint_every=50,
        val_every=100,
        val_images=[str(DATA / "content" / n) for n in HELD_OUT],
        init_from=init_from,
        half=True,
        progress=sys.stderr.isatty(),
        extra_meta={
            "recipe": f"cpu-128{' balanced' if balanced else ''} (scripts/train_bundled_models.py)",
            "warm_start": init_from and Path(init_from).name,
        },
    )


def fast_recipe(style: str, iters: int, init_from: str | None, pixel: float, work: Path = WORK) -> TrainOptions:
    """The CPU ``-fast`` student of a shipped style model: the slim network (:data:`percepta.arch.FAST_STYLE_ARCH`)
    distilled from it (``teacher``: its output is the content target, plus a per-pixel term against it) at
    the teacher's own scale (128 px crops, the painting at 256 px) and style weight (``BALANCED``)."""
    shipped = SHIPPED / f"{style}.safetensors"
    opts = recipe(style, iters, init_from)
    work = work / "fast"
    return dataclasses.replace(
        opts,
        output=str(work / "models" / f"{style}-fast.safetensors"),
        checkpoint=str(work / f"{style}-fast.ckpt"),
        net=NetConfig.fast_style(),
        loss=LossWeights(style=BALANCED[style], tv=STYLES[style][1], pixel=pixel),
        teacher=str(shipped),
        extra_meta={"recipe": "cpu-128 fast (scripts/train_bundled_models.py --recipe fast)",
                    "teacher": shipped.name, "warm_start": init_from and Path(init_from).name},
    )  # fmt: skip


def gpu_recipe(style: str, data: Path, work: Path, iters: int, budget: float | None, device: str = "cuda",
               size: int = 256, teacher: str | None = None) -> TrainOptions:  # fmt: skip
    """The paper-size network (or, with ``teacher``, its ``-fast`` student) for one painting.

    Paper settings: 256 px crops, batch 4, Adam 1e-3, relu2_2 content, relu1_2..relu4_3 style. Flagged
    deviations: instance norm and resize-convolution (the authors' later models; no checkerboard), bf16
    mixed precision on CUDA, and for ``-fast`` the slim network (:data:`percepta.arch.FAST_STYLE_ARCH`),
    distilled from the full model (its output is the content target).
    """
    content, style_weight, authors_tv, style_size = AUTHORS[style]
    name = f"{style}-fast" if teacher else style
    net = NetConfig.fast_style() if teacher else NetConfig.style(norm="instance", upsample="resize")
    return TrainOptions(
        task="style", data=str(data / "photos"), output=str(work / "models" / f"{name}.safetensors"),
        style=str(data / "styles" / f"{style}.jpg"), net=net, size=size, style_size=style_size,
        loss=LossWeights(content=content, style=style_weight, tv=authors_tv / 5e-6, gram_reduction="mean"),
        iters=iters, time_budget=budget, checkpoint=str(work / f"{name}.ckpt"), checkpoint_every=1000,
        val_every=0, teacher=teacher, half=True, amp="bf16" if device.startswith("cuda") else "off", device=device,
        progress=False, extra_meta={"recipe": f"gpu-{size} (scripts/train_bundled_models.py --recipe gpu)",
                                    **({"teacher": Path(teacher).name} if teacher else {})},
    )  # fmt: skip


def run_gpu(args: argparse.Namespace) -> None:
    """Every style in its own process (CPU threads shared out), each: the full model, then its -fast student."""
    styles = args.styles.split(",")
    if args.parallel and len(styles) > 1:
        threads = str(max(1, (os.cpu_count() or 2) // len(styles)))
        base = [sys.executable, __file__, "--recipe", "gpu", "--data", str(args.data), "--work", str(args.work),
                "--iters", str(args.iters), "--fast-iters", str(args.fast_iters), "--device", args.device,
                "--size", str(args.size)]  # fmt: skip
        base += ["--time-budget", str(args.time_budget)] if args.time_budget else []
        base += ["--fast-budget", str(args.fast_budget)] if args.fast_budget else []
        procs = [
            subprocess.Popen([*base, "--styles", s], env={**os.environ, "OMP_NUM_THREADS": threads}) for s in styles
        ]
        if any(p.wait() for p in procs):
            raise SystemExit("a style's run failed (see its output above)")
        return
    for style in styles:
        full = gpu_recipe(style, args.data, args.work, args.iters, args.time_budget, args.device, args.size)
        start = time.perf_counter()
        print(f"{style}: {train_resumable(full)} ({time.perf_counter() - start:.0f} s)", flush=True)
        if args.fast_iters:
            fast = gpu_recipe(style, args.data, args.work, args.fast_iters, args.fast_budget, args.device, args.size,
                              teacher=full.output)  # fmt: skip
            print(f"{style}-fast: {train_resumable(fast)}", flush=True)


def edge_margin(net, meta: dict) -> tuple[object, dict]:
    """A style network trained without a margin, given :data:`percepta.arch.EDGE_MARGIN` (weights unchanged),
    and its metadata with a note of the edge lines measured on the held-out photos at 512 px without and with
    it."""
    from statistics import mean

    import torch

    from percepta.image import load_rgb
    from percepta.infer import as_batch
    from percepta.metrics import edge_busyness

    with_margin = net.with_margin(EDGE_MARGIN)
    photos = [DATA / "content" / n for n in HELD_OUT]
    with torch.no_grad():
        xs = [torch.from_numpy(as_batch(load_rgb(photo), 512)) for photo in photos]
        before, after = ([v for x in xs for v in edge_busyness(n(x))] for n in (net.eval(), with_margin))
    note = (f"{EDGE_MARGIN} px reflection margin set after training (weights unchanged): the edge strips of its "
            f"outputs for {', '.join(p.name for p in photos)} at 512 px, {mean(before):.2f}x the inside's steps "
            f"without it (busiest {max(before):.2f}x), {mean(after):.2f}x with it (busiest {max(after):.2f}x; "
            "percepta.metrics.edge_busyness)")  # fmt: skip
    return with_margin, {**meta, "margin_note": note}


def add_margin(names: list[str]) -> None:
    """``--add-margin``: give shipped style models trained without a margin :data:`EDGE_MARGIN`, in place."""
    from percepta.modelfile import BUNDLED_DIR, load_model, save_model

    for name in names:
        path = BUNDLED_DIR / f"{name}.safetensors"
        model = load_model(path)
        if model.config.margin:
            print(f"{name}: has a {model.config.margin} px margin already")
            continue
        net, meta = edge_margin(model.net, dict(model.meta))
        save_model(path, net, meta, half=True)
        print(f"{name}: {meta['margin_note']}")


def install(finished: Path) -> None:
    """Copy finished models into the package, recording the warm start's own budget and chain of recipes
    (read from the shipped model it started from, before it is replaced) so that the card tells the whole
    training."""
    from percepta.modelfile import BUNDLED_DIR, load_model, read_meta, save_model

    finished_models = sorted(finished.glob("*.safetensors"))
    starts = {}
    for path in finished_models:
        start = BUNDLED_DIR / Path(str(read_meta(path)[1].get("warm_start") or "-")).name
        starts[path] = read_meta(start)[1] if start.is_file() else None
    for path in finished_models:
        model = load_model(path)
        meta = dict(model.meta)
        if (before := starts[path]) is not None:
            meta["warm_start_iterations"] = before.get("iterations", 0) + before.get("warm_start_iterations", 0)
            meta["warm_start_seconds"] = before.get("train_seconds", 0) + before.get("warm_start_seconds", 0)
            chain = [*(before.get("warm_start_recipe") or "").split(", then "), before.get("recipe")]
            chain = [r for i, r in enumerate(chain) if r and (i == 0 or r != chain[i - 1])]  # each stage once
            meta["warm_start_recipe"] = ", then ".join(chain)
        net = model.net
        if model.task == "style" and not model.config.margin:  # full models train without it (cheaper)
            net, meta = edge_margin(net, meta)
        shipped = BUNDLED_DIR / path.name
        save_model(shipped, net, meta, half=True)
        print(f"installed {shipped}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=1000, help="iterations of the first style (cpu), of each (gpu)")
    parser.add_argument("--warm-iters", type=int, default=500, help="iterations of each warm-started style")
    parser.add_argument("--styles", default=",".join(DEFAULT_STYLES))
    parser.add_argument("--recipe", choices=("cpu", "balanced", "fast", "gpu"), default="cpu",
                        help="cpu: the first stage; balanced: --warm-iters more from each shipped model, at BALANCED; "
                             "fast: a -fast student of each shipped model (--warm-iters from --init-from, else its "
                             "shipped -fast model, else the first student; --iters with no warm start); "
                             "gpu: the paper-size network and its -fast student")  # fmt: skip
    parser.add_argument("--work", type=Path, help=f"models, checkpoints and logs (default {WORK}, gpu: its gpu/); "
                        "a new folder for a new stage, since finished styles are skipped")  # fmt: skip
    parser.add_argument("--init-from", metavar="MODEL", help="warm start of every style (default: cpu, the first "
                        "style's output; balanced, fast: each style's shipped model)")  # fmt: skip
    parser.add_argument("--pixel-weight", type=float, default=FAST_PIXEL, help="--recipe fast: the per-pixel term")
    g = parser.add_argument_group("--recipe gpu")
    g.add_argument("--data", type=Path, default=DATA, help="folder with photos/ and styles/")
    g.add_argument("--fast-iters", type=int, default=0, help="iterations of each -fast student (0: none)")
    g.add_argument("--time-budget", type=float, help="seconds for each full model")
    g.add_argument("--fast-budget", type=float, help="seconds for each -fast student")
    g.add_argument("--parallel", action="store_true", help="one process per style, all at once")
    g.add_argument("--device", default="cuda")
    g.add_argument("--size", type=int, default=256, help="training crop (paper: 256)")
    parser.add_argument("--install", type=Path, metavar="MODELS_DIR", help="copy the finished models in MODELS_DIR "
                        "into src/percepta/models, with their warm start's budget and (style models trained "
                        "without one) the edge margin, and stop")  # fmt: skip
    parser.add_argument("--add-margin", metavar="STYLES", help="give these shipped models trained without a margin "
                        f"the {EDGE_MARGIN} px edge margin (weights unchanged), and stop")  # fmt: skip
    args = parser.parse_args()
    if args.install:
        install(args.install)
        return
    if args.add_margin:
        add_margin(args.add_margin.split(","))
        return
    if args.recipe == "gpu":
        args.work = args.work or WORK / "gpu"
        run_gpu(args)
        return
    work = args.work or WORK
    first: str | None = args.init_from
    for style in args.styles.split(","):
        if args.recipe == "fast":  # each student from --init-from, else its shipped self, else the first student
            own = SHIPPED / f"{style}-fast.safetensors"
            init = args.init_from or (str(own) if own.is_file() else first)
            opts = fast_recipe(style, args.iters if init is None else args.warm_iters, init, args.pixel_weight, work)
        elif args.recipe == "balanced":  # each style from --init-from, else from its shipped model
            own = SHIPPED / f"{style}.safetensors"
            init = args.init_from or (str(own) if own.is_file() else None)
            if init is None:
                raise SystemExit(f"{style}: no shipped model to warm-start from; give --init-from MODEL")
            opts = recipe(style, args.warm_iters, init, balanced=True, work=work)
        else:
            opts = recipe(style, args.iters if first is None else args.warm_iters, first, work=work)
        print(f"{style}: {train_resumable(opts)}", flush=True)
        first = first or opts.output


if __name__ == "__main__":
    main()
