#!/usr/bin/env bash
# Input-size arms of the generalisation ablation (issue 7): d_ft and e_ft_bal's fine-tunes of
# v1 (scripts/finetune.sh) repeated with 64 px crops (configs/fer_resnet_ft64.yaml), their
# weight average (matched by runs/ft/g_soup_de at 48 px), each exported and scored with
# benchmarks/cross_dataset.py; the average also without its flip average (a 64 px crop costs
# about what a 48 px crop with its mirror does). One run at a time, 2 threads, about 35 min
# each on 2 cores. Usage: bash scripts/input_size.sh   (runs/ft64/; a rerun keeps finished
# training runs and the soup, and re-exports and re-scores)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
R=runs/ft64
CACHE=runs/cache/fer_tw64.npz
[ -f $CACHE ] || $PY scripts/pack_training_data.py --config configs/fer_resnet_ft64.yaml --out $CACHE
train() {  # NAME key=value...
  local name=$1; shift
  mkdir -p $R/$name
  [ -f $R/$name/timing.json ] || $PY scripts/train.py --resume --config configs/fer_resnet_ft64.yaml \
    out=$R/$name data_cache=$CACHE "$@" > $R/$name/nohup.log 2>&1
}
score() {  # RUN NAME [export options...]
  local run=$1 name=$2; shift 2
  $PY scripts/export_onnx.py $R/$run --name $name --weights-dir $R/$run/export "$@" > $R/$run/$name.export.log 2>&1
  cp $R/$run/metrics.json $R/$run/$name.metrics.json  # two exports of one run share metrics.json
  $PY benchmarks/cross_dataset.py --weights $R/$run/export/$name.onnx --json $R/$run/$name.cross.json > $R/$run/$name.cross.txt 2>&1
}
train q_ft64                                  # d_ft at 64 px
train r_ft64_bal class_balance=0.5            # e_ft_bal at 64 px
[ -f $R/s_soup64/best.pt ] || $PY scripts/soup.py $R/s_soup64 $R/q_ft64 $R/r_ft64_bal
score q_ft64 q_ft64
score r_ft64_bal r_ft64_bal
score s_soup64 s_soup64
score s_soup64 s_soup64_noflip --flip-tta off
