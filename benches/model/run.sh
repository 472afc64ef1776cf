#!/usr/bin/env bash
# dxops-model benchmark: `dxops-model cv` (release build) against
# scikit-learn, XGBoost, LightGBM and imbalanced-learn baselines, same
# protocol (stratified 5-fold CV, seed 42, pooled out-of-fold predictions,
# argmax of probabilities) on the vendored data sets.
#
# Usage: bash benches/model/run.sh        (from anywhere in the repository)
# Output: benches/out/results.jsonl and benches/out/table.md
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
OUT=benches/out
mkdir -p "$OUT"

if [ ! -x benches/.venv/bin/python ]; then
  python3 -m venv benches/.venv
fi
benches/.venv/bin/pip install --quiet scikit-learn xgboost lightgbm imbalanced-learn pandas

cargo build --release -p dxops-model
BIN="$CARGO_TARGET_DIR/release/dxops-model"
CORES=$(nproc)
DATA=(tests/data/breast_cancer_wdbc.csv tests/data/heart_disease_uci.csv)

: > "$OUT/dxops.jsonl"
for d in "${DATA[@]}"; do
  for threads in "$CORES" 1; do
    # Three runs, fastest fit time reported (as for the Python models).
    for _ in 1 2 3; do
      DXOPS_THREADS="$threads" "$BIN" cv --data "$d" --label label --folds 5 --seed 42 2>/dev/null
    done |
      DATA="$(basename "$d")" python3 -c '
import json, os, sys
runs = [json.loads(line) for line in sys.stdin if line.strip()]
assert all({k: v for k, v in x.items() if k != "fit_seconds"} == {k: v for k, v in runs[0].items() if k != "fit_seconds"} for x in runs), "cv output differs between runs"
r = min(runs, key=lambda x: x["fit_seconds"])
t = r["threads"]
r.update(data=os.environ["DATA"], model="dxops-model cv, defaults (%d thread%s)" % (t, "" if t == 1 else "s"))
print(json.dumps(r))' >> "$OUT/dxops.jsonl"
  done
done
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
  benches/.venv/bin/python benches/model/baselines.py "${DATA[@]}" > "$OUT/python.jsonl"
cat "$OUT/dxops.jsonl" "$OUT/python.jsonl" > "$OUT/results.jsonl"
python3 benches/model/table.py "$OUT/results.jsonl" | tee "$OUT/table.md"
