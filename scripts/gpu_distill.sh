#!/usr/bin/env bash
# Issue 7's GPU run (about 8 minutes on one H200): two wide teachers, then two students
# distilled from their mean (the no-teacher controls are v1 and d_ft, trained on CPU).
#   phase 1, side by side: teachers t1, t2 (configs/gpu/teacher.yaml, seeds 11, 12);
#   phase 2, side by side: s1_kd (v1's recipe + the teachers) and s2_ft_kd (the fine-tune
#            control d_ft's recipe, from v1, + the teachers).
# Runs on a torch-only box (mien imports without its optional extras, so PYTHONPATH=src is all
# it needs) from gpu_carry/ (git-ignored; carry it), made here first:
#   python scripts/pack_training_data.py --config configs/fer_resnet_ft.yaml --out gpu_carry/fer_tw.npz
#   python scripts/half_checkpoint.py runs/fer_resnet_v1/best.pt gpu_carry/v1_ema_fp16.pt
# Brings back to $OUT: the students' best.pt (s1_kd.pt, s2_ft_kd.pt), the teachers' soft labels
# (teacher_probs.npz) and logs.tgz. Back here, from the repository root:
#   tar xzf OUT/logs.tgz        # runs/gpu/<run>/{config.yaml,summary.csv,timing.json,train.log}
#   cp OUT/s1_kd.pt runs/gpu/s1_kd/best.pt; cp OUT/s2_ft_kd.pt runs/gpu/s2_ft_kd/best.pt
#   cp OUT/teacher_probs.npz runs/gpu/    # where configs/fer_resnet_kd_ft.yaml looks
# A dry run here on a small cache, in its own folder (needs gpu_carry/v1_ema_fp16.pt too):
#   python scripts/pack_training_data.py --config configs/fer_resnet_ft.yaml --out /tmp/small.npz \
#     --max-rows 200
#   RUNS=/tmp/dry OUT=/tmp/dry/out CACHE=/tmp/small.npz PY=.venv/bin/python \
#     EXTRA="device=cpu epochs=3 threads=1" bash scripts/gpu_distill.sh
# Needs bash >= 4.4. Every run has a time budget, so the whole script ends in about 8 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
PY=${PY:-python3}
RUNS=${RUNS:-runs/gpu}
OUT=${OUT:-$RUNS/out}
CACHE=${CACHE:-gpu_carry/fer_tw.npz}
TEACHERS="[$RUNS/t1/best.pt,$RUNS/t2/best.pt]"
read -r -a EXTRA <<< "${EXTRA:-}"
INIT=gpu_carry/v1_ema_fp16.pt
for f in "$CACHE" "$INIT"; do [ -f "$f" ] || { echo "$f: missing (see the header)"; exit 1; }; done
if [ -e "$RUNS/t1" ]; then echo "$RUNS/t1 exists: set RUNS to a new folder"; exit 1; fi
mkdir -p "$RUNS" "$OUT"
train() {
  local name=$1 cfg=$2; shift 2
  $PY scripts/train.py --config "$cfg" out=$RUNS/$name data_cache=$CACHE "$@" "${EXTRA[@]}" \
    > "$RUNS/$name.log" 2>&1
  echo "$name: exit $? at $(date +%T)"; tail -n 2 "$RUNS/$name.log"
  case $name in s*) cp "$RUNS/$name/best.pt" "$OUT/$name.pt" ;; esac  # a student's weights, at once
}
echo "start $(date +%T)"; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
logs() {  # after each phase, so a run cut short still brings its logs back
  tar czf "$OUT/logs.tgz" "$RUNS"/*.log "$RUNS"/*/summary.csv "$RUNS"/*/config.yaml \
    "$RUNS"/*/timing.json "$RUNS"/*/train.log "$RUNS"/ensemble.txt 2>/dev/null
}
train t1 configs/gpu/teacher.yaml seed=11 &
train t2 configs/gpu/teacher.yaml seed=12 &
wait
logs
for t in t1 t2; do
  [ -f "$RUNS/$t/best.pt" ] || { echo "teacher $t failed: no students"; exit 1; }
done
$PY scripts/predict_ensemble.py "$RUNS/t1/best.pt" "$RUNS/t2/best.pt" --data-cache "$CACHE" \
  --out "$OUT/teacher_probs.npz" 2>&1 | tee "$RUNS/ensemble.txt"
train s1_kd configs/gpu/student.yaml "teachers=$TEACHERS" &
train s2_ft_kd configs/fer_resnet_ft.yaml device=cuda threads=3 \
  init_from=$INIT "teachers=$TEACHERS" distill_alpha=0.5 time_budget_s=230 &
wait
logs
echo "done $(date +%T)"; ls -la "$OUT"
