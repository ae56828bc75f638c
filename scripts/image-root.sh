#!/usr/bin/env bash
# Assembles the runtime files of the images as root folders, by the Dockerfiles' own steps, so they can
# be run and measured on a machine without a Docker engine (test/integration/image-root.test.ts):
#   agent  Dockerfile: the Node 24 runtime as /nodejs/bin/node (+ the shared libraries it links, which
#          distroless/nodejs24 provides), /app/ceph-mcs-agent.mjs, /usr/local/bin/ceph-mcs-exec,
#          the nonroot user 65532; nothing else (no shell).
#   ceph   images/ceph/Dockerfile on the project's Ceph root (scripts/build-ceph-root.sh, Debian's Ceph
#          reef standing in for quay.io/ceph/ceph): + /usr/local/bin/node, the bundle, the launcher.
#
#   bash scripts/image-root.sh agent|ceph      # prints the folder (.cache/image-root/<name>)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${CEPH_MCS_CACHE:-$REPO/.cache}"
NODE="$(readlink -f "$REPO/node_modules/.bin/node")"
what=${1:?usage: image-root.sh agent|ceph}
out="$CACHE/image-root/$what"

log() { printf '[image-root] %s\n' "$*" >&2; }

# Dockerfile, build stage: `node scripts/bundle.ts`.
bundle() {
  (cd "$REPO" && "$NODE" scripts/bundle.ts >&2)
}

# What the distroless base brings for Node: the libraries the binary links, at the same paths.
copy_libs() {
  local lib
  for lib in $(ldd "$NODE" | awk '/=>/ {print $3} /ld-linux/ {print $1}'); do
    mkdir -p "$1$(dirname "$lib")"
    cp -L "$lib" "$1$lib"
  done
}

agent() {
  rm -rf "$out.tmp"
  mkdir -p "$out.tmp"/{nodejs/bin,app,usr/local/bin,etc,dev,proc}
  install -m 0755 "$NODE" "$out.tmp/nodejs/bin/node"
  copy_libs "$out.tmp"
  install -m 0644 "$REPO/dist/ceph-mcs-agent.mjs" "$out.tmp/app/ceph-mcs-agent.mjs"
  install -m 0755 "$REPO/images/ceph-mcs-exec" "$out.tmp/usr/local/bin/ceph-mcs-exec"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$out.tmp/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$out.tmp/etc/group"
  # Mount points a pod would have: the TLS Secret, the pod's emptyDir, the ServiceAccount token.
  mkdir -p "$out.tmp/etc/ceph-mcs-agent/tls" "$out.tmp/run/ceph-mcs" "$out.tmp/var/run/secrets/kubernetes.io/serviceaccount"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

ceph() {
  local base
  base="$(bash "$REPO/scripts/build-ceph-root.sh")"
  rm -rf "$out.tmp"
  mkdir -p "$(dirname "$out")"
  # Hard links: a copy of the Ceph root in seconds; only new files are added below.
  cp -al "$base" "$out.tmp"
  install -m 0755 "$NODE" "$out.tmp/usr/local/bin/node"
  mkdir -p "$out.tmp/usr/local/lib/ceph-mcs-agent"
  install -m 0644 "$REPO/dist/ceph-mcs-agent.mjs" "$out.tmp/usr/local/lib/ceph-mcs-agent/ceph-mcs-agent.mjs"
  install -m 0755 "$REPO/images/ceph/ceph-mcs-agent" "$out.tmp/usr/local/bin/ceph-mcs-agent"
  rm -f "$out.tmp/usr/local/bin/ceph-mcs-exec"
  install -m 0755 "$REPO/images/ceph-mcs-exec" "$out.tmp/usr/local/bin/ceph-mcs-exec"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

bundle
case $what in
  agent) agent ;;
  ceph) ceph ;;
  *) echo "image-root.sh: agent or ceph, not $what" >&2; exit 2 ;;
esac
log "$what: $(du -sh "$out" | cut -f1) in $out"
echo "$out"
