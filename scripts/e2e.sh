#!/usr/bin/env bash
# End-to-end tests with real Ceph 18 (reef) daemons in network namespaces (test/e2e/*.test.ts):
# two clusters with the same pod CIDR behind Globalnet-style NAT, the real control plane, dnsmasq,
# the emulated MCS controller, and `ceph-mcs-agent init` in each daemon's pod.
# Needs root and network namespaces; elsewhere the tests report themselves skipped.
# Set-up (cached in .cache/): the control-plane binaries and the Ceph root folder (≈1.5 min once).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
NODE="$ROOT/node_modules/.bin/node"
[ -x "$NODE" ] || { echo "node_modules is missing: run 'npm ci' first" >&2; exit 1; }

start=$SECONDS
if [ "$(id -u)" -eq 0 ] && ip netns list >/dev/null 2>&1; then
  [ "${CEPH_MCS_E2E_SETUP_DONE:-}" = 1 ] || bash scripts/setup.sh
  bash scripts/build-ceph-root.sh >/dev/null
else
  echo "== e2e: not root or no network namespaces here — the e2e tests will be skipped" >&2
fi
# One file at a time: each brings up two Ceph clusters; the machine has 2 cores. Force exit once a
# file's tests and after-hooks are done: a stray handle must not hang CI (cleanup ran in the hooks).
# Arguments: test files to run instead of all (e.g. bash scripts/e2e.sh test/e2e/mirror.test.ts).
files=("$@")
[ "${#files[@]}" -gt 0 ] || files=('test/e2e/**/*.test.ts')
status=0
"$NODE" --test --test-concurrency=1 --test-force-exit --test-reporter=spec "${files[@]}" || status=$?
echo "== e2e wall time: $((SECONDS - start)) s" >&2
exit "$status"
