#!/usr/bin/env bash
# Builds the Ceph 18 (reef) root folder the e2e tests run their daemons in: a minimal Debian trixie
# (debootstrap --variant=minbase) with ceph-mon, ceph-osd, ceph-mgr, rbd-mirror and ceph-common.
# Idempotent: a stamp file records the recipe; an up-to-date root is left alone (0 s), a stale or
# half-built one is rebuilt. Nothing stays mounted: every chroot step runs in a private mount
# namespace (unshare), so its /proc and /dev mounts vanish with the step, even on Ctrl-C.
#
#   bash scripts/build-ceph-root.sh          # build if needed, print the root's path on stdout
#   CEPH_ROOT=/path bash …                   # another location (default .cache/ceph-root)
#   DEBIAN_MIRROR=http://… bash …            # mirror (default: the host's first apt URI)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${CEPH_MCS_CACHE:-$REPO/.cache}"
ROOT="${CEPH_ROOT:-$CACHE/ceph-root}"
SUITE=trixie
PACKAGES="ceph-mon ceph-osd ceph-mgr rbd-mirror ceph-common"
# Bump when the recipe below changes: a root with another stamp is rebuilt.
RECIPE="v1 $SUITE minbase; $PACKAGES; mgr_util lazy bcrypt; /e2e /run/ceph-mcs"
STAMP_NAME=.ceph-mcs-root-stamp

log() { printf '[ceph-root %4ss] %s\n' "$SECONDS" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap and chroot need it)"

stamp_ok() { [ -f "$1/$STAMP_NAME" ] && [ "$(head -1 "$1/$STAMP_NAME")" = "$RECIPE" ] && [ -x "$1/usr/bin/ceph-mon" ]; }

mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  uri="$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1 || true)"
  [ -n "$uri" ] || uri="$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
  echo "${uri:-http://deb.debian.org/debian}"
}

# Refuses to delete a folder that something still has mounted inside (rm -rf would walk into it).
safe_rm() {
  [ -e "$1" ] || return 0
  if findmnt -rn -o TARGET | grep -qF "$(realpath "$1")/"; then
    die "$1 has mounts inside (findmnt | grep $1): unmount them first"
  fi
  rm -rf --one-file-system "$1"
}

# Runs a command chrooted in $1 with /proc and /dev mounted only for the command's lifetime.
in_root() {
  local r=$1
  shift
  unshare --mount --propagation private -- sh -c '
    r=$1; shift
    mount -t proc proc "$r/proc" && mount --rbind /dev "$r/dev" && mount -t sysfs sys "$r/sys" || exit 1
    exec chroot "$r" "$@"' sh "$r" "$@"
}

ensure_host_tools() {
  local missing=()
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v unshare >/dev/null || missing+=(util-linux)
  [ "${#missing[@]}" -eq 0 ] && return
  log "installing host packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# trixie's python3-bcrypt is a PyO3 module, which refuses to load in the mgr's sub-interpreters
# ("ImportError: PyO3 modules do not yet support subinterpreters"); mgr_util.py imports it at the top,
# which breaks nearly every mgr module. Import it where it is used instead.
patch_mgr() {
  local f=$1/usr/share/ceph/mgr/mgr_util.py
  [ -f "$f" ] || die "$f missing: ceph-mgr did not install"
  grep -q '^import bcrypt$' "$f" || return 0
  sed -i -e 's/^import bcrypt$//' -e 's/^\(\s*\)if not salt_password:$/\1import bcrypt\n\1if not salt_password:/' "$f"
  log "patched mgr_util.py (lazy bcrypt import)"
}

build() {
  local tmp=$1 m
  m="$(mirror)"
  log "debootstrap --variant=minbase $SUITE from $m (≈20 s)"
  debootstrap --variant=minbase "$SUITE" "$tmp" "$m" >"$tmp.debootstrap.log" 2>&1 ||
    { tail -30 "$tmp.debootstrap.log" >&2; die "debootstrap failed (log: $tmp.debootstrap.log)"; }
  rm -f "$tmp.debootstrap.log"
  # No service may start inside the root while packages install.
  printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
  chmod +x "$tmp/usr/sbin/policy-rc.d"
  log "apt-get install $PACKAGES (≈180 packages, ≈1 min)"
  in_root "$tmp" apt-get update -qq
  in_root "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    $PACKAGES >"$tmp.apt.log" 2>&1 || { tail -30 "$tmp.apt.log" >&2; die "apt-get install failed"; }
  rm -f "$tmp.apt.log"
  in_root "$tmp" apt-get clean
  rm -rf "$tmp"/var/lib/apt/lists/*
  patch_mgr "$tmp"
  # Mount points the e2e harness binds per daemon: its run folder and the pod's shared emptyDir.
  mkdir -p "$tmp/e2e" "$tmp/run/ceph-mcs"
  local version
  version="$(in_root "$tmp" ceph --version)"
  printf '%s\n%s\nbuilt %s\n' "$RECIPE" "$version" "$(date -u +%FT%TZ)" >"$tmp/$STAMP_NAME"
  log "$version"
}

main() {
  mkdir -p "$(dirname "$ROOT")"
  # One builder at a time (two test runs starting together).
  exec 9>"$ROOT.lock"
  flock 9
  if stamp_ok "$ROOT"; then
    log "up to date: $ROOT ($(sed -n 2p "$ROOT/$STAMP_NAME" | awk '{print $3}'))"
    echo "$ROOT"
    return
  fi
  [ -e "$ROOT" ] && log "stale or incomplete root at $ROOT: rebuilding"
  ensure_host_tools
  local tmp="$ROOT.building"
  safe_rm "$tmp"
  build "$tmp"
  safe_rm "$ROOT"
  mv "$tmp" "$ROOT"
  log "ready: $ROOT ($(du -sh "$ROOT" | cut -f1))"
  echo "$ROOT"
}

main "$@"
