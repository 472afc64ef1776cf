#!/usr/bin/env bash
# The gateway function before an endpoint, on one machine: cold start (a
# fresh process to the answer of its first event, wall and CPU) and warm
# per-request latency through a local Lambda Runtime API, for dxops-gateway
# (static release build) and for its Python peer (boto3 under awslambdaric,
# benches/serve/py/gateway_app.py). Both call the same SageMaker Runtime
# stand-in (benches/serve/py/sagemaker_runtime.py) in front of the same
# dxops-model server, with the same JSON instance (an identifier and the 30
# WDBC features). The server alone, asked directly, is the floor.
# Builds what it needs once (the static binaries, the model, a venv with
# awslambdaric and boto3). Results: benches/out/serve/gateway.jsonl and a table on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
out=benches/out/serve
venv=benches/.venv
bin=target/dxops-model-static
gateway=target/x86_64-unknown-linux-gnu/release/dxops-gateway
mkdir -p "$out"
[ -x "$bin" ] || benches/serve/build-static.sh
[ -f "$out/ml/model/dxops-model.bin" ] || "$bin" train --data tests/data/breast_cancer_wdbc.csv --label label --ml-root "$out/ml" > "$out/train.log" 2>&1
[ -x "$gateway" ] || RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked -p dxops-gateway --target x86_64-unknown-linux-gnu
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; echo '*' > "$venv/.gitignore"; fi
"$venv/bin/python" -c 'import awslambdaric, boto3' 2>/dev/null || "$venv/bin/pip" install -q awslambdaric boto3
[ -f "$out/row1.csv" ] || python3 -c 'import csv,sys; r=list(csv.reader(open(sys.argv[1]))); li=r[0].index("label"); open(sys.argv[2],"w").write(",".join(v for i,v in enumerate(r[1]) if i!=li)+"\n")' tests/data/breast_cancer_wdbc.csv "$out/row1.csv"
COLD_RUNS=${COLD_RUNS:-20}
MODEL_PORT=${MODEL_PORT:-18090}
RUNTIME_PORT=${RUNTIME_PORT:-18091}
results="$out/gateway.jsonl"
: > "$results"

# The contract and the body: WDBC's features (numeric, non-negative), one identifier.
task=$out/gateway-task
mkdir -p "$task"
python3 - tests/data/breast_cancer_wdbc.csv "$task" "$out" <<'PY'
import csv, json, sys
rows = list(csv.reader(open(sys.argv[1])))
header, first = rows[0], rows[1]
features = [h for h in header if h != "label"]
json.dump({"label": "label", "identifiers": ["patient_id"], "identifier_handling": "drop",
           "features": [{"name": f, "type": "numeric", "min": 0.0} for f in features],
           "quality": [], "rare_class_max_samples": 10,
           "split": {"validation": 0.15, "test": 0.15, "seed": 42}},
          open(f"{sys.argv[2]}/process.json", "w"))
instance = {"patient_id": "MRN-0000042"}
instance.update({h: float(v) for h, v in zip(header, first) if h != "label"})
open(f"{sys.argv[3]}/gateway-body.json", "w").write(json.dumps({"instances": [instance]}))
PY

"$bin" serve --host 127.0.0.1 --port "$MODEL_PORT" --ml-root "$out/ml" > "$out/gateway-model.log" 2>&1 & model=$!
python3 benches/serve/py/sagemaker_runtime.py "$RUNTIME_PORT" "$MODEL_PORT" > "$out/gateway-runtime.log" 2>&1 & runtime=$!
trap 'kill $model $runtime 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$MODEL_PORT/ping" > /dev/null && break; sleep 0.1; done

export BENCH_CONTENT_TYPE=application/json AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME="http://127.0.0.1:$RUNTIME_PORT" \
  AWS_REGION=eu-west-1 AWS_DEFAULT_REGION=eu-west-1 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_EC2_METADATA_DISABLED=true \
  DXOPS_ENDPOINT_NAME=bench-endpoint LAMBDA_TASK_ROOT="$PWD/$task" CONTRACT="$PWD/$task/process.json"
unset AWS_PROFILE AWS_ENDPOINT_URL
record() { python3 -c 'import json,sys; d=json.loads(sys.argv[2]); d["name"]=sys.argv[1]; print(json.dumps(d))' "$1" "$2" >> "$results"; }

r=$(python3 benches/serve/lambda_bench.py "$COLD_RUNS" 1000 "$out/gateway-body.json" "$out/gateway-rust.log" -- "$gateway")
record "rust gateway" "$r"; echo "rust gateway: $r"
r=$(cd benches/serve/py && python3 ../lambda_bench.py "$COLD_RUNS" 1000 "../../../$out/gateway-body.json" "../../../$out/gateway-python.log" -- \
  "../../../$venv/bin/python" -m awslambdaric gateway_app.handler)
record "python gateway" "$r"; echo "python gateway: $r"
# The floor: the same row straight to the server, 1,000 in a row on one connection.
python3 - "$MODEL_PORT" "$out/row1.csv" "$results" <<'PY'
import http.client, json, statistics, sys, time
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
body = open(sys.argv[2]).read()
times = []
for i in range(1050):
    t = time.perf_counter()
    conn.request("POST", "/invocations", body, {"Content-Type": "text/csv", "Accept": "application/json"})
    conn.getresponse().read()
    if i >= 50:
        times.append((time.perf_counter() - t) * 1000)
times.sort()
d = {"name": "server direct", "warm_ms": {"p50": times[500], "p99": times[990], "mean": statistics.fmean(times), "invocations": 1000}}
open(sys.argv[3], "a").write(json.dumps(d) + "\n")
print("server direct:", json.dumps(d))
PY

python3 - "$results" <<'PY'
import json, sys
r = {d["name"]: d for d in map(json.loads, open(sys.argv[1]))}
rust, py = r["rust gateway"], r["python gateway"]
print("| gateway | dxops-gateway (Rust, static) | Python (boto3, awslambdaric) | ratio |")
print("|---|--:|--:|--:|")
c = lambda d: d["cold_start_ms"]["median"]
cc = lambda d: d["cold_start_cpu_ms"]["median"]
print(f"| cold start, wall (median of {rust['cold_start_ms']['runs']}) | {c(rust):.1f} ms | {c(py):.1f} ms | {c(py)/c(rust):.0f}× |")
print(f"| cold start, CPU | {cc(rust):.1f} ms | {cc(py):.1f} ms | {cc(py)/cc(rust):.0f}× |")
w = lambda d, q: d["warm_ms"][q]
for q in ("p50", "p99"):
    print(f"| warm request {q} (1,000 in a row) | {w(rust, q):.2f} ms | {w(py, q):.2f} ms | {w(py, q)/w(rust, q):.1f}× |")
print(f"| the server alone, warm p50 / p99 | {w(r['server direct'], 'p50'):.2f} / {w(r['server direct'], 'p99'):.2f} ms | | |")
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
