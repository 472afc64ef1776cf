#!/usr/bin/env bash
# Sums VmRSS (current) and VmHWM (peak) in KiB over a process and its children.
set -euo pipefail
pids="$1 $( (pgrep -P "$1" || true) | tr "\n" " ")"
rss=0; hwm=0
for p in $pids; do
  r=$(awk '/^VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
  h=$(awk '/^VmHWM/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
  rss=$((rss + ${r:-0})); hwm=$((hwm + ${h:-0}))
done
echo "{\"rss_kib\": $rss, \"peak_rss_kib\": $hwm}"
