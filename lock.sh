# lock.sh: the pinned build inputs of build.lock. Sourced by build.sh and
# modules/build.sh (bash; they set CACHE and define die before sourcing).
#
# build.lock has one line per downloaded input:
#   ROLE  PACKAGE  VERSION  SHA256
# Every input is a Debian package fetched with `apt-get download PKG=VERSION`
# from the mirror the machine's apt sources name (never written down here),
# kept in $CACHE/debs and checked against the SHA256 on every use.
# `./build.sh --update-lock` (lock_update) re-resolves every role to the
# mirror's current versions and rewrites the file.

LOCK_FILE=${NEEDLE_LOCK:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/build.lock}

# lock_entry ROLE: sets LOCK_PKG, LOCK_VER and LOCK_SHA from build.lock.
lock_entry() {
  local role=$1 r p v s
  [ -f "$LOCK_FILE" ] || die "$LOCK_FILE is missing: create it with ./build.sh --update-lock"
  while read -r r p v s _; do
    case $r in ''|\#*) continue ;; esac
    if [ "$r" = "$role" ]; then
      LOCK_PKG=$p LOCK_VER=$v LOCK_SHA=$s
      return 0
    fi
  done <"$LOCK_FILE"
  die "$LOCK_FILE has no '$role' entry: run ./build.sh --update-lock"
}

# lock_has ROLE: whether build.lock has ROLE.
lock_has() { grep -qE "^$1[[:space:]]" "$LOCK_FILE" 2>/dev/null; }

_lock_updated=
# _apt_update: refresh the package lists once per run (root only): a new
# machine has none, an old one has lists that predate the pinned versions.
_apt_update() {
  [ -z "$_lock_updated" ] && [ "$(id -u)" = 0 ] || return 1
  _lock_updated=1
  echo "lock: apt-get update" >&2
  apt-get update -q >/dev/null 2>&1 || apt-get update -q >&2
}

# _deb_name PKG VERSION: the file name apt-get download gives the package
# (epoch colon written %3a), without the architecture part.
_deb_prefix() { echo "${1}_${2//:/%3a}_"; }

# _download PKG VERSION: apt-get download into $CACHE/debs; prints the path.
_download() {
  local pkg=$1 ver=$2 tmp f
  mkdir -p "$CACHE/debs"
  tmp=$(mktemp -d "$CACHE/debs/.dl.XXXXXX")
  if ! (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >"$tmp/.log" 2>&1) &&
     ! { _apt_update && (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >"$tmp/.log" 2>&1); }; then
    sed 's/^/  /' "$tmp/.log" >&2
    rm -rf "$tmp"
    return 1
  fi
  f=$(ls "$tmp"/*.deb)
  mv "$f" "$CACHE/debs/"
  rm -rf "$tmp"
  echo "$CACHE/debs/$(basename "$f")"
}

# lock_fetch ROLE: the verified .deb of ROLE's pinned package; prints its
# path. Stops with one message saying how to move when the mirror no longer
# has the version or serves other bytes under it.
lock_fetch() {
  local role=$1 deb sum
  lock_entry "$role"
  deb=$(ls "$CACHE/debs/$(_deb_prefix "$LOCK_PKG" "$LOCK_VER")"*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    deb=$(_download "$LOCK_PKG" "$LOCK_VER") ||
      die "build.lock pins $LOCK_PKG $LOCK_VER ($role), which the mirror no longer serves and $CACHE/debs does not hold.
  To move every input to the mirror's current versions: ./build.sh --update-lock
  (it rewrites build.lock; commit it). To keep this version, put its .deb into $CACHE/debs."
  fi
  sum=$(sha256sum "$deb" | cut -d' ' -f1)
  if [ "$sum" != "$LOCK_SHA" ]; then
    die "$deb: sha256 $sum, but build.lock pins $LOCK_PKG $LOCK_VER ($role) at $LOCK_SHA.
  The mirror (or the cache) holds other bytes under the pinned version: delete the file to fetch it again,
  or re-pin every input with ./build.sh --update-lock if the change is expected."
  fi
  echo "$deb"
}

# lock_extract ROLE DIR: dpkg-deb -x ROLE's verified package into DIR once;
# DIR/.extracted names the sha256 it came from, so a re-pin re-extracts.
lock_extract() {
  local deb
  deb=$(lock_fetch "$1") || exit 1
  lock_entry "$1"
  if [ "$(cat "$2/.extracted" 2>/dev/null)" != "$LOCK_SHA" ]; then
    rm -rf "$2" && mkdir -p "$2"
    dpkg-deb -x "$deb" "$2"
    echo "$LOCK_SHA" >"$2/.extracted"
  fi
}

# _candidate PKG: the version apt would install now.
_candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/{print $2; exit}'; }

# _dep PKG VERSION REGEX: the first dependency of PKG=VERSION whose name
# matches REGEX.
_dep() {
  apt-cache show "$1=$2" 2>/dev/null | awk -F': ' '/^Depends:/{print $2; exit}' |
    tr ',' '\n' | sed -E 's/^ *//; s/ .*//' | grep -E "$3" | head -n1
}

# lock_update: resolve every role to the mirror's current versions, fetch
# and hash each package, and rewrite build.lock.
#   kernel          the package linux-image-amd64 depends on now
#   headers         linux-headers-KVER at the kernel's version
#   headers-common  and kbuild: what those headers depend on
#   source          linux-source-SERIES at the kernel's version (overlays)
#   busybox, systemd-boot, pci-ids, ca-certificates: the current candidates
lock_update() {
  [ "$(id -u)" = 0 ] && _apt_update || true
  local kpkg kver kv series hpkg common kbuild spkg lines=() role pkg ver deb sum
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  [ -n "$kpkg" ] || die "--update-lock: apt-cache does not know linux-image-amd64 (run apt-get update as root)"
  kv=$(_candidate "$kpkg")
  kver=${kpkg#linux-image-}
  series=$(echo "$kv" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
  hpkg=linux-headers-$kver
  common=$(_dep "$hpkg" "$kv" '^linux-headers-.*-common$')
  kbuild=$(_dep "$hpkg" "$kv" '^linux-kbuild-')
  [ -n "$common" ] && [ -n "$kbuild" ] || die "--update-lock: $hpkg $kv is not on the mirror, or names no -common/kbuild dependency"
  spkg=linux-source-$series
  apt-cache show "$spkg=$kv" >/dev/null 2>&1 || die "--update-lock: $spkg $kv (the source of $kpkg) is not on the mirror"
  for spec in "kernel $kpkg $kv" "headers $hpkg $kv" "headers-common $common $kv" \
    "kbuild $kbuild $(_candidate "$kbuild")" "source $spkg $kv" \
    "busybox busybox-static $(_candidate busybox-static)" \
    "systemd-boot systemd-boot-efi $(_candidate systemd-boot-efi)" \
    "pci-ids pci.ids $(_candidate pci.ids)" \
    "ca-certificates ca-certificates $(_candidate ca-certificates)"; do
    read -r role pkg ver <<<"$spec"
    [ -n "$ver" ] && [ "$ver" != "(none)" ] || die "--update-lock: no version of $pkg on the mirror"
    deb=$(ls "$CACHE/debs/$(_deb_prefix "$pkg" "$ver")"*.deb 2>/dev/null | head -n1 || true)
    [ -n "$deb" ] || deb=$(_download "$pkg" "$ver") || die "--update-lock: apt-get download $pkg=$ver failed"
    sum=$(sha256sum "$deb" | cut -d' ' -f1)
    want=$(apt-cache show "$pkg=$ver" 2>/dev/null | awk '/^SHA256:/{print $2; exit}')
    [ -z "$want" ] || [ "$want" = "$sum" ] || die "--update-lock: $deb has sha256 $sum, the archive index says $want"
    lines+=("$(printf '%-16s %-32s %-24s %s' "$role" "$pkg" "$ver" "$sum")")
    echo "lock: $role $pkg $ver" >&2
  done
  {
    echo "# build.lock: every input ./build.sh downloads, pinned by version and sha256."
    echo "# Written by ./build.sh --update-lock (lock.sh); commit it. Format: ROLE PACKAGE VERSION SHA256."
    printf '%s\n' "${lines[@]}"
  } >"$LOCK_FILE.tmp"
  mv "$LOCK_FILE.tmp" "$LOCK_FILE"
  echo "lock: wrote $LOCK_FILE" >&2
}
