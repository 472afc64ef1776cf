#!/usr/bin/env bash
# Audit time against estate size: a rendered stack's resources copied to
# about 1k, 10k and 50k resources in stacks of at most 500 (CloudFormation's
# limit; benches/audit/gen.py), each estate judged by one release
# `dxops audit` over all its templates. Prints resources, wall and CPU seconds, peak RSS and
# microseconds of CPU per resource, so linear work shows as a flat last column.
#
#   bash benches/audit/run.sh [stacks/disease-prediction/prod/data.yaml]
#   SKIP_BUILD=1 ... uses the release binary already built
set -euo pipefail
cd "$(dirname "$0")/../.."
stack=${1:-stacks/disease-prediction/prod/ml.yaml}
target=${CARGO_TARGET_DIR:-target}
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --locked -p dxops >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'resources\twall_s\tcpu_s\tpeak_rss_mib\tcpu_us_per_resource\texit\n'
for n in 1000 10000 50000; do
  rm -f "$work"/stack*.json
  read -r count files < <(python3 benches/audit/gen.py "$stack" "$n" "$work")
  set +e
  # shellcheck disable=SC2086 # one argument per generated template
  /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
    "$target/release/dxops" audit --format json $files >"$work/report.json"
  code=$?
  set -e
  read -r wall user sys rss <"$work/time"
  awk -v n="$count" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v c="$code" 'BEGIN {
    printf "%d\t%.2f\t%.2f\t%.0f\t%.1f\t%d\n", n, w, u + s, r / 1024, (u + s) * 1e6 / n, c }'
done
