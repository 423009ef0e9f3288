#!/usr/bin/env bash
# The one command of a GPU session for the bundled style models (run by the device tool, carry [".gpu"],
# after `python scripts/gpu_carry.py` here): every public-domain painting's paper-size model and its -fast
# student, trained at once on the one GPU, then `scripts/style_eval_table.py` (`percepta eval style`) against the
# authors' outputs on chicago.jpg. Models, logs and tables come back in $OUT (a tar per style: the device returns 8 files at most).
#   bash scripts/gpu_session.sh [FULL_SECONDS] [FAST_SECONDS] [ITERS] [FAST_ITERS]
# A smoke test of the whole path on a CPU: SMOKE=1 bash scripts/gpu_session.sh 20 10 4 2
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/percepta-gpu-out}
WORK=${WORK:-/tmp/percepta-train}
mkdir -p "$OUT" "$WORK"
PY=${PY:-python3}
if ! $PY -c "import platformdirs" 2>/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/percepta-site .gpu/wheels/*.whl
  export PYTHONPATH=/tmp/percepta-site
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
export PERCEPTA_VGG_WEIGHTS=$PWD/.gpu/vgg16-features-fp16.pth PERCEPTA_CACHE=$WORK/cache
STYLES=wave,starry_night,the_scream,udnie,composition_vii
DEVICE=cuda SIZE=256
if [[ -n ${SMOKE:-} ]]; then DEVICE=cpu SIZE=32 STYLES=wave,udnie; fi
$PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv 2>/dev/null || true
start=$(date +%s)
$PY scripts/train_bundled_models.py --recipe gpu --parallel --styles $STYLES --data .gpu --work "$WORK" \
  --device $DEVICE --size $SIZE --iters "${3:-40000}" --fast-iters "${4:-20000}" \
  --time-budget "${1:-330}" --fast-budget "${2:-120}" 2>&1 | tee "$OUT/train.log"
echo "training: $(( $(date +%s) - start )) s" | tee -a "$OUT/train.log"
$PY scripts/style_eval_table.py --data .gpu --models-dir "$WORK/models" --device $DEVICE --out "$OUT/style_eval.md"
if [[ -z ${SMOKE:-} ]]; then  # issue 11's CUDA checks: Table 1 on this GPU, fp16 backend vs fp32 eager
  $PY -m percepta bench speed --device cuda --sizes 256,512,1024 --iters 100,300,500 --quick --out "$OUT/speed_cuda" \
    2>&1 | tail -12 || true
  $PY - <<'PYEOF' 2>&1 | tee "$OUT/cuda_backends.txt" || true
import time, torch
from percepta.arch import NetConfig
from percepta.backends import run
from percepta.modelfile import Model
from percepta.nets import TransformNet
model = Model(TransformNet(NetConfig.style(norm="instance", upsample="resize")).cuda().eval(), {"name": "paper"})
for size in (256, 512, 1024):
    x = torch.rand(1, 3, size, size)
    diff = float((run(model, x, "fp16") - run(model, x, "eager")).abs().max())
    times = {}
    for b in ("eager", "fp16"):
        run(model, x, b); torch.cuda.synchronize(); t = time.perf_counter()
        for _ in range(20):
            run(model, x, b)
        torch.cuda.synchronize(); times[b] = (time.perf_counter() - t) / 20 * 1000
    print(f"{size}: eager {times['eager']:.2f} ms, fp16 {times['fp16']:.2f} ms (with host copies), max diff {diff:.1e}")
# a folder on CUDA in batches of 4 (the CLI's default there) vs one at a time in fp32 on the CPU
import pathlib, tempfile, numpy as np
from percepta.image import load_rgb
from percepta.infer import stylize_files
photos = sorted(pathlib.Path(".gpu/photos").glob("*.jpg"))[:8]
with tempfile.TemporaryDirectory() as tmp:
    t = time.perf_counter()
    gpu = stylize_files(photos, model, f"{tmp}/gpu", batch=4, max_size=512, device="cuda")
    gpu_s = time.perf_counter() - t
    cpu = stylize_files(photos, Model(model.net.cpu(), {"name": "paper"}), f"{tmp}/cpu", max_size=512, backend="eager")
    worst = max(float(np.abs(np.asarray(load_rgb(a.output), np.int16) - np.asarray(load_rgb(b.output), np.int16)).mean())
                for a, b in zip(gpu, cpu))
    print(f"folder of {len(photos)} on cuda, batch 4: {gpu_s:.2f} s, all ok: {all(r.ok for r in gpu)}, "
          f"mean |gpu - cpu fp32| at worst {worst:.2f} / 255")
PYEOF
fi
for style in ${STYLES//,/ }; do
  tar -C "$WORK" -czf "$OUT/$style.tgz" models/"$style".safetensors models/"$style"-fast.safetensors \
    models/"$style"-training models/"$style"-fast-training 2>/dev/null || true
done
ls -la "$OUT"
