#!/usr/bin/env bash
# What a reviewer waits for before a deploy: `dxops diff` of the example
# spec's staging environment (five stacks, read-only change sets) and a
# no-op `dxops deploy` (change sets that come back empty), against moto
# server on loopback after one real first deploy, beside AWS CDK's
# `cdk diff --template` of the CDK app in benches/synth/cdk-app, the one
# form of `cdk diff` that runs offline (it synthesises the whole app, then
# compares one stack with a template file), and `dxops diff --against`, the
# offline form of ours (every stack against a rendered tree). One hyperfine
# run, user + sys CPU beside wall time.
#
#   bash benches/deploy/run.sh            # SKIP_BUILD=1 reuses target/release/dxops
#
# Needs what .ci/setup installs (moto[server]); installs hyperfine (Debian)
# and the CDK app's npm packages. Results: benches/deploy/out/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=benches/deploy/out
mkdir -p "$OUT"
RUNS=${RUNS:-10}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

command -v hyperfine >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null; }
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release --locked -p dxops
dx=${DXOPS_BIN:-$ROOT/target/release/dxops}
(cd benches/synth/cdk-app && [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error)

# moto on a free loopback port, stopped on exit.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 tests/tools/moto_launcher.py "$port" > "$OUT/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 300); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
  sleep 0.2
done

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=eu-west-1 \
  AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_EC2_METADATA_DISABLED=true \
  AWS_ENDPOINT_URL=http://127.0.0.1:$port NO_COLOR=1
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN
spec=specs/disease-prediction.yaml
params="--parameter ImageUri=123456789012.dkr.ecr.eu-west-1.amazonaws.com/dxops-model:1 --parameter ModelDataUrl=s3://disease-prediction-staging-artifacts/model.tar.gz"
"$dx" bootstrap "$spec" --env staging --timeout 120 > "$OUT/bootstrap.txt"
"$dx" deploy "$spec" --env staging --yes --timeout 300 $params > "$OUT/first-deploy.txt"

# Each command once, to show what it reports (diff exits 2 on changes).
"$dx" diff "$spec" --env staging $params > "$OUT/diff.txt" || echo "dxops diff exited $? (see $OUT/diff.txt)"
"$dx" diff "$spec" --env staging --against stacks > "$OUT/diff-offline.txt" || echo "dxops diff --against exited $?"

# CDK: the app's templates once, so that --template has one to compare with.
(cd benches/synth/cdk-app && npx cdk synth --quiet --no-notices > /dev/null)
stack=disease-prediction-prod-ml
cdk="cd $ROOT/benches/synth/cdk-app && npx cdk diff --no-notices --exclusively --template cdk.out/$stack.template.json $stack"

hyperfine --warmup 1 --runs "$RUNS" --export-json "$OUT/hyperfine.json" --export-markdown "$OUT/hyperfine.md" \
  -n "dxops diff (5 stacks, moto)" "$dx diff $spec --env staging $params" \
  -n "dxops deploy, no changes (5 stacks, moto)" "$dx deploy $spec --env staging --yes --timeout 300 $params" \
  -n "dxops diff --against (5 stacks, offline)" "$dx diff $spec --env staging --against stacks" \
  -n "cdk diff --template (1 stack, offline)" "$cdk"

python3 - "$OUT/hyperfine.json" <<'PY' | tee "$OUT/summary.md"
import json, statistics, sys
rows = json.load(open(sys.argv[1]))["results"]
print("| command | wall, median | CPU (user + sys), mean | runs |\n|---|--:|--:|--:|")
for r in rows:
    print(f'| {r["command"]} | {statistics.median(r["times"]) * 1000:.0f} ms | {(r["user"] + r["system"]) * 1000:.0f} ms | {len(r["times"])} |')
by = {r["command"]: r for r in rows}
d, c = by["dxops diff (5 stacks, moto)"], by["cdk diff --template (1 stack, offline)"]
print(f'\ncdk diff / dxops diff: {statistics.median(c["times"]) / statistics.median(d["times"]):.1f}x wall, '
      f'{(c["user"] + c["system"]) / (d["user"] + d["system"]):.1f}x CPU')
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
