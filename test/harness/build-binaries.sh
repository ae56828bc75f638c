#!/usr/bin/env bash
# Builds the real control-plane binaries the tests run (kube-apiserver, etcd) from Go modules,
# into a git-ignored cache keyed by version. Reuses a cached binary when present.
# Why a wrapper module: see ../shared/research/test-infra.md §1–2 (k8s.io/kubernetes pins its staging
# modules at v0.0.0 with replace directives that consumers must repeat at the published version).
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
MCS_API_VERSION="${MCS_API_VERSION:-0.5.2}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${CEPH_MCS_CACHE:-$ROOT/.cache}"
BIN="$CACHE/bin"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"

log() { printf '[build-binaries %4ss] %s\n' "$SECONDS" "$*" >&2; }

need_go() {
  command -v go >/dev/null || { log "go is not installed: install Go ≥1.25 (apt-get install golang-1.2x-go or the machine's toolchain)"; exit 1; }
}

# Prints the path of a module's go.mod from the module cache, downloading it if needed.
gomod_of() { go mod download -json "$1" | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])'; }
moddir_of() { go mod download -json "$1" | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])'; }

# One recipe for every binary of k8s.io/kubernetes (kube-apiserver, kubectl): a wrapper module that
# requires the tag, with the staging replaces taken from the tag's own go.mod.
# $1 = binary name, $2 = package under k8s.io/kubernetes/cmd, $3 = what to say while compiling.
build_k8s_binary() {
  local name="$1" pkg="$2" note="$3"
  local out="$BIN/$name-v$K8S_VERSION"
  if [ -x "$out" ]; then log "$name v$K8S_VERSION: cached ($out)"; return; fi
  local minor="${K8S_VERSION#*.}"; minor="${minor%%.*}"
  local work="$CACHE/build/$name-v$K8S_VERSION"
  rm -rf "$work"; mkdir -p "$work" "$BIN"
  log "$name v$K8S_VERSION: resolving k8s.io/kubernetes go.mod"
  local upstream; upstream="$(gomod_of "k8s.io/kubernetes@v$K8S_VERSION")"
  local gover; gover="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$upstream" | head -1)"
  local godebug; godebug="$(grep -E '^godebug ' "$upstream" || true)"
  {
    echo "module example.invalid/k8sbin"
    echo "go $gover"
    [ -n "$godebug" ] && echo "$godebug"
    echo "require k8s.io/kubernetes v$K8S_VERSION"
  } > "$work/go.mod"
  # The replace list comes from the tag's own go.mod, never hard-coded: it changes between minors.
  local mods; mods="$(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/src/.*#\1#p' "$upstream")"
  (cd "$work" && for m in $mods; do go mod edit -replace="$m=$m@v0.${K8S_VERSION#1.}"; done)
  printf 'package k8sbin\n\nimport _ "k8s.io/kubernetes/cmd/%s"\n' "$pkg" > "$work/tools.go"
  log "$name v$K8S_VERSION: downloading modules ($(echo "$mods" | wc -w) staging replaces, go $gover)"
  (cd "$work" && go mod tidy >/dev/null 2>"$work/tidy.log") || { cat "$work/tidy.log" >&2; exit 1; }
  log "$name v$K8S_VERSION: compiling$note"
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
  ld="$ld -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION"
  (cd "$work" && go build -trimpath -ldflags "$ld" -o "$out.tmp" "k8s.io/kubernetes/cmd/$name")
  mv "$out.tmp" "$out"
  log "$name v$K8S_VERSION: built ($(du -h "$out" | cut -f1))"
}

build_etcd() {
  local out="$BIN/etcd-v$ETCD_VERSION"
  if [ -x "$out" ]; then log "etcd v$ETCD_VERSION: cached ($out)"; return; fi
  local work="$CACHE/build/etcd-v$ETCD_VERSION"
  rm -rf "$work"; mkdir -p "$work" "$BIN"
  local gover; gover="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$(gomod_of "go.etcd.io/etcd/server/v3@v$ETCD_VERSION")" | head -1)"
  printf 'module example.invalid/etcdbin\n\ngo %s\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$gover" "$ETCD_VERSION" > "$work/go.mod"
  printf 'package etcdbin\n\nimport _ "go.etcd.io/etcd/server/v3/etcdmain"\n' > "$work/tools.go"
  log "etcd v$ETCD_VERSION: downloading modules"
  (cd "$work" && go mod tidy >/dev/null 2>"$work/tidy.log") || { cat "$work/tidy.log" >&2; exit 1; }
  log "etcd v$ETCD_VERSION: compiling"
  (cd "$work" && go build -trimpath -ldflags "-s -w" -o "$out.tmp" go.etcd.io/etcd/server/v3)
  mv "$out.tmp" "$out"
  log "etcd v$ETCD_VERSION: built ($(du -h "$out" | cut -f1))"
}

# Copies the upstream mcs-api CRDs out of the Go module cache (never hand-written).
fetch_mcs_crds() {
  local out="$CACHE/crds/mcs-api-v$MCS_API_VERSION"
  if [ -d "$out" ] && ls "$out"/*.yaml >/dev/null 2>&1; then log "mcs-api v$MCS_API_VERSION CRDs: cached"; return; fi
  local dir; dir="$(cd "$CACHE" && moddir_of "sigs.k8s.io/mcs-api@v$MCS_API_VERSION")"
  mkdir -p "$out.tmp"
  cp "$dir"/config/crd/*.yaml "$out.tmp"/
  chmod u+w "$out.tmp"/*.yaml
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "mcs-api v$MCS_API_VERSION CRDs: $(ls "$out" | tr '\n' ' ')"
}

need_go
mkdir -p "$BIN"
fetch_mcs_crds
build_etcd
build_k8s_binary kube-apiserver kube-apiserver/app " (cold build on 2 cores takes several minutes)"
# kubectl for `kubectl apply --dry-run=server -k manifests/` in the tests.
build_k8s_binary kubectl kubectl ""
printf '%s\n' "K8S_VERSION=$K8S_VERSION" "ETCD_VERSION=$ETCD_VERSION" "MCS_API_VERSION=$MCS_API_VERSION" > "$BIN/versions.env"
