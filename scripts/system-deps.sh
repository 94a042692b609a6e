#!/usr/bin/env bash
# Debian packages the tests use for real: OpenSSH's sshd (SSH preflight) and etcd (the local Kubernetes
# control plane's store). kubectl is not taken from Debian (kubernetes-client there is 1.20, too old for
# current manifests): `make tools` builds it with kube-apiserver (tools/build-kube.sh).
set -euo pipefail
missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} (apt-get)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
