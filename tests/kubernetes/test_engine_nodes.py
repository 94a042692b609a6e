"""The Kubernetes GPU preflight against a real kube-apiserver (the local control plane, kwok GPU nodes):
it reads what the scheduler and the node say about every engine pod, and what nvidia-smi lists inside
each engine container through the API server's exec (kwok's, answered by the stand-in nvidia-smi)."""

from __future__ import annotations

import json

import pytest
from kube import wait_for
from kube_target import STACK, engine_pod, target_for
from paths import H200_FIXTURES

from infra.emulator.gpu_exec import TOOLKIT_LABEL
from infra.emulator.local_cluster import LocalCluster
from infra.targets.kubernetes.target import KubernetesTarget
from infra.validate.gpu_preflight import GPU_QUERY_COMMAND

pytestmark = pytest.mark.kube

# What a real H200 prints for the preflight's query (shared/fixtures/gpu/h200/README.md).
H200_LINE = H200_FIXTURES / "query-gpu-noheader.csv"


def exec_written(cluster: LocalCluster, namespace: str, pod: str) -> bool:
    """The toolkit stand-in wrote the pod's kwok Exec (its GPUs), so an exec in it runs nvidia-smi."""
    return cluster.kubectl("get", "exec", pod, "-n", namespace, check=False).returncode == 0


def set_exec_gpus(cluster: LocalCluster, namespace: str, pod: str, gpu: str, count: int) -> None:
    """What the pod's engine container will see: `count` GPUs of `gpu` (the stand-in writes it once)."""
    wait_for(f"the Exec of {pod}", lambda: exec_written(cluster, namespace, pod))
    envs = [{"name": "EMULATOR_GPU_TYPE", "value": gpu}, {"name": "EMULATOR_GPU_COUNT", "value": str(count)}]
    patch = [{"op": "replace", "path": "/spec/execs/0/local/envs", "value": envs}]
    cluster.kubectl("patch", "exec", pod, "-n", namespace, "--type=json", "-p", json.dumps(patch))


def test_kubectl_exec_in_a_gpu_pod_prints_what_a_real_h200_prints(
    kube_cluster: LocalCluster, namespace: str
) -> None:
    kube_cluster.apply([engine_pod(namespace, STACK, gpus=4)])
    wait_for("the pod's Exec", lambda: exec_written(kube_cluster, namespace, "vllm-0"))
    wait_for(
        "the pod Running",
        lambda: kube_cluster.get_json("pod", "vllm-0", "-n", namespace)["status"].get("phase") == "Running",
    )
    done = kube_cluster.kubectl("exec", "-n", namespace, "vllm-0", "-c", "vllm", "--", *GPU_QUERY_COMMAND)
    want = H200_LINE.read_text(encoding="utf-8").strip()
    assert done.stdout.splitlines() == [want.replace("0, ", f"{i}, ", 1) for i in range(4)]


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
    # What nvidia-smi listed inside the engine container, through the API server's exec.
    gpus = result.details["gpus"]
    assert isinstance(gpus, list)
    assert [(g["index"], g["name"], g["memory_mib"], g["driver_version"]) for g in gpus] == [
        (i, "NVIDIA H200", 143771, "580.159.04") for i in range(4)
    ]
    assert "nvidia-smi: 4x NVIDIA H200 (143771 MiB each), driver 580.159.04" in result.reason


def test_gpu_preflight_fails_when_the_engine_container_sees_another_gpu_than_its_node_label(
    kube_cluster: LocalCluster, namespace: str
) -> None:
    kube_cluster.apply([engine_pod(namespace, STACK, gpus=4)])
    set_exec_gpus(kube_cluster, namespace, "vllm-0", "NVIDIA H100 80GB HBM3", 4)
    result = target_for(kube_cluster, namespace).gpu_preflight(None, {})  # type: ignore[arg-type]
    assert not result.passed
    assert result.reason == (
        "pod vllm-0 on node kwok-h200-0: GPUs 0, 1, 2, 3: NVIDIA H100 80GB HBM3 with 81559 MiB, "
        "expected NVIDIA H200 with 143771 MiB."
    )


def test_gpu_preflight_fails_when_the_engine_container_sees_fewer_gpus_than_the_plan(
    kube_cluster: LocalCluster, namespace: str
) -> None:
    kube_cluster.apply([engine_pod(namespace, STACK, gpus=4)])
    set_exec_gpus(kube_cluster, namespace, "vllm-0", "NVIDIA H200", 2)
    result = target_for(kube_cluster, namespace).gpu_preflight(None, {})  # type: ignore[arg-type]
    assert not result.passed
    assert result.reason == (
        "pod vllm-0 on node kwok-h200-0: Found 2 GPUs (2x NVIDIA H200); the plan needs 4x NVIDIA H200."
    )
    assert len(result.details["gpus"]) == 2  # type: ignore[arg-type]


def test_a_failed_nvidia_smi_in_the_engine_container_is_one_finding_naming_pod_node_and_fix(
    kube_cluster: LocalCluster, namespace: str
) -> None:
    # No GPU reaches the container: nvidia-smi exits 9, "couldn't communicate with the NVIDIA driver".
    kube_cluster.apply([engine_pod(namespace, STACK, gpus=4)])
    set_exec_gpus(kube_cluster, namespace, "vllm-0", "NVIDIA H200", 0)
    result = target_for(kube_cluster, namespace).gpu_preflight(None, {})  # type: ignore[arg-type]
    assert not result.passed
    assert result.details["findings"] == [result.reason]
    assert result.reason.startswith("pod vllm-0 on node kwok-h200-0: nvidia-smi cannot reach the GPUs (")
    assert "couldn't communicate with the NVIDIA driver" in result.reason
    assert "check the node's NVIDIA driver" in result.reason and "Traceback" not in result.reason


def test_an_exec_that_cannot_run_nvidia_smi_is_one_finding_naming_pod_and_node(
    kube_cluster: LocalCluster, namespace: str
) -> None:
    # The GPU operator's switch turns the toolkit off on the node: nothing gives the container nvidia-smi.
    kube_cluster.kubectl("label", "node", "kwok-h200-0", f"{TOOLKIT_LABEL}=false")
    try:
        kube_cluster.apply([engine_pod(namespace, STACK, gpus=4)])
        result = target_for(kube_cluster, namespace).gpu_preflight(None, {})  # type: ignore[arg-type]
    finally:
        kube_cluster.kubectl("label", "node", "kwok-h200-0", f"{TOOLKIT_LABEL}-")
    assert not exec_written(kube_cluster, namespace, "vllm-0")
    assert not result.passed
    assert result.details["findings"] == [result.reason]
    assert result.reason.startswith("pod vllm-0 on node kwok-h200-0: kubectl exec nvidia-smi failed (")
    assert "kubectl describe pod vllm-0" in result.reason


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
    # Each member's own nvidia-smi, through the API server's exec: its node's eight H100s.
    for node in nodes:
        assert [g["name"] for g in node["gpus"]] == ["NVIDIA H100 80GB HBM3"] * 8
    assert result.reason.count("nvidia-smi: 8x NVIDIA H100 80GB HBM3 (81559 MiB each)") == 2
    assert result.reason.startswith("2 nodes, one pod each: leader vllm-group-0 on kwok-h100-sxm-")
    # The engine's Service, and so the API checks, reach the leader.
    assert group.engine_pod() is not None and group.engine_pod().name == "vllm-group-0"  # type: ignore[union-attr]
