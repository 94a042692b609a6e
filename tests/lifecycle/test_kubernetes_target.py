"""The Kubernetes lifecycle target against a real kube-apiserver (the local control plane, kwok GPU nodes).

`v4infra cleanup` removes what the target bills and no state owns. The target's verbs are tested beside
their modules: tests/kubernetes/test_engine_nodes.py (the GPU preflight), test_billed_objects.py (billed
and remove), test_pod_logs.py (a group's health) and test_stand_in_launch.py (the rehearsal's engine).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kube import labels

from infra.emulator.local_cluster import LocalCluster

pytestmark = pytest.mark.kube
STACK = "k8s-flash-4xh200"


def test_cleanup_removes_the_stacks_labelled_objects_no_state_owns(
    kube_cluster: LocalCluster, namespace: str, tmp_path: Path
) -> None:
    import subprocess
    import sys

    meta = {"name": "left-by-a-lost-state", "namespace": namespace, "labels": labels(STACK, "weights")}
    other = {**meta, "name": "another-stacks", "labels": labels("k8s-pro-8xh200", "weights")}
    kube_cluster.apply(
        [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": m, "data": {}} for m in (meta, other)]
    )
    (tmp_path / "backend").mkdir()
    env = {
        **os.environ,
        **kube_cluster.env(),
        "V4INFRA_STATE_DIR": str(tmp_path / "state"),
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": "kube-cleanup-tests",
    }

    def cleanup(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "infra", "cleanup", STACK, *args],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
        return done.stdout

    listed = cleanup()
    assert f"found ConfigMap left-by-a-lost-state ({namespace}/left-by-a-lost-state)" in listed, listed
    assert "another-stacks" not in listed
    cleanup("--yes")
    names = {c["metadata"]["name"] for c in kube_cluster.get_json("configmaps", "-n", namespace)["items"]}
    assert "left-by-a-lost-state" not in names and "another-stacks" in names
