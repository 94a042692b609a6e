#!/usr/bin/env bash
# Build (or find cached) the tools a make target needs, one step at a time, saying what each step builds,
# how long it took last time on this machine, and how long it took now. The Makefile's only way in.
#
#   tools/build.sh STEP...   # pulumi | kubernetes | kwok | provider | engine-parsers
#
# Each step runs the script that owns it (build-pulumi.sh, build-kube.sh, build-engine-parsers.sh), which
# reuses its per-version cache when it can. The wall time of every real build (not of a cache hit) is kept
# in ${V4INFRA_TOOLS_CACHE:-~/.cache/deepseek-v4-infra/tools}/.durations/<step>, one "seconds date" line.
# During a build a line every minute says it is still going, so a quiet `go build` does not look hung.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
durations="${V4INFRA_TOOLS_CACHE:-$HOME/.cache/deepseek-v4-infra/tools}/.durations"
tick="${V4INFRA_BUILD_TICK_S:-60}"

# What each step is for, and a cold build's time on a 2-core machine for when none is recorded here yet
# (measured 2026-12-02 on the project's 2-core machine shared with other builds; tools/README.md).
declare -A what=(
    [pulumi]="the Pulumi CLI v3.259.0 and its Python language host (every stack and the demo)"
    [kubernetes]="kube-apiserver, kube-controller-manager, kube-scheduler, kubectl v1.37.2 (the local control plane)"
    [kwok]="kwok v0.8.0, fake GPU nodes for the local control plane"
    [provider]="the pulumi-kubernetes provider 4.25.0 (Kubernetes stacks under the real engine)"
    [engine-parser-vllm]="a venv with the real vllm package, whose parser judges the emitted vLLM commands"
    [engine-parser-sglang]="a venv with the real sglang package, whose parser judges the emitted SGLang commands"
)
declare -A cold=(
    [pulumi]="about 3 min"
    [kubernetes]="about 7 min"
    [kwok]="about 1 min"
    [provider]="about 14 min"
    [engine-parser-vllm]="about 2 min (the first venv also installs the shared 3.4 GB torch tree)"
    [engine-parser-sglang]="about 2 min (the first venv also installs the shared 3.4 GB torch tree)"
)

minutes() {
    local s="$1"
    if (( s < 60 )); then echo "${s} s"; else echo "$(( s / 60 )) min $(( s % 60 )) s"; fi
}

# last_time STEP: the last recorded build of STEP on this machine, in words ("" when none).
last_time() {
    local line
    line="$(cat "$durations/$1" 2>/dev/null || true)"
    [[ -n "$line" ]] || return 0
    echo "$(minutes "${line%% *}") on ${line#* }"
}

# run_step KEY LABEL COMMAND...: announce, run with a heartbeat, report and record the time.
run_step() {
    local key="$1" label="$2" last start out rc ticker elapsed
    shift 2
    last="$(last_time "$key")"
    echo "==> $label: ${what[$key]}"
    if [[ -n "$last" ]]; then
        echo "    last build on this machine: $last (a cache hit takes seconds)"
    else
        echo "    no build recorded on this machine yet; cold on a 2-core machine: ${cold[$key]} (a cache hit takes seconds)"
    fi
    start=$(date +%s)
    out="$(mktemp)"
    (
        sleeper=""
        trap '[[ -z "$sleeper" ]] || kill "$sleeper" 2>/dev/null; exit 0' TERM
        while :; do
            sleep "$tick" &
            sleeper=$!
            wait "$sleeper"
            echo "    ... still building $label: $(minutes $(( $(date +%s) - start ))) so far${last:+ (last time $last)}"
        done
    ) &
    ticker=$!
    rc=0
    "$@" 2>&1 | tee "$out" || rc=$?
    kill "$ticker" 2>/dev/null || true
    wait "$ticker" 2>/dev/null || true
    elapsed=$(( $(date +%s) - start ))
    if (( rc != 0 )); then
        rm -f "$out"
        echo "    $label: FAILED after $(minutes "$elapsed") (exit $rc); the lines above say why" >&2
        exit "$rc"
    fi
    # The owning scripts say "built ..." only when they built something; otherwise the cache was used.
    if grep -q -E "(^|: )built " "$out"; then
        mkdir -p "$durations"
        echo "$elapsed $(date +%Y-%m-%d)" > "$durations/$key"
        echo "    $label: built in $(minutes "$elapsed")${last:+ (last time $last)}"
    else
        echo "    $label: cached, checked in $(minutes "$elapsed")"
    fi
    rm -f "$out"
}

for step in "$@"; do
    case "$step" in
        pulumi) run_step pulumi "Pulumi CLI" bash "$here/build-pulumi.sh" ;;
        kubernetes|kwok|provider) run_step "$step" "$step" bash "$here/build-kube.sh" "$step" ;;
        engine-parsers)
            # One step per engine version the emitted commands pin (tests/engine_parsers/emitted.py).
            python="${V4INFRA_PYTHON:-$repo/.venv/bin/python}"
            [[ -x "$python" ]] || { echo "tools/build.sh: no project venv at $python: run \`make venv\` first" >&2; exit 1; }
            pins="$(cd "$repo" && "$python" tests/engine_parsers/emitted.py --pins)"
            while read -r engine version; do
                run_step "engine-parser-$engine" "$engine $version parser venv" \
                    bash "$here/build-engine-parsers.sh" "$engine==$version"
            done <<<"$pins"
            ;;
        *) echo "tools/build.sh: unknown step '$step' (pulumi, kubernetes, kwok, provider or engine-parsers)" >&2; exit 2 ;;
    esac
done
