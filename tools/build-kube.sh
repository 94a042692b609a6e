#!/usr/bin/env bash
# Build the Kubernetes tools from Go modules, each into a per-version cache directory outside the work tree:
#
#   kubernetes  kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (k8s.io/kubernetes v1.37.2)
#   kwok        kwok v0.8.0 (fake nodes and pod status) and the stage files shipped in its module
#   provider    pulumi-resource-kubernetes 4.25.0, installed into the Pulumi plugin cache
#
#   tools/build-kube.sh [kubernetes|kwok|provider ...]   # default: all three; last stdout line = cache root
#
# Cache: ${V4INFRA_TOOLS_CACHE:-$HOME/.cache/deepseek-v4-infra/tools}/<tool>-<version>/, reused when it was
# built from the same sources (a stamp of the wrapper module and this script). The Go build cache is a
# dedicated directory, removed once every requested tool is built: these builds grew it to 15 GB.
# Needs only the Go module proxy. See tools/README.md.
set -euo pipefail

K8S_VERSION="v1.37.2"
KWOK_VERSION="v0.8.0"
PROVIDER_VERSION="4.25.0"
# The module proxy serves no tag of provider/v4; this pseudo-version is the commit tagged v4.25.0.
PROVIDER_MODULE="github.com/pulumi/pulumi-kubernetes/provider/v4"
PROVIDER_PSEUDO="v4.0.0-20260115033456-f47bc2d6f199"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${V4INFRA_TOOLS_CACHE:-$HOME/.cache/deepseek-v4-infra/tools}"
gocache="${V4INFRA_KUBE_GOCACHE:-$(dirname "$cache_root")/gocache-kube}"

log() { echo "build-kube: $*" >&2; }

if ! command -v go >/dev/null 2>&1; then
    if [[ -x /usr/local/go/bin/go ]]; then
        PATH="/usr/local/go/bin:$PATH"
    else
        log "error: no 'go' on PATH and none at /usr/local/go/bin/go"
        exit 1
    fi
fi
export GOTOOLCHAIN=local CGO_ENABLED=0 GOCACHE="$gocache"
# -mod=readonly: go.mod/go.sum are committed and complete; never rewrite them here.
export GOFLAGS="-mod=readonly -buildvcs=false"

# stamp DIR: fingerprint of a wrapper module plus this script.
stamp() {
    (cd "$here" && { find "$1" -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \); echo build-kube.sh; } \
        | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
}

# fresh DEST STAMP FILE...: the cache holds every FILE, built from these sources.
fresh() {
    local dest="$1" want="$2"
    shift 2
    [[ "$(cat "$dest/.source-stamp" 2>/dev/null || true)" == "$want" ]] || return 1
    for f in "$@"; do [[ -e "$dest/$f" ]] || return 1; done
}

# publish TMP DEST STAMP: move a finished build into place atomically (never a half-filled cache).
publish() {
    local tmp="$1" dest="$2" old=""
    echo "$3" > "$tmp/.source-stamp"
    chmod 0755 "$tmp"
    if [[ -e "$dest" ]]; then
        old="$(mktemp -d "$cache_root/.old.XXXXXX")"
        mv -T "$dest" "$old/prev"
    fi
    mv -T "$tmp" "$dest"
    [[ -z "$old" ]] || rm -rf "$old"
}

# Temp dirs of this run; whatever was not published is removed on exit.
tmps=()
new_tmp() { mktemp -d "$cache_root/.$1.tmp.XXXXXX"; }

build_kubernetes() {
    local dest="$cache_root/kubernetes-$K8S_VERSION" want bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
    want="$(stamp kubernetes)"
    if fresh "$dest" "$want" "${bins[@]/#/bin/}"; then
        log "reusing kubernetes $K8S_VERSION in $dest/bin"
        return
    fi
    local start tmp
    start=$(date +%s)
    tmp="$(new_tmp "kubernetes-$K8S_VERSION")"
    tmps+=("$tmp")
    log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $K8S_VERSION (cold: ~15 min on 2 cores)"
    local v="-X k8s.io/component-base/version"
    local ldflags="$v.gitVersion=$K8S_VERSION $v.gitMajor=1 $v.gitMinor=$(cut -d. -f2 <<<"$K8S_VERSION") $v.gitTreeState=clean"
    ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
    (cd "$here/kubernetes" && go build -trimpath -ldflags "$ldflags" -o "$tmp/bin/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
    "$tmp/bin/kube-apiserver" --version | grep -q "$K8S_VERSION" \
        || { log "error: kube-apiserver does not report $K8S_VERSION"; exit 1; }
    publish "$tmp" "$dest" "$want"
    log "built kubernetes $K8S_VERSION in $(( $(date +%s) - start ))s into $dest/bin"
}

build_kwok() {
    local dest="$cache_root/kwok-$KWOK_VERSION" want
    want="$(stamp kwok)"
    if fresh "$dest" "$want" bin/kwok stages/pod/fast; then
        log "reusing kwok $KWOK_VERSION in $dest"
        return
    fi
    local start tmp src
    start=$(date +%s)
    tmp="$(new_tmp "kwok-$KWOK_VERSION")"
    tmps+=("$tmp")
    log "building kwok $KWOK_VERSION (cold: ~3 min on 2 cores)"
    (cd "$here/kwok" && go build -trimpath -o "$tmp/bin/kwok" sigs.k8s.io/kwok/cmd/kwok)
    # The stage definitions (node and pod lifecycles) are YAML in kwok's own module, not in the binary.
    src="$(cd "$here/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
    mkdir -p "$tmp/stages"
    cp -r "$src/kustomize/stage/." "$tmp/stages/"
    find "$tmp/stages" \( -name testdata -o -name '*.go' \) -prune -exec rm -rf {} +
    chmod -R u+w,a+rX "$tmp/stages"
    publish "$tmp" "$dest" "$want"
    log "built kwok $KWOK_VERSION in $(( $(date +%s) - start ))s into $dest"
}

build_provider() {
    local dest="$cache_root/pulumi-kubernetes-v$PROVIDER_VERSION" want bin=pulumi-resource-kubernetes
    want="$(stamp pulumi-kubernetes)"
    if ! fresh "$dest" "$want" "bin/$bin"; then
        local start tmp src
        start=$(date +%s)
        tmp="$(new_tmp "pulumi-kubernetes-$PROVIDER_VERSION")"
    tmps+=("$tmp")
        log "building $bin $PROVIDER_VERSION from $PROVIDER_MODULE@$PROVIDER_PSEUDO (cold: ~11 min on 2 cores)"
        src="$(GOFLAGS=-mod=mod go mod download -json "$PROVIDER_MODULE@$PROVIDER_PSEUDO" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
        [[ -d "$src/cmd/$bin" ]] || { log "error: no $PROVIDER_MODULE source at '$src'"; exit 1; }
        # A writable copy with our go.mod/go.sum: the sdk replace points at the published sdk/v4.
        cp -r "$src" "$tmp/src"
        chmod -R u+w "$tmp/src"
        cp "$here/pulumi-kubernetes/go.mod" "$here/pulumi-kubernetes/go.sum" "$tmp/src/"
        # generate.go stamps the version into the schema and writes the files main.go embeds.
        (cd "$tmp/src/cmd/$bin" && VERSION="$PROVIDER_VERSION" go run ./generate.go)
        (cd "$tmp/src" && go build -trimpath \
            -ldflags "-X $PROVIDER_MODULE/pkg/version.Version=$PROVIDER_VERSION" -o "$tmp/bin/$bin" "./cmd/$bin")
        rm -rf "$tmp/src"
        publish "$tmp" "$dest" "$want"
        log "built $bin $PROVIDER_VERSION in $(( $(date +%s) - start ))s into $dest/bin"
    else
        log "reusing $bin $PROVIDER_VERSION in $dest/bin"
    fi
    install_provider "$dest/bin/$bin"
}

# The engine takes plugins from $PULUMI_HOME/plugins without an "ambient plugin" warning.
install_provider() {
    local pulumi_bin
    pulumi_bin="$(command -v pulumi || true)"
    [[ -n "$pulumi_bin" ]] || pulumi_bin="$cache_root/pulumi-v3.259.0/bin/pulumi"
    if [[ ! -x "$pulumi_bin" ]]; then
        log "no pulumi CLI yet: run tools/build-pulumi.sh, then this script again to install the provider plugin"
        return
    fi
    export PULUMI_HOME="${PULUMI_HOME:-$cache_root/pulumi-home}" PULUMI_SKIP_UPDATE_CHECK=true
    local plugin_dir="$PULUMI_HOME/plugins/resource-kubernetes-v$PROVIDER_VERSION"
    if cmp -s "$1" "$plugin_dir/pulumi-resource-kubernetes" 2>/dev/null; then
        log "provider plugin kubernetes $PROVIDER_VERSION already installed in $PULUMI_HOME"
        return
    fi
    "$pulumi_bin" plugin install resource kubernetes "$PROVIDER_VERSION" --file "$1" --reinstall >&2
    log "installed provider plugin kubernetes $PROVIDER_VERSION into $PULUMI_HOME/plugins"
}

mkdir -p "$cache_root"
# Leftovers of builds that were killed (SIGKILL skips the cleanup trap).
find "$cache_root" -maxdepth 1 \( -name ".*.tmp.*" -o -name ".old.*" \) ! -name ".pulumi-*" -mmin +180 \
    -exec rm -rf {} + 2>/dev/null || true
trap 'for t in "${tmps[@]}"; do rm -rf "$t"; done' EXIT

tools=("$@")
[[ ${#tools[@]} -gt 0 ]] || tools=(kubernetes kwok provider)
for t in "${tools[@]}"; do
    case "$t" in
        kubernetes) build_kubernetes ;;
        kwok) build_kwok ;;
        provider) build_provider ;;
        *) log "error: unknown tool '$t' (kubernetes, kwok or provider)"; exit 2 ;;
    esac
done
# Everything requested is cached as binaries: the Go build cache is no longer needed.
rm -rf "$gocache"
echo "$cache_root"
