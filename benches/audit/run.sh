#!/usr/bin/env bash
# Audit time against template size: a rendered stack's resources copied to
# about 1k, 10k and 50k resources (benches/audit/gen.py), each judged by a
# release `dxops audit`. Prints resources, wall and CPU seconds, peak RSS and
# microseconds of CPU per resource, so linear work shows as a flat last column.
#
#   bash benches/audit/run.sh [stacks/disease-prediction/prod/data.yaml]
set -euo pipefail
cd "$(dirname "$0")/../.."
stack=${1:-stacks/disease-prediction/prod/ml.yaml}
target=${CARGO_TARGET_DIR:-target}
cargo build --release --locked -p dxops >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'resources\twall_s\tcpu_s\tpeak_rss_mib\tcpu_us_per_resource\texit\n'
for n in 1000 10000 50000; do
  count=$(python3 benches/audit/gen.py "$stack" "$n" "$work/t.json")
  set +e
  /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
    "$target/release/dxops" audit --format json "$work/t.json" >"$work/report.json"
  code=$?
  set -e
  read -r wall user sys rss <"$work/time"
  awk -v n="$count" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v c="$code" 'BEGIN {
    printf "%d\t%.2f\t%.2f\t%.0f\t%.1f\t%d\n", n, w, u + s, r / 1024, (u + s) * 1e6 / n, c }'
done
