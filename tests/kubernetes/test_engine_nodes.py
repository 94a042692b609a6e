"""The Kubernetes GPU preflight against a real kube-apiserver (the local control plane, kwok GPU nodes):
it reads what the scheduler and the node say about every engine pod."""

from __future__ import annotations

import pytest
from kube import wait_for
from kube_target import STACK, engine_pod, target_for

from infra.emulator.local_cluster import LocalCluster
from infra.targets.kubernetes.target import KubernetesTarget

pytestmark = pytest.mark.kube


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


def test_the_gpu_preflight_judges_every_node_of_the_group(group: KubernetesTarget) -> None:
    result = group.gpu_preflight(None, {})  # type: ignore[arg-type]
    assert result.passed, result.reason
    nodes = result.details["nodes"]
    assert isinstance(nodes, list)
    assert [(n["role"], n["pod"]) for n in nodes] == [
        ("leader", "vllm-group-0"),
        ("worker 1", "vllm-group-0-1"),
    ]
    assert len({n["node"] for n in nodes}) == 2 and all(n["pod_gpus"] == 8 for n in nodes)
    assert result.reason.startswith("2 nodes, one pod each: leader vllm-group-0 on kwok-h100-sxm-")
    # The engine's Service, and so the API checks, reach the leader.
    assert group.engine_pod() is not None and group.engine_pod().name == "vllm-group-0"  # type: ignore[union-attr]
