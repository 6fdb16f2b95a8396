#!/usr/bin/env bash
# Cross-validation by performer (issue 7): how one recipe scores on Taiwanese performers it never
# saw, estimated over all 29 performers instead of the 5 of taiwanese_heldout.
#
# v1 (and so every fine-tune of it) trained on the 24 performers outside taiwanese_heldout, so
# fine-tuning v1 per fold would leak. Each fold therefore starts from one parent trained on
# FER+ alone (v1's recipe, 12 epochs, no Taiwanese photo), then fine-tunes it d_ft's way
# (Taiwanese training performers 5x, targets 0.5 observer shares + 0.5 intended; 4 epochs here)
# with that fold's performers left out. The folds are in
# src/mien/evaluation/subsets/taiwanese_folds.json (fold 0 = taiwanese_heldout).
# The numbers measure this shorter recipe, not the shipped v3. The parent itself is exported
# too: it never saw a Taiwanese photo, so it is one model for every fold.
#
# Usage: bash scripts/performer_folds.sh              the recipe above (runs/folds/f0..f3)
#        bash scripts/performer_folds.sh ARM key=value...   the same with overrides, applied
#            to the data cache and the fine-tune (runs/folds/ARM/f0..f3), e.g.
#            bash scripts/performer_folds.sh obs0 taiwanese_observer_weight=0
#        FOLDS="0 1" bash scripts/performer_folds.sh ARM ...   only those folds (a pilot)
#        PARENT=NAME PARENT_ARGS="key=value ..." bash scripts/performer_folds.sh ARM ...
#            another parent (runs/folds/NAME, trained with those overrides) for the folds to
#            start from, e.g. a wider network; the ARM's overrides must then repeat its
#            architecture keys, since the fine-tune builds its network from its own config.
#            Each parent and arm folder records what it was made from (made_from.txt); a rerun
#            with other settings under the same name is refused, not mixed with the old runs.
#        An override may name its fold as {fold}, e.g. a per-fold teacher for distillation:
#            bash scripts/performer_folds.sh kd teacher_probs=runs/cache/tp_f{fold}.npz
# About 21 min for the parent and 15-17 min per pair of folds with their exports, on 2 cores
# (measured 2026-11-30); a rerun keeps finished runs and exports. Score: python benchmarks/performer_folds.py runs/folds/f?/export/fold?.onnx
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
R=runs/folds
ARM=${1:-}
[ $# -gt 0 ] && shift
if [ -z "$ARM" ]; then D=$R; TAG=; else D=$R/$ARM; TAG=${ARM}_; fi
read -r -a todo <<< "${FOLDS:-0 1 2 3}"
PARENT=${PARENT:-parent}
[[ $PARENT =~ ^[A-Za-z0-9_]+$ ]] || { echo "PARENT: a folder name under $R; got '$PARENT'"; exit 2; }
read -r -a parent_args <<< "${PARENT_ARGS:-}"
for k in "${todo[@]}"; do
  [[ $k =~ ^[0-3]$ ]] || { echo "FOLDS: fold numbers 0-3 separated by spaces, e.g. FOLDS=\"0 1\"; got '$FOLDS'"; exit 2; }
done
mkdir -p $D runs/cache
train() {  # CONFIG OUT key=value...
  local config=$1 out=$2; shift 2
  mkdir -p $out
  [ -f $out/timing.json ] || $PY scripts/train.py --resume --config $config out=$out seed=1 "$@" \
    > $out/nohup.log 2>&1
}
export_run() {  # RUN NAME
  [ -f $1/export/$2.onnx ] || $PY scripts/export_onnx.py $1 --name $2 --weights-dir $1/export \
    > $1/export.log 2>&1
}
folds() {  # the performers of fold K as a YAML list
  $PY -c "import json,sys; f=json.load(open('src/mien/evaluation/subsets/taiwanese_folds.json'))['folds']; print('[' + ','.join(f[int(sys.argv[1])]) + ']')" $1
}
fold() {  # K key=value...: pack its cache, fine-tune the parent without its performers, export
  local k=$1 cache=runs/cache/fer_tw_${TAG}f$1.npz; shift
  set -- "${@//\{fold\}/$k}"  # {fold} in an override: this fold's number
  [ -f $cache ] || $PY scripts/pack_training_data.py --config configs/fer_resnet_ft.yaml --out $cache \
    "taiwanese_val_subjects=$(folds $k)" "$@" > $D/pack_f$k.log 2>&1
  # the cache holds the split; taiwanese_val_subjects is repeated so the run's config records it
  train configs/fer_resnet_ft.yaml $D/f$k init_from=$R/$PARENT/best.pt data_cache=$cache epochs=4 \
    threads=1 "taiwanese_val_subjects=$(folds $k)" "$@"
  export_run $D/f$k ${TAG}fold$k
}
stamp() {  # FOLDER TEXT: record what FOLDER was made from; refuse to reuse it for another
  local f=$1/made_from.txt
  mkdir -p "$1"
  if [ -f "$f" ] && [ "$(cat "$f")" != "$2" ]; then
    echo "$1 was made from '$(cat "$f")', not '$2': give another name, or delete it"; exit 2
  fi
  [ -f "$f" ] || echo "$2" > "$f"
}
stamp $R/$PARENT "parent ${PARENT_ARGS:-}"
[ -z "$ARM" ] || stamp $D "arm $ARM from $PARENT: $*"
train configs/fer_resnet.yaml $R/$PARENT taiwanese_dir=null epochs=12 threads=2 ${parent_args[@]+"${parent_args[@]}"}
export_run $R/$PARENT $PARENT
failed=0
for ((i = 0; i < ${#todo[@]}; i += 2)); do  # two at a time: both finish before the next pair
  pids=()
  for k in "${todo[@]:i:2}"; do fold "$k" "$@" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
done
[ $failed = 0 ] || { echo "a fold failed: see $D/f*/nohup.log"; exit 1; }
models=$(for k in "${todo[@]}"; do printf ' %s' "$D/f$k/export/${TAG}fold$k.onnx"; done)
ids=$(IFS=,; echo "${todo[*]}")
echo "done: python benchmarks/performer_folds.py --folds $ids$models"
