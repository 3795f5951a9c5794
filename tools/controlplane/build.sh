#!/usr/bin/env bash
# Builds the local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok, helm) from the pinned Go modules next to this script.
#
# Output: ${BOTFLEET_CACHE:-<repo>/.cache}/controlplane/<key>/bin/ (+ kwok-stages/), where <key>
# hashes the go.mod/go.sum files, the versions below and the Go version: changing a pin builds anew,
# everything else reuses the cache. Idempotent; safe to run concurrently (flock).
#
# Usage: build.sh            build what is missing, print the bin dir on the last line
#        build.sh --print-dir print the bin dir only (no build)
#        build.sh --check     exit 0 when every binary is present, 1 otherwise
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${BOTFLEET_CACHE:-$REPO/.cache}"

K8S_VERSION=v1.36.3
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.22.0
KUBE_ROUTER_VERSION=v2.1.0 # informational: the pin lives in kube-router/go.mod
ETCD_VERSION=v3.6.16 # informational: the pin lives in etcd/go.mod
BUILD_REV=1

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
JOBS="${BOTFLEET_BUILD_JOBS:-2}"

key() {
    {
        for f in kubernetes etcd kwok helm; do
            cat "$HERE/$f/go.mod" "$HERE/$f/go.sum"
            [ -f "$HERE/$f/main.go" ] && cat "$HERE/$f/main.go"
        done
        # Bump BUILD_REV when a change here must rebuild the binaries (e.g. new ldflags).
        echo "$BUILD_REV $K8S_VERSION $KWOK_VERSION $HELM_VERSION"
        go env GOVERSION GOOS GOARCH
    } | sha256sum | cut -c1-16
}

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
    echo "build.sh: 'go' is not on PATH; install Go >= 1.26 (the Kubernetes ${K8S_VERSION} modules need it)" >&2
    exit 2
fi

OUT="$CACHE/controlplane/$(key)"
BIN="$OUT/bin"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok kubectl helm kubelet kube-proxy kube-score kube-router)
# kube-router has a key of its own (its go.mod/go.sum), kept next to the binary: adding or changing
# it rebuilds kube-router alone, not the control plane everyone's cache holds.
kube_router_key() { cat "$HERE/kube-router/go.mod" "$HERE/kube-router/go.sum" | sha256sum | cut -c1-16; }

case "${1:-}" in
--print-dir)
    echo "$BIN"
    exit 0
    ;;
--check)
    for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || exit 1; done
    [ "$(cat "$BIN/.kube-router.key" 2>/dev/null)" = "$(kube_router_key)" ] || exit 1
    [ -d "$OUT/kwok-stages" ] || exit 1
    exit 0
    ;;
"") ;;
*)
    echo "build.sh: unknown argument '$1' (use --print-dir or --check)" >&2
    exit 2
    ;;
esac

log() { printf '[%s] controlplane build: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

mkdir -p "$BIN"
exec 9>"$OUT/.lock"
flock 9

k8s_ldflags() {
    local minor="${K8S_VERSION#v1.}"
    minor="${minor%%.*}"
    local p=k8s.io/component-base/version p2=k8s.io/client-go/pkg/version
    local f="-s -w"
    for v in "$p" "$p2"; do
        f="$f -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor"
        f="$f -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
    done
    echo "$f"
}

# build NAME MODULE_DIR PACKAGE LDFLAGS
build() {
    local name="$1" dir="$2" pkg="$3" ldflags="$4"
    if [ -x "$BIN/$name" ]; then
        log "$name: cached"
        return
    fi
    local start=$SECONDS
    log "$name: building $pkg"
    (cd "$HERE/$dir" && go build -trimpath -p "$JOBS" -ldflags "$ldflags" -o "$BIN/.$name.tmp" "$pkg")
    mv "$BIN/.$name.tmp" "$BIN/$name"
    log "$name: done in $((SECONDS - start))s"
}

TOTAL_START=$SECONDS
missing=0
for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || missing=$((missing + 1)); done
if [ "$missing" -gt 0 ]; then
    log "building $missing binaries into $BIN with $JOBS jobs. On 2 cores a first build (modules downloaded, empty"
    log "Go build cache) takes ~15-25 min when idle, ~45 min on a busy machine; with a warm Go build cache ~2 min."
fi
build etcd etcd . "-s -w"
build kube-apiserver kubernetes k8s.io/kubernetes/cmd/kube-apiserver "$(k8s_ldflags)"
build kube-controller-manager kubernetes k8s.io/kubernetes/cmd/kube-controller-manager "$(k8s_ldflags)"
build kube-scheduler kubernetes k8s.io/kubernetes/cmd/kube-scheduler "$(k8s_ldflags)"
build kwok kwok sigs.k8s.io/kwok/cmd/kwok \
    "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=$K8S_VERSION"
build kubectl kubernetes k8s.io/kubernetes/cmd/kubectl "$(k8s_ldflags)"
# The real node (tests marked realnode, `botfleet dev cluster up --real-node`).
build kubelet kubernetes k8s.io/kubernetes/cmd/kubelet "$(k8s_ldflags)"
build kube-proxy kubernetes k8s.io/kubernetes/cmd/kube-proxy "$(k8s_ldflags)"
# kube-score (the chart tests' linter) has its own module; it is not part of the cache key (so pinning a
# new version rebuilds only it): its go.mod/go.sum hash is kept beside the binary instead.
ks_key="$(cat "$HERE/kube-score/go.mod" "$HERE/kube-score/go.sum" | sha256sum | cut -c1-16)"
[ "$(cat "$BIN/.kube-score.key" 2>/dev/null)" = "$ks_key" ] || rm -f "$BIN/kube-score"
build kube-score kube-score github.com/zegl/kube-score/cmd/kube-score "-s -w"
echo "$ks_key" > "$BIN/.kube-score.key"
build helm helm helm.sh/helm/v3/cmd/helm \
    "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"

# NetworkPolicy enforcement on the real node (its firewall only).
if [ "$(cat "$BIN/.kube-router.key" 2>/dev/null)" != "$(kube_router_key)" ]; then
    rm -f "$BIN/kube-router"
fi
build kube-router kube-router github.com/cloudnativelabs/kube-router/v2/cmd/kube-router \
    "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION"
kube_router_key > "$BIN/.kube-router.key"

# kwok's default stage definitions (what it does to nodes and pods) ship in its module source.
if [ ! -d "$OUT/kwok-stages" ]; then
    src="$(cd "$HERE/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage"
    rm -rf "$OUT/.kwok-stages.tmp"
    cp -r "$src" "$OUT/.kwok-stages.tmp"
    chmod -R u+w "$OUT/.kwok-stages.tmp"
    mv "$OUT/.kwok-stages.tmp" "$OUT/kwok-stages"
    log "kwok stages copied from $src"
fi

log "all binaries ready in $BIN ($((SECONDS - TOTAL_START))s; etcd $ETCD_VERSION, kubernetes $K8S_VERSION, kwok $KWOK_VERSION, helm $HELM_VERSION, kube-router $KUBE_ROUTER_VERSION)"
echo "$BIN"
