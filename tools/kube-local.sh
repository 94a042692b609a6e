#!/usr/bin/env bash
# A local Kubernetes control plane on loopback (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok) with fake 8-GPU H100 and H200 nodes and a default StorageClass.
#
#   tools/kube-local.sh start [DIR]   # DIR defaults to .kube-local; prints the KUBECONFIG to use
#   eval "$(tools/kube-local.sh env [DIR])"
#   tools/kube-local.sh stop [DIR]
#
# The binaries come from `make tools` (tools/build-kube.sh); etcd from Debian (scripts/system-deps.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${V4INFRA_PYTHON:-$root/.venv/bin/python}"
[[ -x "$python" ]] || { echo "kube-local: no $python; run 'make venv' first" >&2; exit 1; }
exec "$python" -m infra.emulator.local_cluster "$@"
