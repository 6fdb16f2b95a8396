#!/usr/bin/env bash
# Rebuild the ablation table of the shipped card (src/mien/expression/weights/fer_resnet_v3.ablation.json)
# from the runs' protocol results in runs/ (git-ignored; produced by scripts/ablate.sh,
# scripts/finetune.sh, scripts/gpu_distill.sh, configs/fer_resnet_kd_ft.yaml and
# scripts/input_size.sh, scripts/seed_repeat.sh; see the README).
# Usage: bash scripts/ablation_rows.sh [OUT.json]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-src/mien/expression/weights/fer_resnet_v3.ablation.json}
A=runs/ablate; F=runs/ft; G=runs/gpu; F2=runs/ft2; R=runs/ft64; S=runs/seeds
${PY:-.venv/bin/python} scripts/ablation_table.py "$OUT" \
 "a_base=v1 recipe, 12 epochs (flip average, logit adjustment τ 0.2)=$A/a_base/cross_dataset.json,$A/a_base/perceived.json" \
 "b_tw5=a_base + Taiwanese training performers 5× per epoch, intended-label targets (12 epochs)=$A/b_tw5/cross_dataset.json,$A/b_tw5/perceived.json" \
 "c_photo=a_base + gamma/blur/JPEG augmentation (12 epochs)=$A/c_photo/cross_dataset.json,$A/c_photo/perceived.json" \
 "fer_resnet_v1=v1 recipe, 40 epochs (mien 0.1.0's model; no logit adjustment)=runs/fer_resnet_v1/eval/cross_dataset_v2protocol.json" \
 "fer_resnet_v2=v1 + b_tw5's data change + c_photo's augmentation (40 epochs, logit adjustment τ 0.1)=runs/fer_resnet_v2/cross_dataset.json,runs/fer_resnet_v2/perceived.json" \
 "fer_ensemble_v2=mean logits of v1 and v2, no flip average (same cost as v1), logit adjustment τ 0.3=runs/fer_ensemble_v2/cross_dataset.json,runs/fer_ensemble_v2/perceived.json" \
 "d_ft=v1 fine-tuned 8 epochs (peak LR 0.02; Taiwanese training performers 5×, targets 0.5 observer shares + 0.5 intended) — the control (logit adjustment τ 0.2)=$F/d_ft/cross_dataset.json" \
 "k_ft_obs1=d_ft with observer-share targets only for the Taiwanese photos (τ 0.25)=$F/k_ft_obs1/cross_dataset.json" \
 "e_ft_bal=d_ft + class-balanced sampling β 0.5 (τ 0.05)=$F/e_ft_bal/cross_dataset.json" \
 "f_ft_bal_smiles=e_ft_bal + SMILEsmileD (smiles as happiness, non-smiles as not-happiness) (τ 0)=$F/f_ft_bal_smiles/cross_dataset.json" \
 "h_ft_bal_seed2=e_ft_bal with seed 2 (τ 0)=$F/h_ft_bal_seed2/cross_dataset.json" \
 "i_ft_bal03=d_ft + class balance β 0.3, seed 3 (τ 0)=$F/i_ft_bal03/cross_dataset.json" \
 "g_soup_de=weight average of d_ft and e_ft_bal (τ 0.05)=$F/g_soup_de/cross_dataset.json" \
 "fer_resnet_v3=weight average of d_ft, e_ft_bal, h_ft_bal_seed2 and i_ft_bal03 (shipped; τ 0)=$F/j_soup_all/cross_dataset.json" \
 "s2_ft_kd=d_ft's recipe on a GPU, distilled from two wide teachers (targets mixed 0.5 with their mean probability on the same augmented view; τ 0.3)=$G/s2_ft_kd/cross_dataset.json" \
 "s1_kd=v1's recipe from random weights on a GPU (37 of 40 epochs, time budget), distilled from the two teachers (α 0.5; τ 0.15)=$G/s1_kd/cross_dataset.json" \
 "m_kd_ft_bal=s1_kd fine-tuned 8 epochs on the CPU, class balance β 0.5, targets mixed 0.5 with the teachers' stored probabilities (τ 0.1)=$F2/m_kd_ft_bal/cross_dataset.json" \
 "n_kd_ft_bal_s2=m_kd_ft_bal with seed 2 (τ 0.05)=$F2/n_kd_ft_bal_s2/cross_dataset.json" \
 "o_soup_mn=weight average of m_kd_ft_bal and n_kd_ft_bal_s2 (τ 0.05)=$F2/o_soup_mn/cross_dataset.json" \
 "p_wise=weight average of s1_kd, m_kd_ft_bal and n_kd_ft_bal_s2 (parent and fine-tunes, WiSE-FT; τ 0.15)=$F2/p_wise/cross_dataset.json" \
 "q_ft64=d_ft at 64 px: Taiwanese crops aligned at 64 px, FER's enlarged (no flip average chosen; τ 0.15)=$R/q_ft64/q_ft64.cross.json" \
 "r_ft64_bal=e_ft_bal at 64 px (no flip average chosen; τ 0)=$R/r_ft64_bal/r_ft64_bal.cross.json" \
 "s_soup64=weight average of q_ft64 and r_ft64_bal (g_soup_de at 64 px; flip average; τ 0.1)=$R/s_soup64/s_soup64.cross.json" \
 "s_soup64_noflip=s_soup64 without its flip average, the cost of v3 (τ 0.15)=$R/s_soup64/s_soup64_noflip.cross.json" \
 "d_ft_s2=d_ft with seed 2 (τ 0.2)=$S/d_ft_s2/d_ft_s2.cross.json" \
 "g2_soup=g_soup_de with seed 2: weight average of d_ft_s2 and h_ft_bal_seed2 (τ 0.05)=$S/g2_soup/g2_soup.cross.json" \
 "g3_soup=g_soup_de with seed 3: weight average of d_ft_s3 and e_ft_bal_s3 (both seed 3; τ 0.1)=$S/g3_soup/g3_soup.cross.json" \
 "q_ft64_s2=q_ft64 with seed 2 (flip average; τ 0)=$S/q_ft64_s2/q_ft64_s2.cross.json" \
 "s2_soup64=s_soup64 with seed 2: weight average of q_ft64_s2 and r_ft64_bal_s2 (e_ft_bal at 64 px, seed 2; flip average; τ 0)=$S/s2_soup64/s2_soup64.cross.json" > /dev/null
