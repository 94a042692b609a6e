"""kubectl's failures as the lifecycle sees them: one line, retryable or not, gone or refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from infra.errors import NotFoundError, ProviderError, TransientError
from infra.targets.kubernetes import kubectl as kubectl_module
from infra.targets.kubernetes.kubectl import Kubectl

# A kubectl stand-in: records its argv, prints $OUT, says $ERR on stderr and exits $RC (kubectl's own
# wording for each failure is quoted in the tests below).
SCRIPT = """#!/bin/sh
printf '%s\\n' "$*" > "$ARGV_FILE"
[ -n "$SLEEP" ] && exec sleep "$SLEEP"  # exec: the timeout kills the sleep itself
printf '%s' "$OUT"
[ -n "$ERR" ] && printf 'I1202 12:00:00 retrying\\n%s\\n' "$ERR" >&2
exit "${RC:-0}"
"""


def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, context: str | None = None, **env: str) -> Kubectl:
    binary = tmp_path / "kubectl"
    binary.write_text(SCRIPT)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(kubectl_module, "kubectl_binary", lambda: str(binary))
    return Kubectl({"PATH": os.environ["PATH"], "ARGV_FILE": str(tmp_path / "argv"), **env}, context)


def test_a_call_runs_under_the_stacks_context_and_returns_what_kubectl_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubectl = fake(tmp_path, monkeypatch, context="gke_prod", OUT='{"items": []}')
    assert kubectl.json("get", "pods", "-n", "dsv4") == {"items": []}
    assert (tmp_path / "argv").read_text().split() == [
        "--context=gke_prod",
        "get",
        "pods",
        "-n",
        "dsv4",
        "-o",
        "json",
    ]


def test_an_object_that_is_gone_is_a_not_found_error_with_kubectls_last_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubectl = fake(
        tmp_path, monkeypatch, RC="1", ERR='Error from server (NotFound): secrets "vllm-api-key" not found'
    )
    with pytest.raises(NotFoundError) as err:
        kubectl("get", "secret", "vllm-api-key", "-n", "dsv4")
    assert str(err.value) == (
        'kubectl get secret vllm-api-key: Error from server (NotFound): secrets "vllm-api-key" not found'
    )
    assert err.value.provider == "kubernetes"


@pytest.mark.parametrize(
    "line",
    [
        "Unable to connect to the server: dial tcp 10.0.0.1:443: connect: connection refused",
        "Error from server (ServiceUnavailable): the server is currently unable to handle the request",
        "Unable to connect to the server: net/http: TLS handshake timeout",
    ],
)
def test_a_cluster_that_is_briefly_unreachable_is_a_transient_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str
) -> None:
    kubectl = fake(tmp_path, monkeypatch, RC="1", ERR=line)
    with pytest.raises(TransientError, match="kubectl get pods: "):
        kubectl("get", "pods")


def test_a_refusal_is_a_provider_error_that_is_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = 'Error from server (Forbidden): pods is forbidden: User "ci" cannot list resource "pods"'
    kubectl = fake(tmp_path, monkeypatch, RC="1", ERR=line)
    with pytest.raises(ProviderError) as err:
        kubectl("get", "pods")
    assert not isinstance(err.value, TransientError)
    assert str(err.value) == f"kubectl get pods: {line}"


def test_a_call_that_hangs_is_a_transient_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubectl = fake(tmp_path, monkeypatch, SLEEP="30")
    with pytest.raises(TransientError, match="kubectl logs timed out after 1 s"):
        kubectl("logs", "vllm-0", timeout=1.0)
