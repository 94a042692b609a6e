#!/usr/bin/env bash
# Build the Pulumi CLI (and a Python language host) from Go modules, into a
# per-version cache directory outside the work tree.
#
#   tools/build-pulumi.sh            # build if needed; last stdout line = bin dir
#   BIN=$(tools/build-pulumi.sh | tail -n1)
#
# Cache: ${V4INFRA_TOOLS_CACHE:-$HOME/.cache/deepseek-v4-infra/tools}/pulumi-v<ver>/bin
# Needs only the Go module proxy (no download of prebuilt binaries). See tools/README.md.
set -euo pipefail

PULUMI_VERSION="v3.259.0"
SDK_MODULE="github.com/pulumi/pulumi/sdk/v3"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
moddir="$here/pulumi"
cache_root="${V4INFRA_TOOLS_CACHE:-$HOME/.cache/deepseek-v4-infra/tools}"
dest="$cache_root/pulumi-$PULUMI_VERSION"
bindir="$dest/bin"

log() { echo "build-pulumi: $*" >&2; }

# Fingerprint of everything that goes into the build (wrapper module + this
# script): a cache built from other sources is rebuilt, under the same path.
stamp="$(cd "$here" && find pulumi build-pulumi.sh -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' -o -name '*.sh' \) \
    | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)"

# Reuse the cache when it already holds a working CLI of the pinned version.
if [[ -x "$bindir/pulumi" && -x "$bindir/pulumi-language-python" \
      && -f "$bindir/pulumi-language-python-exec" && -x "$bindir/pulumi-resource-pulumi-python" ]]; then
    have="$(PULUMI_SKIP_UPDATE_CHECK=true "$bindir/pulumi" version 2>/dev/null || true)"
    if [[ "$have" == "$PULUMI_VERSION" && "$(cat "$dest/.source-stamp" 2>/dev/null || true)" == "$stamp" ]]; then
        echo "build-pulumi: reusing cached pulumi $PULUMI_VERSION in $bindir"
        echo "$bindir"
        exit 0
    fi
    log "cache in $dest is stale (version '${have}', or built from other sources): rebuilding"
fi

if ! command -v go >/dev/null 2>&1; then
    if [[ -x /usr/local/go/bin/go ]]; then
        PATH="/usr/local/go/bin:$PATH"
    else
        log "error: no 'go' on PATH and none at /usr/local/go/bin/go"
        exit 1
    fi
fi

start=$(date +%s)
mkdir -p "$cache_root"
# Leftovers of builds that were killed (SIGKILL skips the cleanup trap).
find "$cache_root" -maxdepth 1 -name ".pulumi-*.tmp.*" -mmin +180 -exec rm -rf {} + 2>/dev/null || true
tmp="$(mktemp -d "$cache_root/.pulumi-$PULUMI_VERSION.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"

ldflags="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
cd "$moddir"
# -mod=readonly: go.mod/go.sum are committed and complete; never rewrite them here.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly -buildvcs=false"

log "building pulumi $PULUMI_VERSION with $(go version) (first build takes a while)"
go build -trimpath -ldflags "$ldflags" -o "$tmp/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
log "building pulumi-language-python"
go build -trimpath -ldflags "$ldflags" -o "$tmp/bin/pulumi-language-python" ./cmd/pulumi-language-python

# Helper scripts ship inside the sdk/v3 module source, not as Go packages.
sdkdir="$(go list -m -f '{{.Dir}}' "$SDK_MODULE")"
if [[ -z "$sdkdir" || ! -d "$sdkdir/python" ]]; then
    go mod download "$SDK_MODULE"
    sdkdir="$(go list -m -f '{{.Dir}}' "$SDK_MODULE")"
fi
for f in "$sdkdir/python/cmd/pulumi-language-python-exec" "$sdkdir/python/dist/pulumi-resource-pulumi-python"; do
    [[ -f "$f" ]] || { log "error: missing $f in $SDK_MODULE"; exit 1; }
    cp "$f" "$tmp/bin/"
done
# Optional extras, if a future sdk module ships them (e.g. a policy analyzer shim).
for f in "$sdkdir"/python/dist/pulumi-analyzer-*; do
    if [[ -f "$f" && "$f" != *.cmd ]]; then
        cp "$f" "$tmp/bin/"
    fi
done
chmod 0755 "$tmp/bin"/*

got="$(PULUMI_SKIP_UPDATE_CHECK=true "$tmp/bin/pulumi" version)"
if [[ "$got" != "$PULUMI_VERSION" ]]; then
    log "error: built pulumi reports '$got', expected $PULUMI_VERSION"
    exit 1
fi

# Atomic publish: move the finished tree into place; a concurrent or interrupted
# build never leaves a half-filled $dest.
echo "$stamp" > "$tmp/.source-stamp"
chmod 0755 "$tmp"
old=""
if [[ -e "$dest" ]]; then
    old="$(mktemp -d "$cache_root/.pulumi-$PULUMI_VERSION.old.XXXXXX")"
    mv -T "$dest" "$old/prev"
fi
if ! mv -T "$tmp" "$dest" 2>/dev/null; then
    # Another build published the same version in the meantime: keep theirs.
    if [[ "$(PULUMI_SKIP_UPDATE_CHECK=true "$bindir/pulumi" version 2>/dev/null || true)" != "$PULUMI_VERSION" ]]; then
        log "error: could not move the new build into $dest"
        exit 1
    fi
    log "another build already published $dest; using it"
fi
if [[ -n "$old" ]]; then
    rm -rf "$old"
fi

echo "build-pulumi: built pulumi $PULUMI_VERSION in $(( $(date +%s) - start ))s into $bindir"
echo "$bindir"
