#!/usr/bin/env bash
# build.sh: one command from a fresh Debian 12 machine with Go to a bootable
# needle: out/vmlinuz and out/needle.cpio.zst (see README.md).
#
#   ./build.sh [--kernel-deb FILE | --kernel-dir DIR] [--compress zstd|xz|gzip] [demo]
#
# The reference kernel (Debian bookworm linux-image-amd64) and busybox-static
# are fetched with apt-get download and cached under .cache/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")"

CACHE=${NEEDLE_CACHE:-$PWD/.cache}
OUT=${NEEDLE_OUT:-$PWD/out}
kernel_deb= kernel_dir= compress=zstd demo=

die() { echo "build.sh: $*" >&2; exit 1; }
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case $1 in
    --kernel-deb) kernel_deb=$(realpath "$2"); shift 2 ;;
    --kernel-dir) kernel_dir=$(realpath "$2"); shift 2 ;;
    --compress) compress=$2; shift 2 ;;
    demo) demo=1; shift ;;
    -h|--help) usage ;;
    *) echo "build.sh: unknown argument $1" >&2; usage 2 ;;
  esac
done
case $compress in zstd) ext=zst ;; xz) ext=xz ;; gzip) ext=gz ;; *) die "--compress $compress: want zstd, xz or gzip" ;; esac

# need PKG CMD...: install the Debian package holding missing commands when
# root, else stop with the exact command to run.
need() {
  local pkg=$1; shift
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 && continue
    if [ "$(id -u)" = 0 ]; then
      echo "build.sh: installing $pkg (for $c)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >/dev/null || die "apt-get install $pkg failed"
    else
      die "$c is missing: run  sudo apt-get install -y $pkg"
    fi
    return
  done
}
command -v go >/dev/null || die "go is missing: install Go 1.26 (https://go.dev/doc/install) and put it on PATH"
command -v apt-get >/dev/null || die "apt-get is missing: build.sh fetches the kernel from Debian's archive; on another system pass --kernel-dir DIR"
need dpkg dpkg-deb

# apt_download PKG: download PKG's .deb into $CACHE/debs once and print its path.
apt_download() {
  local pkg=$1 deb
  mkdir -p "$CACHE/debs"
  deb=$(ls "$CACHE"/debs/"${pkg}"_*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    (cd "$CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) ||
      die "apt-get download $pkg failed (run apt-get update as root first?)"
    deb=$(ls "$CACHE"/debs/"${pkg}"_*.deb | head -n1)
  fi
  echo "$deb"
}

# extract DEB DIR: dpkg -x once; a stamp file names the .deb it came from.
extract() {
  if [ "$(cat "$2/.extracted" 2>/dev/null)" != "$(basename "$1")" ]; then
    rm -rf "$2" && mkdir -p "$2"
    dpkg-deb -x "$1" "$2"
    basename "$1" >"$2/.extracted"
  fi
}

if [ -z "$kernel_dir" ]; then
  if [ -z "$kernel_deb" ]; then
    # linux-image-amd64 is a metapackage: the kernel is what it depends on.
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    if [ -z "$pkg" ] && [ "$(id -u)" = 0 ]; then
      apt-get update -q >/dev/null
      pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    fi
    [ -n "$pkg" ] || die "apt-cache does not know linux-image-amd64: run  sudo apt-get update"
    kernel_deb=$(apt_download "$pkg")
  fi
  # Debian (and make bindeb-pkg) name the package linux-image-KVER.
  pkgname=$(dpkg-deb -f "$kernel_deb" Package)
  kernel_dir=$CACHE/kernel/${pkgname#linux-image-}
  extract "$kernel_deb" "$kernel_dir"
fi
[ -d "$kernel_dir/lib/modules" ] || die "$kernel_dir has no lib/modules"
kver=$(ls "$kernel_dir/lib/modules" | head -n1)
[ -f "$kernel_dir/boot/vmlinuz-$kver" ] || die "$kernel_dir has no boot/vmlinuz-$kver"

# Patched-driver overlays whose recipe targets this kernel (modules/overlays).
overlay_args=()
for r in modules/overlays/*/recipe; do
  [ -e "$r" ] || continue
  if [ "$(. "$r"; echo "$KERNEL")" = "$kver" ]; then
    modules/build.sh "$(dirname "$r")" --kver "$kver" --out "$CACHE/overlays" >/dev/null
    overlay_args=(--overlay-dir "$CACHE/overlays/$kver")
  fi
done

busybox_dir=$CACHE/busybox
extract "$(apt_download busybox-static)" "$busybox_dir"

version=$(git describe --always --dirty 2>/dev/null || echo dev)
mkdir -p "$OUT/bin"
export CGO_ENABLED=0
gobuild() { go build -trimpath -ldflags "-s -w -X main.version=$version" "$@"; }
gobuild -o "$OUT/bin/init" ./cmds/init
gobuild -o "$OUT/bin/needle" ./cmds/needle
# kexec, lspci-like pci and dmidecode from u-root (the version go.mod pins).
for c in core/kexec core/pci exp/dmidecode; do
  go build -trimpath -ldflags "-s -w" -o "$OUT/bin/$(basename $c)" "github.com/u-root/u-root/cmds/$c"
done

"$OUT/bin/needle" build \
  --kernel-dir "$kernel_dir" --kver "$kver" \
  --init "$OUT/bin/init" --busybox "$busybox_dir/bin/busybox" \
  --tool "$OUT/bin/kexec:/bin/kexec" --tool "$OUT/bin/pci:/bin/pci" --tool "$OUT/bin/dmidecode:/bin/dmidecode" \
  "${overlay_args[@]}" \
  --compress "$compress" --out "$OUT/needle.cpio.$ext" --kernel-out "$OUT/vmlinuz"
echo "$kver" >"$OUT/kernel-release"
echo "build.sh: kernel $kver ($(basename "$kernel_dir")), needle $version -> $OUT/vmlinuz $OUT/needle.cpio.$ext"

if [ -n "$demo" ]; then
  exec "$OUT/bin/needle" demo --kernel "$OUT/vmlinuz" --initrd "$OUT/needle.cpio.$ext"
fi
