#!/usr/bin/env bash
# modules/build.sh: build a patched-driver overlay from a recipe.
#
#   modules/build.sh RECIPE_DIR --kver KVER [--out DIR]
#                    [--series DIR [--upto N]] [--build-dir DIR] [--ko FILE]
#
# A recipe states the kernel series it applies to (SERIES=6.1), not one ABI:
# the overlay is built for KVER, the kernel the image carries, against that
# kernel's own headers and the driver source of the same version, both
# pinned in build.lock (lock.sh): linux-headers-KVER with its -common and
# linux-kbuild packages are extracted into .cache/headers (no system
# install), the driver's directory is taken from linux-source-SERIES. The
# recipe's patches are applied, the module is built out of tree with
# Kbuild, its vermagic checked, and it is installed as
# OUT/KVER/updates/MODULE.ko with OUT/KVER/provenance/MODULE.json (recipe
# and patch digests, the packages it was built from). OUT defaults to
# .cache/overlays. `needle build --overlay-dir OUT/KVER` puts it under
# lib/modules/KVER/updates/ in the image. See modules/README.md, "Overlays".
#
# For `needle bisect build` (one module per prefix of an upstream series):
#   --series DIR --upto N  after the recipe's own patches, apply the first N
#                          DIR/*.patch in name order (C collation; all of
#                          them without --upto)
#   --build-dir DIR        build there (emptied first) instead of
#                          $CACHE/overlay-build/MODULE-KVER, so builds can
#                          run side by side
#   --ko FILE              install the module as FILE and write no
#                          provenance: a candidate is not an image overlay
# Builds may run in parallel: the shared cache (headers tree, driver
# source) is prepared under a lock.
#
# Exit status, for callers that tell failures apart:
#   0  built;  3  a patch does not apply;  4  the module does not build
#   (compiler error, no .ko, wrong vermagic);  1  anything else (usage,
#   missing tools or inputs).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${NEEDLE_CACHE:-$PWD/.cache}
export LC_ALL=C
die() { echo "modules/build.sh: $*" >&2; exit 1; }
die_apply() { echo "modules/build.sh: patch does not apply: $*" >&2; exit 3; }
die_build() { echo "modules/build.sh: build failed: $*" >&2; exit 4; }
[ $# -ge 1 ] || die "usage: modules/build.sh RECIPE_DIR --kver KVER [--out DIR] [--series DIR [--upto N]] [--build-dir DIR] [--ko FILE]"
recipe=$(realpath "$1"); shift
kver= out=$CACHE/overlays series= upto= build= ko_out=
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || die "$1 needs a value"
  case $1 in
    --kver) kver=$2; shift 2 ;;
    --out) out=$(realpath -m "$2"); shift 2 ;;
    --series) series=$(realpath "$2"); shift 2 ;;
    --upto) upto=$2; shift 2 ;;
    --build-dir) build=$(realpath -m "$2"); shift 2 ;;
    --ko) ko_out=$(realpath -m "$2"); shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
[ -f "$recipe/recipe" ] || die "$recipe has no recipe file"
series_patches=()
if [ -n "$series" ]; then
  [ -d "$series" ] || die "--series $series is not a directory"
  series_patches=("$series"/*.patch)
  [ -e "${series_patches[0]}" ] || die "--series $series holds no *.patch"
  if [ -n "$upto" ]; then
    case $upto in ''|*[!0-9]*) die "--upto $upto: want a number of patches" ;; esac
    [ "$upto" -le ${#series_patches[@]} ] || die "--upto $upto: $series holds only ${#series_patches[@]} patches"
    series_patches=("${series_patches[@]:0:$upto}")
  fi
elif [ -n "$upto" ]; then
  die "--upto needs --series"
fi
[ -n "$kver" ] || kver=$(cat out/kernel-release 2>/dev/null) || die "--kver KVER is required (or run ./build.sh first)"
MODULE= SERIES= SOURCE_DIR= MAKE_ARGS= KERNEL=
# shellcheck disable=SC1091
. "$recipe/recipe"
[ -z "$KERNEL" ] || die "$recipe/recipe: KERNEL=$KERNEL pins one ABI; state the series instead (SERIES=${KERNEL%.*-*})"
for v in MODULE SERIES SOURCE_DIR; do
  [ -n "${!v}" ] || die "$recipe/recipe: $v is not set"
done
case $kver in
  "$SERIES".*) ;;
  *) die "$recipe is for kernel series $SERIES; the image's kernel is $kver" ;;
esac
for c in make gcc patch modinfo; do
  command -v $c >/dev/null || die "$c is missing: run ./build.sh as root once (host-packages.txt), or apt-get install it"
done

# shellcheck source=../lock.sh
. ./lock.sh
lock_entry kernel
[ "${LOCK_PKG#linux-image-}" = "$kver" ] ||
  die "build.lock pins headers and source for ${LOCK_PKG#linux-image-}, not $kver: overlays build only for the locked kernel; pin yours with ./build.sh --update-lock"
kernel_version=$LOCK_VER

# The cache below is shared by builds running side by side: prepare it
# under one lock.
mkdir -p "$CACHE"
exec {cachelock}>"$CACHE/.modules-build.lock"
flock "$cachelock"

# The headers: linux-headers-KVER, its -common and linux-kbuild-SERIES,
# extracted side by side; their Makefile includes the -common tree by
# absolute /usr/src path, which is pointed at the extracted copy.
hroot=$CACHE/headers/$kver
for role in headers headers-common kbuild; do
  lock_extract "$role" "$hroot/$role"
done
headers=$CACHE/headers/$kver/tree
if [ "$(cat "$headers/.stamp" 2>/dev/null)" != "$(cat "$hroot"/*/.extracted)" ]; then
  rm -rf "$headers" && mkdir -p "$headers/usr"
  for role in headers headers-common kbuild; do cp -a "$hroot/$role/usr/." "$headers/usr/"; done
  hdir=$headers/usr/src/linux-headers-$kver
  sed -i -E "s|^include /usr/src/|include $headers/usr/src/|" "$hdir/Makefile"
  cat "$hroot"/*/.extracted >"$headers/.stamp"
fi
hdir=$headers/usr/src/linux-headers-$kver
[ -f "$hdir/Makefile" ] || die "the pinned headers hold no $hdir/Makefile"

# The driver's source: only its directory is extracted from the tarball.
lock_entry source
[ "$LOCK_PKG" = "linux-source-$SERIES" ] || die "build.lock's source is $LOCK_PKG, the recipe wants linux-source-$SERIES"
[ "$LOCK_VER" = "$kernel_version" ] || die "build.lock's $LOCK_PKG is $LOCK_VER, the kernel is $kernel_version: run ./build.sh --update-lock"
source_pkg=$LOCK_PKG source_ver=$LOCK_VER source_sha=$LOCK_SHA
deb=$(lock_fetch source) || exit 1
src=$CACHE/src/$source_pkg-$source_ver
stamp=$src/.${SOURCE_DIR//\//_}
if [ ! -e "$stamp" ]; then
  mkdir -p "$src"
  tarball=$(dpkg-deb -c "$deb" | awk '{print $NF}' | grep -E '\.tar\.(xz|gz|bz2)$' | head -n1)
  [ -n "$tarball" ] || die "$deb holds no source tarball"
  top=$(basename "$tarball" | sed -E 's/\.tar\.(xz|gz|bz2)$//')
  dpkg-deb --fsys-tarfile "$deb" | tar -xO "$tarball" | tar -xJ -C "$src" --strip-components=1 "$top/$SOURCE_DIR"
  touch "$stamp"
fi
flock -u "$cachelock"

[ -n "$build" ] || build=$CACHE/overlay-build/$MODULE-$kver
rm -rf "$build" && mkdir -p "$build/$(dirname "$SOURCE_DIR")"
cp -r "$src/$SOURCE_DIR" "$build/$SOURCE_DIR"
patches=("$recipe"/*.patch)
[ -e "${patches[0]}" ] || patches=()
for p in "${patches[@]}"; do
  patch -p1 -s -d "$build" <"$p" >&2 || die_apply "$p (the recipe's) to $source_pkg $source_ver $SOURCE_DIR"
done
for p in "${series_patches[@]}"; do
  patch -p1 -s -d "$build" <"$p" >&2 || die_apply "$p (series) on top of the recipe and the series patches before it"
done
# shellcheck disable=SC2086
make -s -C "$hdir" M="$build/$SOURCE_DIR" $MAKE_ARGS modules >&2 ||
  die_build "$MODULE against linux-headers-$kver (above)"
ko=$build/$SOURCE_DIR/$MODULE.ko
[ -f "$ko" ] || die_build "the build made no $MODULE.ko"
vermagic=$(modinfo -F vermagic "$ko")
case $vermagic in
  "$kver "*) ;;
  *) die_build "$MODULE.ko has vermagic '$vermagic', not for $kver" ;;
esac
if [ -n "$ko_out" ]; then
  mkdir -p "$(dirname "$ko_out")"
  install -m 0644 "$ko" "$ko_out"
  echo "$ko_out"
  exit 0
fi
mkdir -p "$out/$kver/updates" "$out/$kver/provenance"
install -m 0644 "$ko" "$out/$kver/updates/$MODULE.ko"

# Provenance, for needle build's manifest: what went into this module.
sha() { sha256sum "$1" | cut -d' ' -f1; }
lock_entry headers
{
  printf '{"module":"%s","recipe":"%s","series":"%s","kernel":"%s",\n' "$MODULE" "$(basename "$recipe")" "$SERIES" "$kver"
  printf ' "source":{"package":"%s","version":"%s","sha256":"%s"},\n' "$source_pkg" "$source_ver" "$source_sha"
  printf ' "headers":{"package":"%s","version":"%s","sha256":"%s"},\n' "$LOCK_PKG" "$LOCK_VER" "$LOCK_SHA"
  printf ' "files":['
  sep=
  printf '%s{"name":"recipe","sha256":"%s"}' "$sep" "$(sha "$recipe/recipe")"; sep=,
  for p in "${patches[@]}"; do
    printf '%s\n  {"name":"%s","sha256":"%s"}' "$sep" "$(basename "$p")" "$(sha "$p")"
  done
  for p in "${series_patches[@]}"; do
    printf '%s\n  {"name":"series/%s","sha256":"%s"}' "$sep" "$(basename "$p")" "$(sha "$p")"
  done
  printf '],\n "ko_sha256":"%s"}\n' "$(sha "$out/$kver/updates/$MODULE.ko")"
} >"$out/$kver/provenance/$MODULE.json"
echo "$out/$kver/updates/$MODULE.ko"
