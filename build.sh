#!/usr/bin/env bash
# build.sh: one command from a fresh Debian 12 machine with Go to a bootable
# needle: out/vmlinuz, out/needle.cpio.zst and out/needle.manifest.json
# (see README.md).
#
#   ./build.sh [--update-lock] [--kernel-deb FILE | --kernel-dir DIR]
#              [--hwdb-extra DIR] [--recipes DIR]... [--compress zstd|xz|gzip]
#              [--firmware declared|none] [demo]
#
# Every downloaded input (kernel, busybox-static, the headers and source
# overlays build from, systemd-boot, pci.ids, the CA bundle, the firmware
# packages) is pinned in build.lock and verified (lock.sh); --update-lock
# re-pins them all to the mirror's current versions first. --firmware none
# leaves out the firmware files the modules declare (default: declared).
# host-packages.txt lists the host packages the build and the tests use;
# as root, missing ones are installed.
set -euo pipefail
cd "$(dirname "$0")"

CACHE=${NEEDLE_CACHE:-$PWD/.cache}
OUT=${NEEDLE_OUT:-$PWD/out}
kernel_deb= kernel_dir= compress=zstd demo= update_lock= hwdb_extra= firmware=declared
recipe_dirs=(modules/overlays)

die() { echo "build.sh: $*" >&2; exit 1; }
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case $1 in
    --update-lock) update_lock=1; shift ;;
    --kernel-deb) kernel_deb=$(realpath "$2"); shift 2 ;;
    --kernel-dir) kernel_dir=$(realpath "$2"); shift 2 ;;
    --hwdb-extra) hwdb_extra=$(realpath "$2"); shift 2 ;;
    --recipes) recipe_dirs+=("$(realpath "$2")"); shift 2 ;;
    --compress) compress=$2; shift 2 ;;
    --firmware) firmware=$2; shift 2 ;;
    demo) demo=1; shift ;;
    -h|--help) usage ;;
    *) echo "build.sh: unknown argument $1" >&2; usage 2 ;;
  esac
done
case $compress in zstd) ext=zst ;; xz) ext=xz ;; gzip) ext=gz ;; *) die "--compress $compress: want zstd, xz or gzip" ;; esac
case $firmware in declared|none) ;; *) die "--firmware $firmware: want declared or none" ;; esac
command -v go >/dev/null || die "go is missing: install Go 1.26 (https://go.dev/doc/install) and put it on PATH"
command -v apt-get >/dev/null || die "apt-get is missing: build.sh fetches its inputs from Debian's archive"

# Host packages (host-packages.txt): as root install every missing one in
# one apt-get call; otherwise stop on a missing build package and name the
# test packages the README's test command will need.
host_packages() {
  local pkg use probe missing_build=() missing_test=()
  while read -r pkg use rest; do
    case $pkg in ''|\#*) continue ;; esac
    for probe in $rest; do
      if [ "${probe#/}" != "$probe" ]; then [ -e "$probe" ] && continue
      else command -v "$probe" >/dev/null 2>&1 && continue; fi
      if [ "$use" = build ]; then missing_build+=("$pkg"); else missing_test+=("$pkg"); fi
      break
    done
  done <host-packages.txt
  local all=("${missing_build[@]}" "${missing_test[@]}")
  [ ${#all[@]} -gt 0 ] || return 0
  if [ "$(id -u)" = 0 ]; then
    echo "build.sh: installing ${all[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${all[@]}" >/dev/null 2>&1 || {
      apt-get update -q >/dev/null
      apt-get install -y -q --no-install-recommends "${all[@]}" >/dev/null
    } || die "apt-get install ${all[*]} failed"
  elif [ ${#missing_build[@]} -gt 0 ]; then
    die "missing host packages: run  sudo apt-get install -y --no-install-recommends ${all[*]}"
  else
    echo "build.sh: the tests will need: sudo apt-get install -y --no-install-recommends ${missing_test[*]}" >&2
  fi
}
host_packages

# shellcheck source=lock.sh
. ./lock.sh
[ -z "$update_lock" ] || lock_update

# The kernel: build.lock's, unless the user brings their own.
if [ -z "$kernel_dir" ]; then
  if [ -z "$kernel_deb" ]; then
    kernel_deb=$(lock_fetch kernel) || exit 1
  fi
  # Debian (and make bindeb-pkg) name the package linux-image-KVER.
  pkgname=$(dpkg-deb -f "$kernel_deb" Package)
  kernel_dir=$CACHE/kernel/${pkgname#linux-image-}
  sum=$(sha256sum "$kernel_deb" | cut -d' ' -f1)
  if [ "$(cat "$kernel_dir/.extracted" 2>/dev/null)" != "$sum" ]; then
    rm -rf "$kernel_dir" && mkdir -p "$kernel_dir"
    dpkg-deb -x "$kernel_deb" "$kernel_dir"
    echo "$sum" >"$kernel_dir/.extracted"
  fi
fi
[ -d "$kernel_dir/lib/modules" ] || die "$kernel_dir has no lib/modules"
kver=$(ls "$kernel_dir/lib/modules" | head -n1)
[ -f "$kernel_dir/boot/vmlinuz-$kver" ] || die "$kernel_dir has no boot/vmlinuz-$kver"
# Tests find the kernel as .cache/kernel/$(cat out/kernel-release).
if [ "$kernel_dir" != "$CACHE/kernel/$kver" ]; then
  mkdir -p "$CACHE/kernel"
  if [ -L "$CACHE/kernel/$kver" ] || [ ! -e "$CACHE/kernel/$kver" ]; then
    ln -sfn "$kernel_dir" "$CACHE/kernel/$kver"
  fi
fi

lock_extract busybox "$CACHE/busybox"
lock_extract systemd-boot "$CACHE/systemd-boot"
lock_extract pci-ids "$CACHE/pci-ids"
lock_extract ca-certificates "$CACHE/ca-certificates"
# The CA bundle update-ca-certificates would make of the pinned package.
ca_bundle=$CACHE/ca-certificates/ca-certificates.crt
if [ ! -s "$ca_bundle" ]; then
  find "$CACHE/ca-certificates/usr/share/ca-certificates" -name '*.crt' | LC_ALL=C sort | xargs cat >"$ca_bundle.tmp"
  mv "$ca_bundle.tmp" "$ca_bundle"
fi

# Firmware: the pinned packages, unpacked; needle build takes from them
# exactly the files the image's modules declare.
firmware_args=(--firmware "$firmware")
if [ "$firmware" = declared ]; then
  lock_extract_all firmware "$CACHE/firmware"
  for src in "${LOCK_DIRS[@]}"; do firmware_args+=(--firmware-source "$src"); done
fi

version=$(git describe --always --dirty 2>/dev/null || echo dev)
# The init keeps the clock from running before the build (a dead RTC
# battery would make every certificate "not yet valid"): the commit's
# time, so that two builds of one commit stay identical.
epoch=$(git log -1 --format=%ct 2>/dev/null || echo "${SOURCE_DATE_EPOCH:-}")
mkdir -p "$OUT/bin"
export CGO_ENABLED=0
gobuild() { go build -trimpath -ldflags "-s -w -X main.version=$version -X main.epoch=$epoch" "$@"; }
gobuild -o "$OUT/bin/init" ./cmds/init
gobuild -o "$OUT/bin/needle" ./cmds/needle
# The image's needle leaves out the host-only commands (demo, bench) and
# everything they link (the QEMU harness, the OS-image builder).
gobuild -tags ramdisk -o "$OUT/bin/needle-ramdisk" ./cmds/needle
# kexec, lspci-like pci and dmidecode from u-root (the version go.mod pins).
for c in core/kexec core/pci exp/dmidecode; do
  go build -trimpath -ldflags "-s -w" -o "$OUT/bin/$(basename $c)" "github.com/u-root/u-root/cmds/$c"
done

# Patched-driver overlays: every overlay a shipped (or --hwdb-extra) rule
# names for this kernel is built from its recipe, or the build stops.
hwdb_args=()
[ -z "$hwdb_extra" ] || hwdb_args=(--hwdb-extra "$hwdb_extra")
needed=$("$OUT/bin/needle" hwdb overlays --kernel "$kver" "${hwdb_args[@]}") ||
  die "needle hwdb overlays: cannot tell which overlays the hwdb rules need (above)"
rm -rf "$OUT/overlays"
overlay_args=()
while read -r module rule where; do
  [ -n "$module" ] || continue
  recipe=
  for d in "${recipe_dirs[@]}"; do
    for r in "$d"/*/recipe; do
      [ -e "$r" ] && [ "$(MODULE=; . "$r"; echo "$MODULE")" = "$module" ] && recipe=$(dirname "$r") && break 2
    done
  done
  [ -n "$recipe" ] || die "hwdb rule $rule ($where) needs overlay $module for $kver, and no recipe in ${recipe_dirs[*]} makes it"
  echo "build.sh: overlay $module for $kver (rule $rule, $where) from $recipe"
  modules/build.sh "$recipe" --kver "$kver" --out "$OUT/overlays" >/dev/null ||
    die "overlay $module, needed by hwdb rule $rule ($where), cannot be built for $kver (above)"
  overlay_args=(--overlay-dir "$OUT/overlays/$kver")
done <<<"$needed"

"$OUT/bin/needle" build \
  --kernel-dir "$kernel_dir" --kver "$kver" \
  --init "$OUT/bin/init" --needle "$OUT/bin/needle-ramdisk" --busybox "$CACHE/busybox/bin/busybox" \
  --tool "$OUT/bin/kexec:/bin/kexec" --tool "$OUT/bin/pci:/bin/pci" --tool "$OUT/bin/dmidecode:/bin/dmidecode" \
  --pci-ids "$CACHE/pci-ids/usr/share/misc/pci.ids" --system-ca "$ca_bundle" \
  --lock "$LOCK_FILE" "${hwdb_args[@]}" "${overlay_args[@]}" "${firmware_args[@]}" \
  --compress "$compress" --out "$OUT/needle.cpio.$ext" --kernel-out "$OUT/vmlinuz"
echo "$kver" >"$OUT/kernel-release"
echo "build.sh: kernel $kver ($(basename "$kernel_dir")), needle $version -> $OUT/vmlinuz $OUT/needle.cpio.$ext"

if [ -n "$demo" ]; then
  exec "$OUT/bin/needle" demo --kernel "$OUT/vmlinuz" --initrd "$OUT/needle.cpio.$ext"
fi
