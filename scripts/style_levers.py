"""Which training lever makes the style models paint large, bold motifs? Short measured runs (issue 23).

    OMP_NUM_THREADS=1 nice -n 10 python scripts/style_levers.py --runs base,painting512,authors_loss ...
    python scripts/style_levers.py --list            # the candidates and what each changes
    python scripts/style_levers.py --table           # the measured table (markdown) from the results file

Each candidate is one short training run on ``wave`` (the painting whose bundled model falls shortest),
in stages (``--stages 100,200,300``: the run continues from its own checkpoint), and after every stage the
model stylises chicago.jpg at 510 px and is measured: **change** and **motif scale**
(:mod:`percepta.lookmetrics`, the look the issue asks for: authors' model 0.299 / 29.6 px, ours 0.154 /
20.6 px), **content loss** (relu2_2) and **style ratio** (painting at 512 px) as ``percepta eval style``
measures them. The bundled model and the authors' output are measured too (``bundled``, ``authors``).
Results are appended to :data:`RESULTS` (in the repository, so that the table can always be written again;
the rows measured before 2 December 2026 were recovered from docs/style_levers.md at its printed precision
when the cache that held them was lost), outputs saved under ``--images`` (default /tmp/levers; never in
the repository: chicago and the authors' outputs are for research use only), models and checkpoints under
``WORK`` (default ``~/.cache/percepta-train/levers``). Runs already measured are skipped.

Every candidate changes one thing from its parent (``LEVERS``). ``per_layer_equal`` reweights the style
layers so that each has the same share of the photo's style loss (the authors' and eq. 4's forms both leave
relu4_3, the layer that sees large motifs, with 1e-3 (Frobenius) to 1e-5 (mean) of it); LossWeights has one
style weight for all layers, so this script wraps :func:`percepta.losses.style_reconstruction_loss` for it,
telling the layers apart by their channel count.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WORK = Path.home() / ".cache" / "percepta-train" / "levers"
#: every measured row, one JSON object a line (lever, iterations, train seconds of the stage, the four numbers)
RESULTS = Path(__file__).resolve().parents[1] / "docs" / "bench" / "style_levers.jsonl"
BUNDLED = Path(__file__).resolve().parents[1] / "src" / "percepta" / "models" / "wave.safetensors"
HELD_OUT = ("chicago.jpg", "hoovertowernight.jpg", "amber.jpg")
#: the authors' weights for wave (shared/data/README.md): content 1, style 5 on the mean-of-Gram-entries
#: form, TV 1e-4 on their sum form = 1e-4 / 5e-6 = 20 on ours (percepta.losses.total_variation)
AUTHORS_LOSS = dict(content=1.0, style=5.0, tv=20.0, gram_reduction="mean")

#: name -> (parent, what it changes, the changes). Keys: size (crop), style_size, loss (LossWeights fields),
#: net (NetConfig.style fields), init (warm start), layer_shares (per-layer multipliers of the style loss by
#: channel count), note.
LEVERS: dict[str, tuple[str | None, str, dict]] = {
    "base": (None, "the bundled models' first-stage CPU recipe from scratch: 128 px crops, painting at 256 px, "
             "half width, 3 blocks, instance norm, Frobenius style 2e-4, TV 1", {}),
    "painting512": ("base", "painting at 512 px (the authors' size for wave)", {"style_size": 512}),
    "authors_loss": ("painting512", "the authors' loss form and weights: mean of Gram entries, style 5, TV 20",
                     {"loss": AUTHORS_LOSS}),
    "tv20": ("painting512", "only the authors' TV weight (20 on our scale) on our Frobenius loss",
             {"loss": {"tv": 20.0}}),
    "per_layer_equal": ("authors_loss", "each style layer the same share of the photo's style loss",
                        {"layer_shares": "equal"}),
    "batch_norm": ("authors_loss", "batch norm (the authors' eccv16 wave) instead of instance norm",
                   {"net": {"norm": "batch"}}),
    "batch_norm_frobenius": ("painting512", "batch norm on our Frobenius loss (style 2e-4, TV 1)",
                             {"net": {"norm": "batch"}}),
    "full_net": ("authors_loss", "the paper's network: full width, 5 residual blocks (larger receptive field)",
                 {"net": {"width": 1.0, "blocks": 5}}),
    "blocks5": ("authors_loss", "5 residual blocks at half width (receptive field without the width)",
                {"net": {"blocks": 5}}),
    "full_net_frobenius": ("painting512", "the paper's network on our Frobenius loss (style 2e-4, TV 1)",
                           {"net": {"width": 1.0, "blocks": 5}}),
    "crop256": ("authors_loss", "256 px crops (the paper's)", {"size": 256}),
    "eccv16": ("authors_loss", "the authors' eccv16 wave as the paper trains it: the full network (full width, "
               "5 blocks), batch norm, transposed convolutions, 256 px crops",
               {"size": 256, "net": {"width": 1.0, "blocks": 5, "norm": "batch", "upsample": "transpose"}}),
    "eccv16_fp32": ("eccv16", "the same, to be run in fp32 (--amp off): did bf16 make eccv16 collapse at ~1,070?", {}),
    "gpu_recipe": ("eccv16", "the GPU session's recipe for wave (scripts/train_bundled_models.py --recipe gpu): "
                   "eccv16 with instance norm and resize-convolutions, run in bf16 as there: does it collapse too?",
                   {"net": {"norm": "instance", "upsample": "resize"}}),
    "painting768": ("blocks5", "the painting at 768 px (1.5x the authors' 512: its motifs 1.5x larger in pixels)",
                    {"style_size": 768}),
    "scene256": ("blocks5", "the photos' shorter side at 256 px (the paper's scene scale), still 128 px crops",
                 {"photo_size": 256}),
    "octaves2": ("blocks5", "the style loss on two octaves: also the output and the painting halved (a Gram "
                 "pyramid, Snelgrove 2017), so that the same layers see structures twice as large",
                 {"loss": {"style_octaves": 2}}),
    "octaves3": ("octaves2", "three octaves (halved and quartered): structures four times as large",
                 {"loss": {"style_octaves": 3}}),
    "octaves2_c2": ("octaves2", "two octaves with the content weight doubled (octaves2 lost the buildings)",
                    {"loss": {"content": 2.0}}),
    "batch_octaves2": ("octaves2", "batch norm (the bold-batch run's network) with two octaves",
                       {"net": {"norm": "batch"}}),
    "warm_start": ("authors_loss", "warm start from the bundled wave model", {"init": str(BUNDLED)}),
    # from the bundled model: past the first few hundred iterations, where every from-scratch run still
    # paints fine texture, so that a lever's own effect on the motifs shows in a short run
    "warm_same": ("base", "the bundled model trained on with its own last recipe (Frobenius style 5e-5): "
                  "the control for the warm starts", {"init": str(BUNDLED), "loss": {"style": 5e-5}}),
    "warm_painting512": ("warm_same", "painting at 512 px", {"style_size": 512}),
    "warm_painting768": ("warm_same", "painting at 768 px (1.5x the authors' size)", {"style_size": 768}),
    "warm_crop256": ("warm_painting512", "256 px crops (the paper's; the photos' shorter side at 256 px, so scenes "
                     "at twice the scale)", {"size": 256}),
    "warm_tv20": ("warm_same", "the authors' TV weight (20 on our scale, 20x the bundled recipe's)",
                  {"loss": {"tv": 20.0}}),
    "warm_full_style": ("warm_painting512", "the default style weight 2.5e-4 (the authors' balance; the "
                        "bundled model's 5e-5 was lowered to win the content number)", {"loss": {"style": 2.5e-4}}),
    "warm_tv300": ("warm_same", "TV weight 300 (the quick recipe's: it made la_muse's and mosaic's marks larger, "
                   "docs/adapt_base.md)", {"loss": {"tv": 300.0}}),
    "warm_tv300_x3": ("warm_tv300", "with the quick recipe's style weight too (1.5e-4, three times the bundled)",
                      {"loss": {"style": 1.5e-4}}),
}  # fmt: skip
BASE_NET = dict(norm="instance", upsample="resize", width=0.5, blocks=3)
BASE_LOSS = dict(content=1.0, style=2e-4, tv=1.0, gram_reduction="frobenius")


def settings(name: str) -> dict:
    """A lever's full settings: its parent's, then its own changes."""
    parent, _, own = LEVERS[name]
    out = settings(parent) if parent else {"size": 128, "style_size": 256, "loss": BASE_LOSS, "net": BASE_NET}
    out = {**out, "loss": dict(out["loss"]), "net": dict(out["net"])}
    for key, value in own.items():
        out[key] = {**out[key], **value} if key in ("loss", "net") else value
    return out


def layer_shares(style_size: int, reduction: str) -> dict[int, float]:
    """Multipliers by channel count that give each style layer the same share of chicago's style loss
    (the photo against the painting), keeping the total the same."""
    import torch

    from percepta.hyperparams import STYLE_LAYERS
    from percepta.image import load_rgb, resize_long_side, to_tensor
    from percepta.losses import gram_matrix, style_reconstruction_loss
    from percepta.lossnet import VGG16LossNetwork

    net = VGG16LossNetwork(list(STYLE_LAYERS))
    with torch.no_grad():
        painting = net(to_tensor(resize_long_side(load_rgb(DATA / "styles" / "wave.jpg"), style_size)), STYLE_LAYERS)
        photo = net(to_tensor(resize_long_side(load_rgb(DATA / "content" / "chicago.jpg"), 256)), STYLE_LAYERS)
        parts = {
            int(photo[n].shape[1]): float(
                style_reconstruction_loss(gram_matrix(photo[n]), gram_matrix(painting[n]), reduction)
            )
            for n in STYLE_LAYERS
        }
    total = sum(parts.values())
    return {c: total / len(parts) / v for c, v in parts.items()}


@contextlib.contextmanager
def layer_shares_used(shares: dict[int, float] | None):
    """While open, each style layer's loss is multiplied by ``shares[C]`` (C its channel count) in every
    PerceptualLoss; ``None``: unchanged."""
    from percepta import losses

    plain = losses.style_reconstruction_loss

    def weighted(gram, target_gram, reduction="frobenius"):
        return shares[int(gram.shape[-1])] * plain(gram, target_gram, reduction)

    if shares is not None:
        losses.style_reconstruction_loss = weighted
    try:
        yield
    finally:
        losses.style_reconstruction_loss = plain


class Measure:
    """chicago at 510 px (longer side), stylised and measured as the issue does, against ``painting``."""

    def __init__(self, painting: str = "wave") -> None:
        from percepta.evaluate import STYLE_EVAL_SIZE
        from percepta.image import load_rgb, resize_long_side, to_tensor
        from percepta.lossnet import VGG16LossNetwork

        self.photo = resize_long_side(load_rgb(DATA / "content" / "chicago.jpg"), 510)
        self.painting = to_tensor(resize_long_side(load_rgb(DATA / "styles" / f"{painting}.jpg"), STYLE_EVAL_SIZE,
                                                   upscale=True))  # fmt: skip
        self.lossnet = VGG16LossNetwork(["relu1_2", "relu2_2", "relu3_3", "relu4_3"])

    def __call__(self, output) -> dict:
        import torch

        from percepta.image import to_tensor
        from percepta.lookmetrics import change, motif_scale
        from percepta.metrics import feature_distance, style_ratio

        output = output.resize(self.photo.size, resample=3) if output.size != self.photo.size else output
        o, p = to_tensor(output), to_tensor(self.photo)
        with torch.no_grad():
            content = feature_distance(o, p, self.lossnet, "relu2_2")
            ratio = style_ratio(o, p, self.painting, self.lossnet)
        return {"change": change(output, self.photo), "motif_scale": motif_scale(output), "content": content,
                "style_ratio": ratio}  # fmt: skip


def run_lever(
    name: str, stages: list[int], work: Path, images: Path, measure: Measure, done: set, amp: str = "off"
) -> list[dict]:
    """Train lever ``name`` through ``stages`` (iterations), measuring after each; skips stages in ``done``."""
    s = settings(name)
    shares = None
    if s.get("layer_shares") == "equal":
        shares = layer_shares(s["style_size"], s["loss"]["gram_reduction"])
        print(f"{name}: style layer multipliers by channel count {shares}", flush=True)
    with layer_shares_used(shares):
        return _run_stages(name, s, stages, work, images, measure, done, amp)


def _run_stages(
    name: str, s: dict, stages: list[int], work: Path, images: Path, measure: Measure, done: set, amp: str
) -> list:
    from percepta.arch import NetConfig
    from percepta.hyperparams import LossWeights
    from percepta.infer import stylize
    from percepta.modelfile import load_model
    from percepta.train import TrainOptions, resumed_options, train

    ckpt = work / name / "run.ckpt"
    rows = []
    for iters in stages:
        if (name, iters) in done:
            continue
        opts = TrainOptions(
            task="style", data=str(DATA / "photos"), output=str(work / name / f"it{iters}.safetensors"),
            style=str(DATA / "styles" / "wave.jpg"), size=s["size"], style_size=s["style_size"], batch_size=4,
            photo_size=s.get("photo_size"), lr=1e-3, iters=iters, loss=LossWeights(**s["loss"]),
            net=NetConfig.style(**s["net"]), seed=0,
            exclude=HELD_OUT, checkpoint=str(ckpt), checkpoint_every=50, val_every=0, init_from=s.get("init"),
            overwrite=True, progress=False, amp=amp, extra_meta={"recipe": f"style_levers {name}"},
        )  # fmt: skip
        resume = ckpt if ckpt.is_file() else None
        if resume is not None:
            opts = resumed_options(resume, opts)
        start = time.perf_counter()
        train(opts, resume=resume)
        seconds = time.perf_counter() - start
        output = stylize(measure.photo, load_model(opts.output))
        output.save(images / f"{name}_it{iters}.png")
        row = {"lever": name, "iters": iters, "train_s": round(seconds, 1), **measure(output)}
        print(json.dumps(row), flush=True)
        record(RESULTS, row)
        rows.append(row)
    return rows


def record(results: Path, row: dict) -> None:
    """Append one measured row to a results file (JSON lines)."""
    with open(results, "a") as f:
        f.write(json.dumps(row) + "\n")


def recorded(results: Path) -> list[dict]:
    """Every row of a results file (none if it does not exist yet)."""
    lines = results.read_text().splitlines() if results.is_file() else []
    return [json.loads(line) for line in lines if line.strip()]


def references(images: Path, measure: Measure, done: set) -> None:
    from percepta.image import load_rgb
    from percepta.infer import stylize
    from percepta.modelfile import load_model

    if ("authors", 40000) not in done:
        authors = load_rgb(DATA / "reference" / "eccv16" / "chicago_wave.jpg").resize(measure.photo.size, 3)
        row = {"lever": "authors", "iters": 40000, "train_s": None, **measure(authors)}
        record(RESULTS, row)
    if ("bundled", 1300) not in done:
        output = stylize(measure.photo, load_model(BUNDLED))
        output.save(images / "bundled.png")
        row = {"lever": "bundled", "iters": 1300, "train_s": None, **measure(output)}
        record(RESULTS, row)


def table() -> str:
    rows = recorded(RESULTS)
    out = ["| lever | iterations | train time (total) | change | motif scale (px) | content loss | style ratio |",
           "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    so_far: dict[str, float] = {}  # training time of each lever's stages so far (each stage resumes the last)
    for r in rows:
        so_far[r["lever"]] = so_far.get(r["lever"], 0.0) + (r["train_s"] or 0.0)
        wall = f"{so_far[r['lever']] / 60:.1f} min" if r["train_s"] else "-"
        out.append(f"| {r['lever']} | {r['iters']} | {wall} | {r['change']:.3f} | "
                   f"{r['motif_scale']:.1f} | {r['content']:.3g} | {r['style_ratio']:.3f} |")  # fmt: skip
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default=",".join(LEVERS), help="comma-separated levers (--list)")
    parser.add_argument("--stages", default="100,200,300", help="iterations at which to measure")
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--images", type=Path, default=Path("/tmp/levers"))
    parser.add_argument(
        "--amp",
        default="off",
        help="mixed precision (auto: bf16 where the CPU has native bf16, the "
        "same numbers at equal iterations, docs/train_step.md; the table's first runs: off)",
    )
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    if args.list:
        for name, (parent, what, _) in LEVERS.items():
            print(f"{name:16s} (from {parent or '-'}): {what}\n{'':18s}{settings(name)}")
        return
    if args.table:
        print(table())
        return
    args.work.mkdir(parents=True, exist_ok=True)
    args.images.mkdir(parents=True, exist_ok=True)
    done = {(r["lever"], r["iters"]) for r in recorded(RESULTS)}
    measure = Measure()
    references(args.images, measure, done)
    stages = [int(s) for s in args.stages.split(",")]
    for name in args.runs.split(","):
        if name not in LEVERS:
            sys.exit(f"unknown lever {name!r}; --list shows them")
        run_lever(name, stages, args.work, args.images, measure, done, args.amp)


if __name__ == "__main__":
    main()
