#!/usr/bin/env bash
# The bold-styles retraining (issue 23; the lever measured in docs/style_levers.md): every public-domain
# painting from scratch at the authors' painting size and loss weights, half width, 5 residual blocks,
# 128 px crops, bf16 where the CPU has native bf16 (--amp auto: 1.7-2.2x faster, docs/train_step.md), in
# resumable stages (500 ... 3000 iterations) whose models are kept for measuring, under ~/.cache/percepta-train/bold.
# Hours on a 2-core CPU (about 5-7 for all five in fp32, 2-3 in bf16); rerun it to continue:
# finished stages are skipped and the checkpoint resumes the running one.
#   nohup bash scripts/bold_retrain.sh > ~/.cache/percepta-train/bold/log.txt 2>&1 &
# The next lever (docs/style_levers.md): batch norm, as the authors' eccv16 models, in its own folder:
#   NORM=batch PAINTINGS=wave W=~/.cache/percepta-train/bold-batch nohup bash scripts/bold_retrain.sh > ... &
# and batch norm with more of the photo kept (CONTENT replaces every painting's content weight):
#   NORM=batch CONTENT=1.5 PAINTINGS=wave W=~/.cache/percepta-train/bold-batch-c15 nohup bash ... &
# and longer (training length, the one trend seen): STAGES="500 1000 1500 2000 3000 4000 6000 8000 10000"
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${DATA:-../shared/data}
W=${W:-$HOME/.cache/percepta-train/bold}
NORM=${NORM:-instance}
PAINTINGS=${PAINTINGS:-wave,starry_night,composition_vii,the_scream,udnie}
CONTENT=${CONTENT:-}
STAGES=${STAGES:-500 1000 1500 2000 3000}  # iterations at which a model is kept; later stages continue the run
mkdir -p "$W/models"
# painting, content weight, style weight, TV weight (the authors' mean-of-Gram form), painting size
for spec in "wave 1 5 20 512" "starry_night 1 3 2 512" "composition_vii 1 5 0.2 512" "the_scream 1 20 2 384" \
            "udnie 0.5 10 0.2 256"; do
  set -- $spec
  [[ ",$PAINTINGS," == *",$1,"* ]] || continue
  for iters in $STAGES; do
    out=$W/models/$1-it$iters.safetensors
    [ -f "$out" ] && continue
    resume=()
    [ -f "$W/$1.ckpt" ] && resume=(--resume "$W/$1.ckpt")
    OMP_NUM_THREADS=${THREADS:-1} nice -n 10 "$PY" -m percepta train style --style "$DATA/styles/$1.jpg" \
      --data "$DATA/photos" -o "$out" --checkpoint "$W/$1.ckpt" --checkpoint-every 50 --val-every 0 \
      --iters "$iters" --half "${resume[@]}" --size 128 --style-size "$5" --width 0.5 --blocks 5 \
      --norm "$NORM" --upsample resize --content-weight "${CONTENT:-$2}" --style-weight "$3" --tv-weight "$4" \
      --gram-reduction mean --recipe cpu --amp auto --no-preview || exit  # stopped or failed: the checkpoint stays
  done
done
