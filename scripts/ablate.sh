#!/usr/bin/env bash
# Short ablation runs for the cross-dataset protocol (issue: generalisation). Each run trains for
# EPOCHS epochs from configs/fer_resnet.yaml plus its overrides, exports to <run>/export and
# scores it with benchmarks/cross_dataset.py. Usage: bash scripts/ablate.sh [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-12}
PY=${PY:-.venv/bin/python}
run() {
  local name=$1; shift
  local out=runs/ablate/$name
  if [ ! -f "$out/timing.json" ]; then
    $PY scripts/train.py --resume --config configs/fer_resnet.yaml out=$out epochs=$EPOCHS "$@"
  fi
  $PY scripts/export_onnx.py "$out" --weights-dir "$out/export" > "$out/export.log" 2>&1
  $PY benchmarks/cross_dataset.py --weights "$out/export/$name.onnx" --json "$out/cross_dataset.json"
}
run a_base
# v2's data change alone (Taiwanese training performers 5x, intended-label targets), no photometric
# augmentation; the full 40-epoch v1 and v2 runs come from configs/fer_resnet{,_v2}.yaml.
run b_tw5 taiwanese_repeat=5 taiwanese_observer_weight=0.0
# v2's photometric augmentation alone
run c_photo gamma=0.3 blur_p=0.15 jpeg_p=0.2
