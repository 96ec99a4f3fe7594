#!/usr/bin/env bash
# modules/build.sh: build a patched-driver overlay from a recipe.
#
#   modules/build.sh RECIPE_DIR [--kver KVER] [--out DIR]
#
# Gets the target kernel's headers (linux-headers-KVER) and the driver's
# source (the recipe's Debian source package) from Debian, applies the
# recipe's patches, builds the module out of tree with Kbuild, checks its
# vermagic, and installs it as OUT/KVER/updates/MODULE.ko (OUT defaults to
# .cache/overlays). `needle build --overlay-dir OUT/KVER` puts it under
# lib/modules/KVER/updates/ in the image, which wins over kernel/ exactly as
# with depmod. See modules/README.md, "Overlays".
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${NEEDLE_CACHE:-$PWD/.cache}
die() { echo "modules/build.sh: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: modules/build.sh RECIPE_DIR [--kver KVER] [--out DIR]"
recipe=$(realpath "$1"); shift
kver= out=$CACHE/overlays
while [ $# -gt 0 ]; do
  case $1 in
    --kver) kver=$2; shift 2 ;;
    --out) out=$(realpath -m "$2"); shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
[ -f "$recipe/recipe" ] || die "$recipe has no recipe file"
MODULE= KERNEL= SOURCE_PACKAGE= SOURCE_DIR= MAKE_ARGS=
# shellcheck disable=SC1091
. "$recipe/recipe"
for v in MODULE KERNEL SOURCE_PACKAGE SOURCE_DIR; do
  [ -n "${!v}" ] || die "$recipe/recipe: $v is not set"
done
kver=${kver:-$KERNEL}

root() { [ "$(id -u)" = 0 ]; }
for c in make gcc patch; do
  command -v $c >/dev/null || { root && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $c >/dev/null; } ||
    die "$c is missing: run  sudo apt-get install -y $c"
done

headers=/usr/src/linux-headers-$kver
if [ ! -d "$headers" ]; then
  if root; then
    echo "modules/build.sh: installing linux-headers-$kver" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "linux-headers-$kver" >/dev/null ||
      die "apt-get install linux-headers-$kver failed"
  else
    die "kernel headers missing: run  sudo apt-get install -y linux-headers-$kver"
  fi
fi

# The driver's source: only its directory is extracted from the tarball.
mkdir -p "$CACHE/debs"
deb=$(ls "$CACHE"/debs/"${SOURCE_PACKAGE}"_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
  (cd "$CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root "$SOURCE_PACKAGE" >&2) ||
    die "apt-get download $SOURCE_PACKAGE failed"
  deb=$(ls "$CACHE"/debs/"${SOURCE_PACKAGE}"_*.deb | head -n1)
fi
src=$CACHE/src/$(basename "$deb" .deb)
stamp=$src/.${SOURCE_DIR//\//_}
if [ ! -e "$stamp" ]; then
  mkdir -p "$src"
  tarball=$(dpkg-deb -c "$deb" | awk '{print $NF}' | grep -E '\.tar\.(xz|gz|bz2)$' | head -n1)
  [ -n "$tarball" ] || die "$deb holds no source tarball"
  top=$(basename "$tarball" | sed -E 's/\.tar\.(xz|gz|bz2)$//')
  dpkg-deb --fsys-tarfile "$deb" | tar -xO "$tarball" | tar -xJ -C "$src" --strip-components=1 "$top/$SOURCE_DIR"
  touch "$stamp"
fi

build=$CACHE/overlay-build/$MODULE-$kver
rm -rf "$build" && mkdir -p "$build/$(dirname "$SOURCE_DIR")"
cp -r "$src/$SOURCE_DIR" "$build/$SOURCE_DIR"
for p in "$recipe"/*.patch; do
  [ -e "$p" ] || continue
  patch -p1 -s -d "$build" <"$p" || die "patch $(basename "$p") does not apply to $SOURCE_PACKAGE $SOURCE_DIR"
done
# shellcheck disable=SC2086
make -s -C "$headers" M="$build/$SOURCE_DIR" $MAKE_ARGS modules >&2 ||
  die "building $MODULE against $headers failed"
ko=$build/$SOURCE_DIR/$MODULE.ko
[ -f "$ko" ] || die "the build made no $MODULE.ko"
vermagic=$(modinfo -F vermagic "$ko" 2>/dev/null || strings "$ko" | sed -n 's/^vermagic=//p' | head -n1)
case $vermagic in
  "$kver "*) ;;
  *) die "$MODULE.ko has vermagic '$vermagic', not for $kver" ;;
esac
mkdir -p "$out/$kver/updates"
install -m 0644 "$ko" "$out/$kver/updates/$MODULE.ko"
echo "$out/$kver/updates/$MODULE.ko"
