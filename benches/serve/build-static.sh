#!/usr/bin/env bash
# Builds the static dxops-model binary the Dockerfile builds, without Docker:
# glibc linked statically (+crt-static) for x86_64-unknown-linux-gnu, then
# stripped. Prints the path, size and proof that it has no dynamic section.
# The benchmark load generator is built in the same invocation (same target,
# same dependency builds).
set -euo pipefail
cd "$(dirname "$0")/../.."
target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked -p dxops-model --bin dxops-model --example loadgen --target "$target"
bin="target/$target/release/dxops-model"
out="target/dxops-model-static"
cp "$bin" "$out"
strip "$out"
echo "binary: $out"
echo "size_bytes: $(stat -c %s "$out")"
file "$out" || true
if ldd "$out" 2>&1 | grep -q "not a dynamic executable\|statically linked"; then
  echo "linkage: static"
else
  echo "linkage: DYNAMIC" >&2
  ldd "$out" >&2 || true
  exit 1
fi
