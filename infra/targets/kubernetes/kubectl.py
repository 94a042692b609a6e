"""kubectl, the Kubernetes target's one client: the stack's kubeconfig and context, errors as one line.

kubectl speaks every kubeconfig auth (certificates, tokens, exec plugins for EKS and GKE). A failure
becomes a ProviderError with kubectl's last stderr line: NotFoundError for an object that is gone,
TransientError for what a retry may cure (a refused connection, a timeout, an overloaded API server).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping
from typing import Any

from infra.errors import NotFoundError, ProviderError, TransientError
from infra.targets.kubernetes.cluster_check import kubectl_binary

_TRANSIENT = re.compile(
    r"connection refused|i/o timeout|timed out|TLS handshake timeout|ServiceUnavailable|TooManyRequests"
    r"|the server is currently unable|etcdserver|EOF",
    re.IGNORECASE,
)


class Kubectl:
    """kubectl with the stack's kubeconfig and context; errors become one-line ProviderErrors."""

    def __init__(self, env: Mapping[str, str], context: str | None) -> None:
        self.binary = kubectl_binary()
        self.env = dict(env)
        self.context = context

    def argv(self, *args: str) -> list[str]:
        return [self.binary, *([f"--context={self.context}"] if self.context else []), *args]

    def __call__(self, *args: str, timeout: float = 120.0) -> str:
        try:
            done = subprocess.run(
                self.argv(*args), capture_output=True, text=True, timeout=timeout, env=self.env
            )
        except subprocess.TimeoutExpired:
            raise TransientError(
                f"kubectl {args[0]} timed out after {timeout:.0f} s", provider="kubernetes"
            ) from None
        if done.returncode != 0:
            line = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            what = f"kubectl {' '.join(a for a in args[:3] if not a.startswith('-'))}: {line}"
            if "NotFound" in line or "not found" in line:
                raise NotFoundError(what, provider="kubernetes")
            cls = TransientError if _TRANSIENT.search(line) else ProviderError
            raise cls(what, provider="kubernetes")
        return done.stdout

    def run(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """kubectl's exit status and output as they are, for a command whose failure the caller judges
        (`kubectl exec` passes the remote command's status and output through); raises TimeoutExpired."""
        return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout, env=self.env)

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))
