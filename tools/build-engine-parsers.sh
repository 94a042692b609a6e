#!/usr/bin/env bash
# Install the real vLLM / SGLang packages from PyPI, one venv per engine version, so that the tests can
# judge every emitted command with the engine's own argument parser (tests/engine_parsers/).
#
#   tools/build-engine-parsers.sh [ENGINE==VERSION ...]   # default: the versions the emitted commands pin
#                                                         # last stdout line = the cache root
#
# Cache: ${V4INFRA_ENGINE_PARSERS:-$HOME/.cache/deepseek-v4-infra/engine-parsers}/
#   <engine>-<version>/     a venv: the engine (`pip install --no-deps`) and only what its parser imports
#   torch-<version>-<hash>/ torch and the CUDA libraries it links against (a pip --target tree), shared by
#                           every venv that resolves the same torch, through a .pth file
# PyPI's torch for Linux is a CUDA build that needs its CUDA libraries even to import; no GPU is needed.
# What is installed comes from pip's own resolution of what the parser imports, as `<engine>==<version>`
# requires it (tools/engine_parsers.py), always at the resolved versions and with --no-deps.
# See tools/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
cache_root="${V4INFRA_ENGINE_PARSERS:-$HOME/.cache/deepseek-v4-infra/engine-parsers}"
project_python="${V4INFRA_PYTHON:-$repo/.venv/bin/python}"
engine_python="${V4INFRA_ENGINE_PYTHON:-python3}"

log() { echo "build-engine-parsers: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -x "$project_python" ]] || die "no project venv at $project_python: run \`make venv\` first"
command -v "$engine_python" >/dev/null 2>&1 || die "no '$engine_python' on PATH for the engine venvs (set V4INFRA_ENGINE_PYTHON)"

# One command per engine for the smoke check when the project emits none for that engine.
plain_argv() {
    case "$1" in
        vllm) echo '["vllm", "serve", "deepseek-ai/DeepSeek-V4-Flash"]' ;;
        sglang) echo '["python3", "-m", "sglang.launch_server", "--model-path", "deepseek-ai/DeepSeek-V4-Flash"]' ;;
        *) return 1 ;;
    esac
}

# The install steps below, as a number: bump it when they change what a venv holds, and every cached venv is
# rebuilt (a changed message or comment does not need that, unlike hashing this whole script would).
RECIPE=3

# stamp ENGINE: fingerprint of what decides a venv's contents: the recipe, the selection and its roots.
stamp() {
    { echo "recipe $RECIPE"; cd "$repo" && sha256sum tools/engine_parsers.py "tools/engine-parsers/$1.txt"; } \
        | sha256sum | cut -c1-16
}

# Temp dirs of this run; whatever was not published is removed on exit.
tmps=()
new_tmp() { mktemp -d "$cache_root/.$1.tmp.XXXXXX"; }

# publish TMP DEST: move a finished tree into place (never a half-filled cache); keep a concurrent build's.
publish() {
    local tmp="$1" dest="$2" old=""
    chmod 0755 "$tmp"
    if [[ -e "$dest" ]]; then
        old="$(mktemp -d "$cache_root/.old.XXXXXX")"
        mv -T "$dest" "$old/prev"
    fi
    mv -T "$tmp" "$dest" || log "another build published $dest first; keeping it"
    [[ -z "$old" ]] || rm -rf "$old"
}

# torch_layer SELECTION PYTHON: the shared torch tree for this resolution of torch, built once, into $layer;
# PYTHON is the engine venv, which holds torch's pure-Python dependencies.
torch_layer() {
    local selection="$1" python="$2" torch pins hash dest tmp
    torch="$("$project_python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["torch"])' "$selection")"
    pins="$("$project_python" -c 'import json, sys; s = json.load(open(sys.argv[1]))
print("\n".join([*s["layer"], *("on demand: " + p for p in s["layer_on_demand"])]))' "$selection")"
    hash="$(sha256sum <<<"$pins" | cut -c1-8)"
    dest="$cache_root/torch-$torch-$hash"
    if [[ "$(cat "$dest/.selection" 2>/dev/null || true)" == "$pins" && -f "$dest/.installed" ]]; then
        log "reusing torch $torch and its CUDA libraries in $dest"
        layer="$dest"
        return
    fi
    tmp="$(new_tmp "torch-$torch-$hash")"
    tmps+=("$tmp")
    log "installing torch $torch and the CUDA libraries it links against (2-3 GB of wheels; 3.4 GB installed for torch 2.11)"
    "$project_python" "$here/engine_parsers.py" layer "$selection" "$python" "$tmp" > "$tmp/.installed.new"
    mv "$tmp/.installed.new" "$tmp/.installed"
    echo "$pins" > "$tmp/.selection"
    publish "$tmp" "$dest"
    layer="$dest"
}

build_one() {
    local engine="${1%%==*}" version="${1#*==}" dest want tmp site start plain
    [[ "$1" == *==* && -n "$version" ]] || die "'$1' is not ENGINE==VERSION (for example vllm==0.25.0)"
    plain="$(plain_argv "$engine")" \
        || die "no parser check for engine '$engine' (it needs tools/engine-parsers/$engine.txt and tests/engine_parsers/${engine}_parser.py)"
    dest="$cache_root/$engine-$version"
    want="$(stamp "$engine")"
    if [[ -x "$dest/bin/python" && "$(cat "$dest/.source-stamp" 2>/dev/null || true)" == "$want" \
          && -d "$(cat "$dest/.torch-layer" 2>/dev/null || echo /nonexistent)" ]]; then
        log "reusing the $engine $version parser venv in $dest"
        return
    fi
    start=$(date +%s)
    tmp="$(new_tmp "$engine-$version")"
    tmps+=("$tmp")
    "$engine_python" -m venv "$tmp"
    "$tmp/bin/python" -m pip install -q --upgrade pip >&2
    # Only what the parser imports is resolved (with torch), as the engine requires it: the engine's whole
    # tree holds GPU-only packages that may not resolve without NVIDIA's own index.
    log "resolving $engine==$version's parser imports and torch with pip (metadata only, about 1 min)"
    "$tmp/bin/python" -m pip install -q --dry-run --no-deps --ignore-installed --report "$tmp/engine.json" \
        "$engine==$version" >&2
    "$project_python" "$here/engine_parsers.py" requirements "$tmp/engine.json" "$here/engine-parsers/$engine.txt" \
        "$engine" > "$tmp/wanted.txt"
    "$tmp/bin/python" -m pip install -q --dry-run --ignore-installed --report "$tmp/resolution.json" \
        -r "$tmp/wanted.txt" >&2
    "$project_python" "$here/engine_parsers.py" select "$tmp/resolution.json" "$tmp/engine.json" \
        "$here/engine-parsers/$engine.txt" "$engine" > "$tmp/selection.json"
    log "installing $engine $version (--no-deps) and the packages its parser imports"
    "$project_python" -c 'import json, sys; s = json.load(open(sys.argv[1])); print("\n".join([s["engine"], *s["venv"]]))' \
        "$tmp/selection.json" > "$tmp/requirements.txt"
    "$tmp/bin/python" -m pip install -q --no-deps --no-cache-dir -r "$tmp/requirements.txt" >&2
    # torch's pure-Python dependencies are in the venv now, so the layer can be checked with it.
    torch_layer "$tmp/selection.json" "$tmp/bin/python"
    site="$("$tmp/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
    echo "$layer" > "$site/v4infra-torch-layer.pth"
    # Smoke check: the project's commands for this engine through its parser. A refused flag is the
    # test's finding, not the build's; a module the parser cannot import means this venv is incomplete.
    (cd "$repo" && "$project_python" tests/engine_parsers/emitted.py --commands "$engine") > "$tmp/smoke-commands.json"
    if [[ "$(cat "$tmp/smoke-commands.json")" == "[]" ]]; then
        echo "[{\"id\": \"plain\", \"argv\": $plain}]" > "$tmp/smoke-commands.json"
    fi
    "$tmp/bin/python" "$repo/tests/engine_parsers/${engine}_parser.py" "$tmp/smoke.json" <"$tmp/smoke-commands.json" >"$tmp/smoke.log" 2>&1 \
        || { tail -n 20 "$tmp/smoke.log" >&2; die "the $engine $version parser does not run (a module its imports need is missing from tools/engine-parsers/$engine.txt?)"; }
    "$project_python" - "$tmp/smoke.json" "$engine" <<'PY' || die "the $engine $version parser venv is incomplete"
import json, sys
results, engine = json.load(open(sys.argv[1])), sys.argv[2]
missing = sorted({r["error"] for r in results if not r["ok"] and r["error"].split(":")[0] in ("ModuleNotFoundError", "ImportError")})
for error in missing:
    print(f"build-engine-parsers: {error}: add its package to tools/engine-parsers/{engine}.txt", file=sys.stderr)
sys.exit(1 if missing else 0)
PY
    echo "$layer" > "$tmp/.torch-layer"
    echo "$want" > "$tmp/.source-stamp"
    publish "$tmp" "$dest"
    log "built the $engine $version parser venv in $(( $(date +%s) - start ))s: $(du -sh "$dest" | cut -f1) in $dest, $(du -sh "$layer" | cut -f1) in $layer"
}

mkdir -p "$cache_root"
# Leftovers of builds that were killed (SIGKILL skips the cleanup trap).
find "$cache_root" -maxdepth 1 \( -name ".*.tmp.*" -o -name ".old.*" \) -mmin +180 -exec rm -rf {} + 2>/dev/null || true
trap 'for t in "${tmps[@]}"; do rm -rf "$t"; done' EXIT

wanted=("$@")
if [[ ${#wanted[@]} -eq 0 ]]; then
    mapfile -t wanted < <(cd "$repo" && "$project_python" tests/engine_parsers/emitted.py --pins | tr ' ' '=' | sed 's/=/==/')
    [[ ${#wanted[@]} -gt 0 ]] || die "the emitted commands pin no engine version (tests/engine_parsers/emitted.py --pins)"
fi
for pin in "${wanted[@]}"; do
    build_one "$pin"
done
echo "$cache_root"
