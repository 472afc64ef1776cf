#!/usr/bin/env bash
# Serving benchmarks on loopback (127.0.0.1 only; every load run is bounded
# in request count and seconds):
#  (a) single-row latency (p50/p99/p99.9, open loop, measured from each
#      request's due time) at 100, 500 and 2,000 rps, and the maximum
#      throughput of 100-row batches (closed loop);
#  (b) the same against a scikit-learn model of the same family served by
#      Flask + gunicorn (venv in benches/.venv);
#  (c) time from process start to the first /ping 200;
#  (d) resident memory;
#  (e) Lambda mode: a fresh process to its first answer (cold start, wall
#      and CPU) and warm per-invocation latency, through a local Runtime API,
#      against the same scikit-learn model under awslambdaric (the runtime
#      interface client of AWS's Python images).
# SOAK=1 adds 100,000 single-row requests at SOAK_RATE (default 2000) rps.
# Results: benches/out/serve/results.jsonl and a Markdown table on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
root=$PWD
out=benches/out/serve
mkdir -p "$out"
results="$out/results.jsonl"
: > "$results"
RUST_PORT=${RUST_PORT:-18080}
PY_PORT=${PY_PORT:-18081}
SECONDS_PER_RATE=${SECONDS_PER_RATE:-10}

# The benchmarked binary is the static one the image ships.
benches/serve/build-static.sh | tee "$out/build-static.txt"
bin=target/dxops-model-static
loadgen=target/x86_64-unknown-linux-gnu/release/examples/loadgen

# Model and request bodies from the vendored data.
data=tests/data/breast_cancer_wdbc.csv
if [ ! -f "$out/ml/model/dxops-model.bin" ]; then
  "$bin" train --data "$data" --label label --ml-root "$out/ml" > "$out/train.log" 2>&1
fi
python3 - "$data" "$out" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
li = rows[0].index("label")
body = [[v for i, v in enumerate(r) if i != li] for r in rows[1:]]
open(f"{sys.argv[2]}/row1.csv", "w").write(",".join(body[0]) + "\n")
open(f"{sys.argv[2]}/rows100.csv", "w").write("".join(",".join(r) + "\n" for r in body[:100]))
PY

# Python side: venv, model, server.
venv=benches/.venv
if [ ! -x "$venv/bin/gunicorn" ]; then
  python3 -m venv "$venv"
  echo '*' > "$venv/.gitignore"
  "$venv/bin/pip" install -q flask gunicorn scikit-learn numpy
fi
[ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import awslambdaric' 2>/dev/null || "$venv/bin/pip" install -q awslambdaric
if [ ! -f "$out/model.joblib" ]; then
  "$venv/bin/python" benches/serve/py/train.py "$data" label "$out/model.joblib"
fi

record() { # name json
  python3 -c 'import json,sys; d=json.loads(sys.argv[2]); d["name"]=sys.argv[1]; print(json.dumps(d))' "$1" "$2" >> "$results"
}

run_load() { # name port rate requests body rows connections
  local r
  r=$("$loadgen" --addr "127.0.0.1:$2" --rate "$3" --requests "$4" --body-file "$5" \
      --rows-per-request "$6" --connections "$7" --max-seconds $((SECONDS_PER_RATE * 3)))
  record "$1" "$r"
  echo "$1: $r"
}

bench_server() { # label port log -- cmd...
  local label=$1 port=$2 log=$3; shift 4
  local s pid
  s=$(python3 benches/serve/startup.py "$port" "$log" -- "$@")
  pid=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["pid"])' "$s")
  record "$label startup" "$s"
  record "$label rss idle" "$(benches/serve/rss.sh "$pid")"
  # warm-up
  "$loadgen" --addr "127.0.0.1:$port" --rate 0 --requests 500 --body-file "$out/row1.csv" --connections 2 --max-seconds 10 > /dev/null
  for rate in 100 500 2000; do
    run_load "$label single-row ${rate}rps" "$port" "$rate" $((rate * SECONDS_PER_RATE)) "$out/row1.csv" 1 "${CONNECTIONS:-4}"
  done
  run_load "$label 100-row batches max" "$port" 0 100000 "$out/rows100.csv" 100 4
  if [ "${SOAK:-0}" = 1 ] && [ "$label" = rust ]; then
    local soak_rate=${SOAK_RATE:-2000}
    "$loadgen" --addr "127.0.0.1:$port" --rate "$soak_rate" --requests 100000 --body-file "$out/row1.csv" \
      --connections "${CONNECTIONS:-4}" --max-seconds $((100000 / soak_rate * 2)) > "$out/soak.json"
    record "$label soak 100k ${soak_rate}rps" "$(cat "$out/soak.json")"
  fi
  record "$label rss after load" "$(benches/serve/rss.sh "$pid")"
  kill -TERM "$pid"
  wait_gone "$pid"
}

wait_gone() { for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -KILL "$1" 2>/dev/null || true; }

DXOPS_METRICS_INTERVAL=10 bench_server rust "$RUST_PORT" "$out/rust-server.log" -- \
  "$bin" serve --host 127.0.0.1 --port "$RUST_PORT" --ml-root "$out/ml"
# One BLAS/OpenMP thread per worker, as usual when serving with several workers.
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MODEL_PATH="$root/$out/model.joblib" bench_server python "$PY_PORT" "$out/python-server.log" -- \
  "$venv/bin/gunicorn" --chdir "$root/benches/serve/py" -w 2 -b "127.0.0.1:$PY_PORT" --log-level warning app:app

COLD_RUNS=${COLD_RUNS:-20}
r=$(python3 benches/serve/lambda_bench.py "$COLD_RUNS" 1000 "$out/row1.csv" "$out/rust-lambda.log" -- \
  "$bin" lambda --ml-root "$out/ml")
record "rust lambda" "$r"; echo "rust lambda: $r"
r=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MODEL_PATH="$root/$out/model.joblib" PYTHONPATH="$root/benches/serve/py" \
  python3 benches/serve/lambda_bench.py "$COLD_RUNS" 1000 "$out/row1.csv" "$out/python-lambda.log" -- \
  "$venv/bin/python" -m awslambdaric lambda_app.handler)
record "python lambda" "$r"; echo "python lambda: $r"

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {r["name"]: r for r in rows}
print("\n| measurement | dxops (Rust) | Python (Flask + gunicorn, scikit-learn) |\n|---|---|---|")
def cell(name, f):
    r = by.get(name)
    return f(r) if r else "—"
lat = lambda r: f'{r["latency_ms"]["p50"]:.3f} / {r["latency_ms"]["p99"]:.3f} / {r["latency_ms"]["p999"]:.3f} ms ({r["ok"]} ok, {r["errors"]} err, {r["throughput_rps"]:.0f} rps achieved)'
for rate in (100, 500, 2000):
    print(f"| single row at {rate} rps: p50 / p99 / p99.9 | {cell(f'rust single-row {rate}rps', lat)} | {cell(f'python single-row {rate}rps', lat)} |")
thr = lambda r: f'{r["throughput_rps"]:.0f} req/s = {r["rows_per_second"]:.0f} rows/s (p99 {r["latency_ms"]["p99"]:.2f} ms)'
print(f"| 100-row batches, max throughput | {cell('rust 100-row batches max', thr)} | {cell('python 100-row batches max', thr)} |")
start = lambda r: "%.1f ms" % r["startup_ms"]
print(f"| start → first /ping 200 | {cell('rust startup', start)} | {cell('python startup', start)} |")
mem = lambda r: f'{r["rss_kib"]/1024:.1f} MiB (peak {r["peak_rss_kib"]/1024:.1f})'
print(f"| RSS idle | {cell('rust rss idle', mem)} | {cell('python rss idle', mem)} |")
print(f"| RSS after load | {cell('rust rss after load', mem)} | {cell('python rss after load', mem)} |")
cold = lambda r: f'{r["cold_start_ms"]["median"]:.1f} ms wall, {r["cold_start_cpu_ms"]["median"]:.1f} ms CPU (median of {r["cold_start_ms"]["runs"]})'
print(f"| Lambda: fresh process → first answer | {cell('rust lambda', cold)} | {cell('python lambda', cold)} |")
warm = lambda r: f'{r["warm_ms"]["p50"]:.3f} / {r["warm_ms"]["p99"]:.3f} ms ({r["warm_ms"]["invocations"]} in a row)'
print(f"| Lambda: warm invocation p50 / p99 | {cell('rust lambda', warm)} | {cell('python lambda', warm)} |")
for r in rows:
    if "soak" in r["name"]:
        print(f'| {r["name"]} | {lat(r)} | |')
rb, pb = by.get("rust 100-row batches max"), by.get("python 100-row batches max")
if rb and pb and pb["throughput_rps"] > 0:
    print(f'\nbatch throughput ratio rust/python: {rb["rows_per_second"] / pb["rows_per_second"]:.1f}x')
PY
