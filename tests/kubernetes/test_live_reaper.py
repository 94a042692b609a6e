"""The reaper's time-to-live against a real kube-apiserver, with its own service-account token and Role.

kwok ends Job pods at once without running them, so the reaper's logic (infra/targets/kubernetes/reaper.py)
runs here, in the test, with the token the API server issues to the reaper's ServiceAccount: the rendered
Role is judged by the API server's RBAC, and the namespace controller does the deleting.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kube import delete_namespace, namespace_gone, stack_copy, wait_for

from infra import config
from infra.emulator.local_cluster import STORAGE_CLASS, LocalCluster
from infra.planner import plan
from infra.targets.kubernetes import reaper
from infra.targets.kubernetes.gitops import write_gitops_dir

# Control-plane round trips on a busy 2-core machine: minutes, not the suite's default 300 s.
pytestmark = [pytest.mark.kube, pytest.mark.timeout(1200)]
STACK = "k8s-flash-4xh200"


def deploy(
    kube_cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, namespace: str
) -> None:
    """The ephemeral flash preset, rendered into `namespace` and applied as a GitOps sync would."""
    stack_copy(
        tmp_path / namespace, monkeypatch, STACK, {"storageClass": STORAGE_CLASS, "namespace": namespace}
    )
    spec = config.load_stack(STACK)
    assert spec.ttl_minutes, "the flash preset is ephemeral: it has a reaper"
    out = tmp_path / namespace / "rendered"
    write_gitops_dir(spec, plan(spec.plan_request(), spec.catalog), out)
    kube_cluster.kubectl("apply", "--server-side", "-k", str(out))
    kube_cluster.kubectl(
        "create", "secret", "generic", "vllm-api-key", "-n", namespace, "--from-literal=VLLM_API_KEY=k"
    )


def reaper_token(kube_cluster: LocalCluster, namespace: str, tmp_path: Path) -> Path:
    """A token for the reaper's ServiceAccount, as the kubelet would project it into the pod."""
    token = kube_cluster.kubectl("create", "token", "reaper", "-n", namespace).stdout.strip()
    path = tmp_path / f"{namespace}.token"
    path.write_text(token, encoding="utf-8")
    return path


def run_reaper(kube_cluster: LocalCluster, namespace: str, ttl_s: int, token: Path) -> int:
    return reaper.main(
        [
            namespace,
            str(ttl_s),
            "--api",
            kube_cluster.server,
            "--token-file",
            str(token),
            "--ca-file",
            str(kube_cluster.ca_file),
            "--max-sleep",
            "0.5",
        ]
    )


def test_after_its_deadline_the_reaper_deletes_its_stack_and_another_stacks_objects_survive(
    kube_cluster: LocalCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mine, other = "reap-mine", "reap-other"
    try:
        deploy(kube_cluster, tmp_path, monkeypatch, mine)
        deploy(kube_cluster, tmp_path, monkeypatch, other)
        token = reaper_token(kube_cluster, mine, tmp_path)

        # Its Role names its own namespace only: the API server refuses it anything else.
        assert run_reaper(kube_cluster, other, 0, token) == 1
        assert "HTTP 403" in capsys.readouterr().out
        assert not namespace_gone(kube_cluster, other)

        # A deadline a few seconds after the namespace's creation: the reaper waits, then deletes.
        assert run_reaper(kube_cluster, mine, 3, token) == 0
        events = capsys.readouterr().out
        assert '"event": "deleted"' in events
        wait_for(f"namespace {mine} emptied and removed", lambda: namespace_gone(kube_cluster, mine))

        # The other stack is untouched: its engine, cache, Secret and reaper are all still there.
        for kind, name in (
            ("deployment", "vllm"),
            ("pvc", "model-cache"),
            ("secret", "vllm-api-key"),
            ("job", "reaper"),
            ("serviceaccount", "reaper"),
        ):
            got = kube_cluster.kubectl("get", kind, name, "-n", other, check=False)
            assert got.returncode == 0, f"{kind}/{name} of the other stack is gone: {got.stderr}"
    finally:
        delete_namespace(kube_cluster, mine)
        delete_namespace(kube_cluster, other)
