#!/usr/bin/env bash
# bench/foundation.sh: the foundation's figures in one run (run after
# ./build.sh): initramfs size per codec against an image holding only a
# trivial static init, the init binary's size, and build.sh's cold and warm
# times. Boot time is a Go benchmark:
#   go test ./qemu-test -run '^$' -bench BootToBanner -benchtime 5x
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ -x out/bin/needle ] || { echo "run ./build.sh first" >&2; exit 1; }

CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/trivial" ./qemu-test/testdata/trivialinit
size() { stat -c %s "$1"; }
printf '%-6s %14s %14s %8s\n' codec needle trivial ratio
for c in zstd xz gzip; do
  NEEDLE_OUT=$tmp/$c ./build.sh --compress "$c" >/dev/null
  n=$(size "$tmp/$c"/needle.cpio.*)
  out/bin/needle build --init "$tmp/trivial" --needle none --system-ca "" --compress "$c" --out "$tmp/trivial.$c" >/dev/null
  t=$(size "$tmp/trivial.$c")
  printf '%-6s %14d %14d %8.1f\n' "$c" "$n" "$t" "$(awk "BEGIN{print $n/$t}")"
done
printf 'init binary: %d bytes; needle CLI: %d bytes\n' "$(size out/bin/init)" "$(size out/bin/needle)"

# Build time: cold = empty Go build cache and empty download cache; warm = again.
s=$(date +%s.%N)
GOCACHE=$tmp/gocache NEEDLE_CACHE=$tmp/cache NEEDLE_OUT=$tmp/cold ./build.sh >/dev/null
m=$(date +%s.%N)
GOCACHE=$tmp/gocache NEEDLE_CACHE=$tmp/cache NEEDLE_OUT=$tmp/cold ./build.sh >/dev/null
e=$(date +%s.%N)
printf 'build.sh: cold %.1f s, warm %.1f s\n' "$(awk "BEGIN{print $m-$s}")" "$(awk "BEGIN{print $e-$m}")"
