#!/usr/bin/env bash
# One-time (and idempotent) machine set-up for tests, demo and benchmarks: the Debian packages the
# tests drive for real, and the control-plane binaries built from Go modules into .cache/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

log() { printf '[setup] %s\n' "$*" >&2; }

# openssl: throwaway PKI; dnsmasq-base: the clusterset.local DNS server; dash/busybox: the wrapper's
# shells; iproute2/nftables/debootstrap: network namespaces, NAT and the Ceph root folder of the e2e.
PACKAGES=(openssl dnsmasq-base dash busybox iproute2 nftables iptables debootstrap procps)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: ${missing[*]} — run this script as root (or: sudo apt-get install ${missing[*]})"
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null; then
  log "Go (≥1.25) is needed to build kube-apiserver and etcd for the tests; install it and re-run"
  exit 1
fi

bash "$ROOT/test/harness/build-binaries.sh"
log "ready"
