#!/usr/bin/env bash
# Regenerate the README's "Results" pictures and tables on this machine (slow: about an hour on 2 cores).
#   bash scripts/readme_results.sh            # everything
#   bash scripts/readme_results.sh speed      # one part: speed | reconstruct | fig5 | gallery | cards
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
part=${1:-all}
if [[ $part == all || $part == speed ]]; then
  # paper Table 1 at 256 px, every optimisation time measured (500 L-BFGS iterations), then 512 estimated
  $PY -m percepta bench speed --sizes 256 --iters 100,300,500 --out docs/bench/speed256
  $PY -m percepta bench speed --sizes 512,1024 --iters 100,300,500 --quick --out docs/bench/speed_quick
fi
if [[ $part == all || $part == reconstruct ]]; then
  $PY -m percepta bench reconstruct --size 256 --iters 100 --out docs/bench/reconstruct
fi
if [[ $part == all || $part == fig5 ]]; then
  $PY scripts/fig5_table.py --iters 200 --size 256 --out docs
fi
if [[ $part == all || $part == gallery ]]; then
  $PY scripts/make_gallery.py
fi
if [[ $part == all || $part == cards ]]; then
  $PY scripts/model_cards.py > docs/model_cards.md
fi
