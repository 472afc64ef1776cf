#!/usr/bin/env bash
# Whole-process benchmark: `dxops synth` against AWS CDK's `cdk synth` for the
# disease-prediction pipeline, side by side in one hyperfine run.
#
#   bash benches/synth/run.sh
#
# Installs what it needs (hyperfine and GNU time from Debian, the CDK app's
# npm packages from its package-lock.json), builds dxops in release mode, then
# times, with hyperfine (--warmup 2):
#   dxops synth specs/disease-prediction.yaml --out <tmp>    (2 environments)
#   dxops validate specs/disease-prediction.yaml
#   cdk synth --quiet  in benches/synth/cdk-app              (1 environment)
#   node app.js        in benches/synth/cdk-app              (CDK's lower bound: no CLI)
# and the peak RSS of each with /usr/bin/time -v. Results go to
# benches/synth/out/ (hyperfine JSON and Markdown, rss.tsv, counts.tsv, summary.md).
#
# Knobs (environment): CDK_RUNS (min runs of every command, default 10; fast
# commands get as many runs as fit in hyperfine's 3 s budget, at least this
# many), RSS_RUNS (runs per command under /usr/bin/time -v, default 3; the
# largest peak is kept), SKIP_BUILD=1 (use the existing target/release/dxops),
# DXOPS_REV=<git revision> (benchmark that commit instead of the working tree:
# it is extracted with `git archive` into out/src-<rev> and built with its own
# target folder out/target; the CDK app then reads that commit's rendered
# pipeline.json / ASL / DQDL too), DXOPS_ONLY=1 (time the two dxops commands
# alone: no Node.js, no CDK app; the summary then gives each command's CPU,
# user + sys, from hyperfine's JSON).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
APP="$HERE/cdk-app"
OUT="$HERE/out"
CDK_RUNS="${CDK_RUNS:-10}"
DXOPS_ONLY="${DXOPS_ONLY:-0}"
RSS_RUNS="${RSS_RUNS:-3}"
if [ -n "${DXOPS_REV:-}" ]; then
  rev="$(git -C "$ROOT" rev-parse --short "$DXOPS_REV^{commit}")"
  SRC="$OUT/src-$rev"
  if [ ! -f "$SRC/Cargo.toml" ]; then
    mkdir -p "$SRC"
    # -m: extraction time as mtime, so cargo never takes a stale build as fresh.
    git -C "$ROOT" archive "$rev" | tar -x -m -C "$SRC"
  fi
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$OUT/target}"
  SRC_DESC="commit $rev (git archive in ${SRC#"$ROOT"/})"
else
  SRC="$ROOT"
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
  SRC_DESC="working tree at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  if [ -n "$(git -C "$ROOT" status --porcelain -- src templates specs Cargo.toml Cargo.lock 2>/dev/null)" ]; then
    SRC_DESC="$SRC_DESC, with uncommitted changes"
  fi
fi
SPEC="$SRC/specs/disease-prediction.yaml"
export DXOPS_DOCS_DIR="$SRC/stacks/disease-prediction/prod"
DXOPS="$CARGO_TARGET_DIR/release/dxops"

say() { printf '\n== %s\n' "$*" >&2; }

# ------------------------------------------------------------------ install
apt_pkgs=()
command -v hyperfine >/dev/null 2>&1 || apt_pkgs+=(hyperfine)
[ -x /usr/bin/time ] || apt_pkgs+=(time)
if [ "$DXOPS_ONLY" != 1 ]; then
  command -v node >/dev/null 2>&1 || apt_pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || apt_pkgs+=(npm)
fi
if [ "${#apt_pkgs[@]}" -gt 0 ]; then
  say "apt-get install ${apt_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
fi
if [ "$DXOPS_ONLY" != 1 ]; then
  node_major="$(node -p 'process.versions.node.split(".")[0]')"
  if [ "$node_major" -lt 20 ]; then
    echo "warning: aws-cdk-lib needs Node.js >= 20, found $(node --version)" >&2
  fi

  # npm ci only when node_modules is missing or older than the lock file.
  if [ ! -d "$APP/node_modules/aws-cdk-lib" ] || [ "$APP/package-lock.json" -nt "$APP/node_modules/.package-lock.json" ]; then
    say "npm ci (benches/synth/cdk-app)"
    (cd "$APP" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "cargo build --release -p dxops"
  (cd "$SRC" && cargo build --release -p dxops)
fi

# --------------------------------------------------- no network, no chatter
# CDK: no version check, no notices, no telemetry (also "cli-telemetry": false
# in cdk.json), no credentials so no STS/IMDS look-up of a default account.
export CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=1 AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN CDK_OUTDIR || true

mkdir -p "$OUT"
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/dxops-synth-bench.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

CDK_BIN="$APP/node_modules/.bin/cdk"
names=("dxops synth" "dxops validate" "cdk synth" "node app.js")
cmds=(
  "$DXOPS synth $SPEC --out $TMP/dxops-out"
  "$DXOPS validate $SPEC"
  "$CDK_BIN synth --quiet --no-notices --output $TMP/cdk.out"
  "env CDK_OUTDIR=$TMP/node.out node app.js"
)
if [ "$DXOPS_ONLY" = 1 ]; then
  names=("${names[@]:0:2}")
  cmds=("${cmds[@]:0:2}")
fi

# ------------------------------------------------ one synth of each, counted
say "checking outputs and counting resources"
cd "$APP"
for i in "${!cmds[@]}"; do
  # shellcheck disable=SC2086  # the commands are split on spaces on purpose
  if ! ${cmds[$i]} >"$TMP/check.log" 2>&1; then
    echo "error: '${names[$i]}' failed:" >&2; tail -n 30 "$TMP/check.log" >&2; exit 1
  fi
done
[ "$DXOPS_ONLY" = 1 ] || node "$HERE/report.js" count "$TMP/dxops-out" "$TMP/cdk.out" > "$OUT/counts.tsv"

# ---------------------------------------------------------------- wall + CPU
say "hyperfine (warmup 2, at least $CDK_RUNS runs each)"
hf_args=(--shell=none --warmup 2 --min-runs "$CDK_RUNS" --style basic
  --export-json "$OUT/hyperfine.json" --export-markdown "$OUT/hyperfine.md")
for i in "${!cmds[@]}"; do hf_args+=(--command-name "${names[$i]}" "${cmds[$i]}"); done
hyperfine "${hf_args[@]}"

# ----------------------------------------------------------------- peak RSS
say "peak RSS (/usr/bin/time -v, $RSS_RUNS runs each, largest kept)"
: > "$OUT/rss.tsv"
for i in "${!cmds[@]}"; do
  best=0
  for _ in $(seq "$RSS_RUNS"); do
    # shellcheck disable=SC2086
    /usr/bin/time -v -o "$TMP/time.txt" ${cmds[$i]} >/dev/null 2>&1
    kb="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$TMP/time.txt")"
    [ "$kb" -gt "$best" ] && best="$kb"
  done
  printf '%s\t%s\n' "${names[$i]}" "$best" >> "$OUT/rss.tsv"
done

# -------------------------------------------------------------------- report
if [ "$DXOPS_ONLY" = 1 ]; then
  {
    echo "machine: nproc=$(nproc), $(uname -sm), load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo "dxops source: $SRC_DESC; $("$DXOPS" --version 2>/dev/null || echo dxops), hyperfine $(hyperfine --version | cut -d' ' -f2)"
    echo
    echo "| command | wall mean | CPU user+sys (mean) | peak RSS |"
    echo "|---|--:|--:|--:|"
    # hyperfine's JSON has one key per line: pick each result's mean, user, system.
    awk -F': ' -v rss="$OUT/rss.tsv" '
      BEGIN { while ((getline line < rss) > 0) { split(line, f, "\t"); kb[f[1]] = f[2] } }
      /"command":/ { cmd = $2; gsub(/[",]/, "", cmd) }
      /"mean":/    { mean = $2 + 0 }
      /"user":/    { user = $2 + 0 }
      /"system":/  { printf "| %s | %.1f ms | %.1f ms | %.1f MiB |\n", cmd, mean * 1000, (user + $2) * 1000, kb[cmd] / 1024 }
    ' "$OUT/hyperfine.json"
  } | tee "$OUT/summary.md"
  exit 0
fi
{
  echo "machine: nproc=$(nproc), $(uname -sm), load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (other work shares the cores: CPU time is the steadier figure)"
  echo "dxops source: $SRC_DESC"
  echo "versions: $("$DXOPS" --version 2>/dev/null || echo dxops), node $(node --version), aws-cdk $("$CDK_BIN" --version | cut -d' ' -f1), aws-cdk-lib $(node -p "require('$APP/node_modules/aws-cdk-lib/package.json').version"), hyperfine $(hyperfine --version | cut -d' ' -f2)"
  echo
  node "$HERE/report.js" table "$OUT/hyperfine.json" "$OUT/rss.tsv" "$OUT/counts.tsv"
} | tee "$OUT/summary.md"
