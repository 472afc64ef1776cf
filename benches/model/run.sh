#!/usr/bin/env bash
# dxops-model benchmark: `dxops-model cv` (release build) against
# scikit-learn, XGBoost, LightGBM and imbalanced-learn baselines, same
# protocol and the very same folds (stratified 5-fold CV, seed 42, pooled
# out-of-fold predictions, argmax of probabilities) on the vendored data sets.
#
# Usage: bash benches/model/run.sh        (from anywhere in the repository)
# Output: benches/out/results.jsonl and benches/out/table.md
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
OUT=benches/out
mkdir -p "$OUT/folds"

if [ ! -x benches/.venv/bin/python ]; then
  python3 -m venv benches/.venv
fi
benches/.venv/bin/pip install --quiet scikit-learn xgboost lightgbm imbalanced-learn pandas

cargo build --release -p dxops-model
BIN="$CARGO_TARGET_DIR/release/dxops-model"
CORES=$(nproc)
DATA=(breast_cancer_wdbc heart_disease_uci flchain_death_cause soybean pneumon_hosp wcgs_chd horse_colic)

: > "$OUT/dxops.jsonl"
BASELINE_ARGS=()
for d in "${DATA[@]}"; do
  csv="tests/data/$d.csv"
  folds="$OUT/folds/$d.txt"
  for threads in "$CORES" 1; do
    python3 benches/model/dxops_cv.py "$BIN" "$csv" "$threads" "$folds" >> "$OUT/dxops.jsonl"
  done
  BASELINE_ARGS+=("$csv:$folds")
done
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
  benches/.venv/bin/python benches/model/baselines.py "${BASELINE_ARGS[@]}" > "$OUT/python.jsonl"
# linfa's own learners on the very same folds and our preprocessing
# (benches/model/linfa_models.rs): their rows join every set's table.
cargo build --release --locked -p dxops-model --example linfa_models --example transfer
LINFA_ARGS=()
for d in "${DATA[@]}"; do
  LINFA_ARGS+=("tests/data/$d.csv:$OUT/folds/$d.txt")
done
"$CARGO_TARGET_DIR/release/examples/linfa_models" "${LINFA_ARGS[@]}" > "$OUT/linfa.jsonl"
cat "$OUT/dxops.jsonl" "$OUT/python.jsonl" "$OUT/linfa.jsonl" > "$OUT/results.jsonl"
status=0
python3 benches/model/table.py "$OUT/results.jsonl" | tee "$OUT/table.md" || status=$?

# Transfer learning on the multi-class sets, same outer folds
# (benches/model/transfer.rs): rare-class recall with and without a warm start.
TRANSFER_ARGS=()
for d in heart_disease_uci flchain_death_cause soybean horse_colic; do
  TRANSFER_ARGS+=("tests/data/$d.csv:$OUT/folds/$d.txt")
done
"$CARGO_TARGET_DIR/release/examples/transfer" "${TRANSFER_ARGS[@]}" > "$OUT/transfer.jsonl"
python3 benches/model/transfer_table.py "$OUT/transfer.jsonl" | tee "$OUT/transfer.md"

# Cost against rows and classes on simulated cohorts (benches/model/scaling.py):
# several minutes; BENCH_SCALING=0 skips it.
if [ "${BENCH_SCALING:-1}" != 0 ]; then
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
    benches/.venv/bin/python benches/model/scaling.py "$BIN" "$OUT/scaling" | tee "$OUT/scaling.md" || status=$?
fi
exit "$status"
