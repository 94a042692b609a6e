"""The Kubernetes lifecycle target against a real kube-apiserver (the local control plane, kwok GPU nodes).

The GPU preflight reads what the scheduler and the node say; `billed` finds this project's objects of one
stack by label and nothing else; `remove` counts an object already gone as removed.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube import delete_namespace, wait_for

from infra.config import load_stack
from infra.emulator.local_cluster import LocalCluster
from infra.planner import plan
from infra.targets.base import Billed, Credentials, TargetContext
from infra.targets.kubernetes.target import KubernetesTarget

pytestmark = pytest.mark.kube
STACK = "k8s-flash-4xh200"


def labels(stack: str, component: str = "server") -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "deepseek-v4",
        "app.kubernetes.io/instance": stack,
        "app.kubernetes.io/part-of": "deepseek-v4-infra",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "v4infra",
    }


def engine_pod(namespace: str, stack: str, gpus: int, product: str = "NVIDIA-H200") -> dict[str, Any]:
    """A pod shaped like the rendered engine: GPU limit, product node selector, GPU taint toleration."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "vllm-0", "namespace": namespace, "labels": labels(stack)},
        "spec": {
            "nodeSelector": {"nvidia.com/gpu.product": product},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [
                {
                    "name": "vllm",
                    "image": "vllm/vllm-openai:v0.25.0",
                    "resources": {"limits": {"nvidia.com/gpu": gpus}},
                }
            ],
        },
    }


@pytest.fixture
def namespace(kube_cluster: LocalCluster) -> Iterator[str]:
    name = f"v4i-test-{secrets.token_hex(3)}"
    kube_cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        delete_namespace(kube_cluster, name)


def target_for(
    cluster: LocalCluster, namespace: str, stack: str = STACK, tmp: Path | None = None
) -> KubernetesTarget:
    spec = dataclasses.replace(load_stack(stack), namespace=namespace)
    context = TargetContext(
        spec=spec,
        plan=plan(spec.plan_request(), spec.catalog),
        env={**os.environ, **cluster.env()},
        credentials=Credentials(),
        state_dir=tmp or Path("/nonexistent"),
    )
    return KubernetesTarget(context)


def test_gpu_preflight_reads_the_engine_nodes_gpu_label_and_allocatable_gpus(
    kube_cluster: LocalCluster, namespace: str
) -> None:
    kube_cluster.apply([engine_pod(namespace, STACK, gpus=4)])
    target = target_for(kube_cluster, namespace)
    result = target.gpu_preflight(None, {})  # type: ignore[arg-type]
    assert result.passed, result.reason
    assert result.details["node"] == "kwok-h200-0"
    assert result.details["allocatable_gpus"] == 8 and result.details["pod_gpus"] == 4
    assert "4x NVIDIA-H200" in result.reason


def test_gpu_preflight_fails_when_the_pod_got_fewer_gpus_than_the_plan(
    kube_cluster: LocalCluster, namespace: str
) -> None:
    kube_cluster.apply([engine_pod(namespace, STACK, gpus=2)])
    result = target_for(kube_cluster, namespace).gpu_preflight(None, {})  # type: ignore[arg-type]
    assert not result.passed
    assert "2" in result.reason and "4" in result.reason, result.reason


def test_gpu_preflight_names_the_schedulers_reason_when_no_node_fits(
    kube_cluster: LocalCluster, namespace: str
) -> None:
    # 16 GPUs: no fake node has more than 8.
    kube_cluster.apply([engine_pod(namespace, STACK, gpus=16)])
    target = target_for(kube_cluster, namespace)
    target.schedule_wait_seconds = 20
    wait_for(
        "the scheduler's FailedScheduling event",
        lambda: bool(
            kube_cluster.get_json("events", "-n", namespace, "--field-selector", "reason=FailedScheduling")[
                "items"
            ]
        ),
    )
    result = target.gpu_preflight(None, {})  # type: ignore[arg-type]
    assert not result.passed
    assert "FailedScheduling" in result.reason and "nvidia.com/gpu" in result.reason, result.reason


def test_billed_lists_this_stacks_labelled_objects_only_and_remove_is_idempotent(
    kube_cluster: LocalCluster, namespace: str
) -> None:
    def configmap(name: str, stack: str) -> dict[str, Any]:
        meta = {"name": name, "namespace": namespace, "labels": labels(stack, "weights")}
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {}}

    owned_pod = engine_pod(namespace, STACK, gpus=1)
    owned_pod["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "ours",
            "uid": "00000000-0000-0000-0000-000000000001",
        }
    ]
    kube_cluster.apply([configmap("ours", STACK), configmap("theirs", "k8s-pro-8xh200"), owned_pod])
    kube_cluster.kubectl("create", "configmap", "unlabelled", "-n", namespace)
    target = target_for(kube_cluster, namespace)

    found = target.billed(STACK, include_cache=True)
    assert found == [Billed("ConfigMap", f"{namespace}/ours", "ours")], found

    target.remove(found[0])
    target.remove(found[0])  # already gone: removed, no error
    assert target.billed(STACK, include_cache=True) == []
    names = {c["metadata"]["name"] for c in kube_cluster.get_json("configmaps", "-n", namespace)["items"]}
    assert {"theirs", "unlabelled"} <= names


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
