#!/usr/bin/env bash
# Fine-tuning arms of the generalisation ablation (issue 7), run side by side (one thread each):
# each starts from v1's weights (configs/fer_resnet_ft.yaml), then is exported to <run>/export
# and scored with benchmarks/cross_dataset.py. Usage: bash scripts/finetune.sh, then
# ROUND2=1 bash scripts/finetune.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
run() {
  local name=$1; shift
  local out=runs/ft/$name
  mkdir -p "$out"
  if [ ! -f "$out/timing.json" ]; then
    $PY scripts/train.py --resume --config configs/fer_resnet_ft.yaml out=$out "$@" > "$out/nohup.log" 2>&1
  fi
  $PY scripts/export_onnx.py "$out" --weights-dir "$out/export" > "$out/export.log" 2>&1
  $PY benchmarks/cross_dataset.py --weights "$out/export/$name.onnx" \
    --json "$out/cross_dataset.json" > "$out/cross.txt" 2>&1
}
pids=()
if [ "${ROUND2:-0}" != 1 ]; then
  # round 1: the control, class balance, class balance + SMILEsmileD
  run d_ft & pids+=($!)
  run e_ft_bal class_balance=0.5 & pids+=($!)
  run f_ft_bal_smiles class_balance=0.5 smiles_dir=../shared/data/smiles & pids+=($!)
else
  # round 2 (ROUND2=1): more balanced arms to average with the first (scripts/soup.py)
  run h_ft_bal_seed2 class_balance=0.5 seed=2 & pids+=($!)
  run i_ft_bal03 class_balance=0.3 seed=3 & pids+=($!)
fi
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done  # a failed arm fails the script
exit $status
