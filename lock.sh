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
#
# One role repeats: `firmware`, once per firmware package (FIRMWARE_PACKAGES).
# Those live in Debian's non-free-firmware component, which a machine's apt
# sources often leave out: they are fetched through a private apt
# configuration under $CACHE/apt-firmware whose sources are the machine's
# own Debian entries (same URIs, suites, Signed-By) with non-free-firmware
# added, derived at run time (_fw_apt_setup).

LOCK_FILE=${NEEDLE_LOCK:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/build.lock}

# FIRMWARE_PACKAGES are the firmware packages pinned (role firmware), in
# the order a file is looked up: those of Debian 12 that carry a file the
# image's modules declare (modinfo firmware=) — bnx2 bnx2x (Broadcom
# NetXtreme II), cavium (liquidio), linux-free (isci, pcnet_cs), misc-nonfree
# (cxgb3/4, csiostor, ice, tg3, e100, bna, bfa, r8152, …), myricom (myri10ge),
# netronome (nfp), netxen (netxen_nic, qlcnic), qlogic (qed, qla2xxx, qla1280),
# realtek (r8169). `needle build` lists the declared files none of them carries.
FIRMWARE_PACKAGES=(firmware-bnx2 firmware-bnx2x firmware-cavium firmware-linux-free firmware-misc-nonfree
  firmware-myricom firmware-netronome firmware-netxen firmware-qlogic firmware-realtek)

# lock_entry ROLE [PACKAGE]: sets LOCK_PKG, LOCK_VER and LOCK_SHA from
# build.lock (for a repeated role, the line of PACKAGE).
lock_entry() {
  local role=$1 want=${2:-} r p v s
  [ -f "$LOCK_FILE" ] || die "$LOCK_FILE is missing: create it with ./build.sh --update-lock"
  while read -r r p v s _; do
    case $r in ''|\#*) continue ;; esac
    if [ "$r" = "$role" ] && { [ -z "$want" ] || [ "$p" = "$want" ]; }; then
      LOCK_PKG=$p LOCK_VER=$v LOCK_SHA=$s
      return 0
    fi
  done <"$LOCK_FILE"
  die "$LOCK_FILE has no '$role${want:+ $want}' entry: run ./build.sh --update-lock"
}

# lock_packages ROLE: the packages build.lock pins under ROLE, one a line.
lock_packages() {
  [ -f "$LOCK_FILE" ] || die "$LOCK_FILE is missing: create it with ./build.sh --update-lock"
  awk -v r="$1" '$1 == r {print $2}' "$LOCK_FILE"
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

# _fw_apt_setup: (re)writes the private apt configuration of the firmware
# packages under $CACHE/apt-firmware and sets FW_APT to the apt-get and
# apt-cache options that select it. Its sources are derived from the
# machine's ($NEEDLE_APT_ETC, default /etc/apt): every deb entry of the
# Debian release (suite CODENAME or CODENAME-*) that has main, with the
# same URIs, suites and options (Signed-By), components main and
# non-free-firmware. Lists and downloads stay under $CACHE/apt-firmware;
# the machine's apt.conf.d (proxies) and keyrings apply as usual.
FW_APT=()
_fw_apt_setup() {
  local d=$CACHE/apt-firmware etc=${NEEDLE_APT_ETC:-/etc/apt} codename= f deb822=(/dev/null) oneline=(/dev/null)
  [ ${#FW_APT[@]} -eq 0 ] || return 0
  for f in "$etc"/sources.list.d/*.sources; do [ -f "$f" ] && deb822+=("$f"); done
  for f in "$etc/sources.list" "$etc"/sources.list.d/*.list; do [ -f "$f" ] && oneline+=("$f"); done
  mkdir -p "$d/sources.list.d" "$d/state/lists/partial" "$d/cache/archives/partial"
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || true
  # deb822 .sources: keep the stanzas (and suites) of the release with main.
  awk -v cn="$codename" '
    function flush(   i, n, s, keep) {
      if (types ~ /(^| )deb( |$)/ && comps ~ /(^| )main( |$)/ && enabled != "no") {
        n = split(suites, s, " "); keep = ""
        for (i = 1; i <= n; i++) if (cn == "" || s[i] == cn || index(s[i], cn "-") == 1) keep = keep " " s[i]
        if (keep != "") { printf "Types: deb\nSuites:%s\nComponents: main non-free-firmware\n%s\n", keep, rest }
      }
      types = comps = suites = rest = enabled = ""
    }
    FNR == 1 { flush() }
    /^#/ { next }
    /^[ \t]*$/ { flush(); next }
    /^[Tt]ypes:/ { types = $0; sub(/^[^:]*:[ \t]*/, "", types); last = ""; next }
    /^[Ss]uites:/ { suites = $0; sub(/^[^:]*:[ \t]*/, "", suites); last = ""; next }
    /^[Cc]omponents:/ { comps = $0; sub(/^[^:]*:[ \t]*/, "", comps); last = ""; next }
    /^[Ee]nabled:/ { enabled = tolower($2); next }
    /^[ \t]/ { if (last == "rest") rest = rest $0 "\n"; next }
    { rest = rest $0 "\n"; last = "rest" }
    END { flush() }' "${deb822[@]}" >"$d/sources.list.d/needle-firmware.sources"
  # One-line sources.list and *.list: the same, for each deb line.
  awk -v cn="$codename" '
    $1 != "deb" { next }
    {
      i = 2; opts = ""
      if ($2 ~ /^\[/) { while (i <= NF) { opts = opts " " $i; if ($i ~ /\]$/) break; i++ }; i++ }
      uri = $(i); suite = $(i + 1); main = 0
      for (j = i + 2; j <= NF; j++) if ($j == "main") main = 1
      if (main && (cn == "" || suite == cn || index(suite, cn "-") == 1)) print "deb" opts " " uri " " suite " main non-free-firmware"
    }' "${oneline[@]}" >"$d/sources.list"
  if [ ! -s "$d/sources.list" ] && [ ! -s "$d/sources.list.d/needle-firmware.sources" ]; then
    die "the apt sources in $etc name no Debian ${codename:-} archive with main, so the firmware packages (non-free-firmware) have no mirror; add one, or build with --firmware none"
  fi
  FW_APT=(-o "Dir::Etc::SourceList=$d/sources.list" -o "Dir::Etc::SourceParts=$d/sources.list.d"
    -o "Dir::State=$d/state" -o "Dir::Cache=$d/cache")
}

_fw_updated=
# _fw_apt_update: refresh the private firmware lists once per run (any
# user: they are ours).
_fw_apt_update() {
  [ -z "$_fw_updated" ] || return 1
  _fw_updated=1
  _fw_apt_setup
  echo "lock: apt-get update (firmware: non-free-firmware, $CACHE/apt-firmware)" >&2
  apt-get "${FW_APT[@]}" -o APT::Sandbox::User="$(id -un)" update -q >"$CACHE/apt-firmware/update.log" 2>&1 ||
    { sed 's/^/  /' "$CACHE/apt-firmware/update.log" >&2; return 1; }
}

# _apt_for ROLE: sets APT_OPTS and APT_UPDATE for ROLE's packages: the
# private configuration for firmware, the machine's for the rest.
_apt_for() {
  if [ "$1" = firmware ]; then
    _fw_apt_setup
    APT_OPTS=("${FW_APT[@]}") APT_UPDATE=_fw_apt_update
  else
    APT_OPTS=() APT_UPDATE=_apt_update
  fi
}
APT_OPTS=() APT_UPDATE=_apt_update

# _download PKG VERSION: apt-get download into $CACHE/debs (with APT_OPTS,
# refreshing the lists with APT_UPDATE once if it fails); prints the path.
_download() {
  local pkg=$1 ver=$2 tmp f
  mkdir -p "$CACHE/debs"
  tmp=$(mktemp -d "$CACHE/debs/.dl.XXXXXX")
  if ! (cd "$tmp" && apt-get download -q "${APT_OPTS[@]}" -o APT::Sandbox::User=root "$pkg=$ver" >"$tmp/.log" 2>&1) &&
     ! { $APT_UPDATE && (cd "$tmp" && apt-get download -q "${APT_OPTS[@]}" -o APT::Sandbox::User=root "$pkg=$ver" >"$tmp/.log" 2>&1); }; then
    sed 's/^/  /' "$tmp/.log" >&2
    rm -rf "$tmp"
    return 1
  fi
  f=$(ls "$tmp"/*.deb)
  mv "$f" "$CACHE/debs/"
  rm -rf "$tmp"
  echo "$CACHE/debs/$(basename "$f")"
}

# lock_fetch ROLE [PACKAGE]: the verified .deb of ROLE's pinned package
# (PACKAGE's, for a repeated role); prints its path. Stops with one message
# saying how to move when the mirror no longer has the version or serves
# other bytes under it.
lock_fetch() {
  local role=$1 deb sum
  lock_entry "$role" "${2:-}"
  deb=$(ls "$CACHE/debs/$(_deb_prefix "$LOCK_PKG" "$LOCK_VER")"*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    _apt_for "$role"
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

# lock_extract ROLE DIR [PACKAGE]: dpkg-deb -x ROLE's verified package
# into DIR once; DIR/.extracted names the sha256 it came from, so a re-pin
# re-extracts.
lock_extract() {
  local deb
  deb=$(lock_fetch "$1" "${3:-}") || exit 1
  lock_entry "$1" "${3:-}"
  if [ "$(cat "$2/.extracted" 2>/dev/null)" != "$LOCK_SHA" ]; then
    rm -rf "$2" && mkdir -p "$2"
    dpkg-deb -x "$deb" "$2"
    echo "$LOCK_SHA" >"$2/.extracted"
  fi
}

# lock_extract_all ROLE DIR: lock_extract every package build.lock pins
# under ROLE into DIR/PACKAGE, in the lock's order; sets LOCK_DIRS to the
# PACKAGE=DIR pairs. A fresh private list (firmware) is fetched once, here.
LOCK_DIRS=()
lock_extract_all() {
  local role=$1 pkg missing=
  LOCK_DIRS=()
  for pkg in $(lock_packages "$role"); do
    lock_entry "$role" "$pkg"
    ls "$CACHE/debs/$(_deb_prefix "$LOCK_PKG" "$LOCK_VER")"*.deb >/dev/null 2>&1 || missing=1
  done
  if [ -n "$missing" ] && [ "$role" = firmware ]; then
    _fw_apt_setup
    ls "$CACHE/apt-firmware/state/lists/"*Packages* >/dev/null 2>&1 || _fw_apt_update ||
      die "apt-get update of the firmware sources ($CACHE/apt-firmware) failed (above)"
  fi
  for pkg in $(lock_packages "$role"); do
    lock_extract "$role" "$2/$pkg" "$pkg"
    LOCK_DIRS+=("$pkg=$2/$pkg")
  done
  [ ${#LOCK_DIRS[@]} -gt 0 ] || die "$LOCK_FILE has no '$role' entry: run ./build.sh --update-lock"
}

# _candidate PKG: the version apt would install now (with APT_OPTS).
_candidate() { apt-cache "${APT_OPTS[@]}" policy "$1" 2>/dev/null | awk '/Candidate:/{print $2; exit}'; }

# _dep PKG VERSION REGEX: the first dependency of PKG=VERSION whose name
# matches REGEX.
_dep() {
  apt-cache show "$1=$2" 2>/dev/null | awk -F': ' '/^Depends:/{print $2; exit}' |
    tr ',' '\n' | sed -E 's/^ *//; s/ .*//' | grep -E "$3" | head -n1
}

# _lock_firmware_lines: resolve each of FIRMWARE_PACKAGES to the candidate
# of the private configuration, fetch and hash it; sets LOCK_LINES to the
# build.lock lines.
LOCK_LINES=()
_lock_firmware_lines() {
  local pkg ver deb sum want
  LOCK_LINES=()
  _apt_for firmware
  _fw_apt_update || die "--update-lock: apt-get update of the firmware sources ($CACHE/apt-firmware) failed (above)"
  for pkg in "${FIRMWARE_PACKAGES[@]}"; do
    ver=$(_candidate "$pkg")
    [ -n "$ver" ] && [ "$ver" != "(none)" ] || die "--update-lock: no version of $pkg on the mirror (non-free-firmware)"
    deb=$(ls "$CACHE/debs/$(_deb_prefix "$pkg" "$ver")"*.deb 2>/dev/null | head -n1 || true)
    [ -n "$deb" ] || deb=$(_download "$pkg" "$ver") || die "--update-lock: apt-get download $pkg=$ver failed"
    sum=$(sha256sum "$deb" | cut -d' ' -f1)
    want=$(apt-cache "${APT_OPTS[@]}" show "$pkg=$ver" 2>/dev/null | awk '/^SHA256:/{print $2; exit}')
    [ -z "$want" ] || [ "$want" = "$sum" ] || die "--update-lock: $deb has sha256 $sum, the archive index says $want"
    LOCK_LINES+=("$(printf '%-16s %-32s %-24s %s' firmware "$pkg" "$ver" "$sum")")
    echo "lock: firmware $pkg $ver" >&2
  done
  _apt_for other
}

# lock_update: resolve every role to the mirror's current versions, fetch
# and hash each package, and rewrite build.lock.
#   kernel          the package linux-image-amd64 depends on now
#   headers         linux-headers-KVER at the kernel's version
#   headers-common  and kbuild: what those headers depend on
#   source          linux-source-SERIES at the kernel's version (overlays)
#   busybox, systemd-boot, pci-ids, ca-certificates: the current candidates
#   firmware        each of FIRMWARE_PACKAGES: the candidate of the private
#                   configuration (main + non-free-firmware)
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
  _lock_firmware_lines
  lines+=("${LOCK_LINES[@]}")
  {
    echo "# build.lock: every input ./build.sh downloads, pinned by version and sha256."
    echo "# Written by ./build.sh --update-lock (lock.sh); commit it. Format: ROLE PACKAGE VERSION SHA256."
    printf '%s\n' "${lines[@]}"
  } >"$LOCK_FILE.tmp"
  mv "$LOCK_FILE.tmp" "$LOCK_FILE"
  echo "lock: wrote $LOCK_FILE" >&2
}
