# Source this file (bash/zsh) to use the Pulumi CLI built by tools/build-pulumi.sh:
#
#   . tools/pulumi-env.sh
#
# It prepends the cached bin dir to PATH (unless V4INFRA_USE_SYSTEM_PULUMI=1 and a
# `pulumi` is already on PATH) and sets the variables that keep the CLI off the
# internet. It does not build anything: run tools/build-pulumi.sh first.
# PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK is deliberately left alone: the
# built CLI reports a parseable version (v3.259.0).

_v4infra_tools_cache="${V4INFRA_TOOLS_CACHE:-$HOME/.cache/deepseek-v4-infra/tools}"
V4INFRA_PULUMI_BIN="$_v4infra_tools_cache/pulumi-v3.259.0/bin"
export V4INFRA_PULUMI_BIN

if [ "${V4INFRA_USE_SYSTEM_PULUMI:-}" = "1" ] && command -v pulumi >/dev/null 2>&1; then
    : # keep the pulumi already on PATH
else
    case ":$PATH:" in
        *":$V4INFRA_PULUMI_BIN:"*) ;;
        *) PATH="$V4INFRA_PULUMI_BIN:$PATH" ;;
    esac
    export PATH
    if [ ! -x "$V4INFRA_PULUMI_BIN/pulumi" ]; then
        echo "pulumi-env.sh: $V4INFRA_PULUMI_BIN/pulumi not found; run tools/build-pulumi.sh" >&2
    fi
fi

# Never check for CLI updates or download plugins (no internet here).
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# Keep plugins, credentials and workspace state out of ~/.pulumi.
if [ -z "${PULUMI_HOME:-}" ]; then
    export PULUMI_HOME="$_v4infra_tools_cache/pulumi-home"
fi
unset _v4infra_tools_cache
