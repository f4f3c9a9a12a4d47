#!/usr/bin/env bash
# Issue 11's ablation: the same 500-step budget (batch 8, 64 px, the paper-faithful narrow RAGAN
# of pipelines/ragan_synthetic_64.yaml, the quick start before this study),
# each change added to the previous one, then a reconstruction-only diagnostic; the baseline
# itself runs 2,000 steps (its learning curve).
# Run alone on idle cores (a run is ~9 minutes on this 2-core CPU); results in
# checkpoints/convergence/<name>/curve.csv, table and plot with ragan_convergence.py.
# The second series (b*) starts from the recipe of pipelines/ragan_synthetic_benchmark.yaml and
# changes one thing each, 1,000 steps evaluated every 500; b0_recipe is its control.
set -euo pipefail
cd "$(dirname "$0")/.."
PIPELINE=pipelines/ragan_synthetic_64.yaml
run() {
  local name=$1; shift
  python benchmarks/ragan_convergence.py train "$PIPELINE" --steps "${STEPS:-500}" --eval-every "${EVERY:-250}" \
    --out "checkpoints/convergence/$name" "$@" > "checkpoints/convergence/$name.log" 2>&1
  echo "$name done: $(tail -1 "checkpoints/convergence/$name/curve.csv")"
}
mkdir -p checkpoints/convergence
BALANCE=(--set data.balance_age_groups=true)
CLASSIFIER=("${BALANCE[@]}" --set model.lambda_age_cls=1.0)
RATE=("${CLASSIFIER[@]}" --set training.learning_rate=0.0003)
BILINEAR=("${RATE[@]}" --set model.decoder_upsampling=bilinear)
case "${1:-all}" in
  baseline) STEPS=2000; run baseline ;;
  balance) run a1_balance "${BALANCE[@]}" ;;
  classifier) run a2_age_classifier "${CLASSIFIER[@]}" ;;
  rate) run a3_learning_rate "${RATE[@]}" ;;
  bilinear) run a4_bilinear "${BILINEAR[@]}" ;;
  reconstruction) run d1_reconstruction_only --set model.lambda_adv=0.0 ;;
  all)
    for step in baseline balance classifier rate bilinear reconstruction; do "$0" "$step"; done ;;
  b*)  # the second series: one change each to the benchmark recipe
    PIPELINE=pipelines/ragan_synthetic_benchmark.yaml STEPS=1000 EVERY=500
    case "$1" in
      b0) run b0_recipe ;;
      b1) run b1_skips_classifier_1 --set model.lambda_age_cls=1.0 --set model.decoder_skips=true ;;
      b2) run b2_classifier_1 --set model.lambda_age_cls=1.0 ;;
      b3) run b3_bottleneck_modulation --set model.decoder_modulation=bottleneck ;;
      b4) run b4_r1_10 --set model.r1_gamma=10.0 ;;
      b5) run b5_two_time_scale --set training.discriminator_learning_rate=0.0012 ;;
      b6) run b6_lambda_rec_1 --set model.lambda_rec_switch_epoch=0 ;;  # the paper's late value from step 0
      b7) run b7_skips --set model.decoder_skips=true ;;
      *) echo "usage: $0 b0|b1|...|b7" >&2; exit 2 ;;
    esac ;;
  *) echo "usage: $0 [baseline|balance|classifier|rate|bilinear|reconstruction|all|b0..b7]" >&2; exit 2 ;;
esac
