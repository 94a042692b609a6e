"""The container toolkit's stand-in: which kwok Exec a pod on a GPU node gets (pure)."""

from __future__ import annotations

from typing import Any

from infra.emulator.gpu_exec import TOOLKIT_LABEL, exec_for


def node(labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": "kwok-h100-sxm-0", "labels": labels}}


def pod(*containers: tuple[str, int | None]) -> dict[str, Any]:
    specs = [
        {"name": name, **({"resources": {"limits": {"nvidia.com/gpu": gpus}}} if gpus is not None else {})}
        for name, gpus in containers
    ]
    return {"metadata": {"name": "vllm-0", "namespace": "ns", "uid": "u-1"}, "spec": {"containers": specs}}


def test_each_gpu_container_sees_its_limit_of_the_nodes_gpu_named_as_nvidia_smi_names_it() -> None:
    made = exec_for(
        pod(("vllm", 8), ("sidecar", None)), node({"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"})
    )
    assert made is not None
    assert made["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "vllm-0", "uid": "u-1"}
    ]
    assert made["spec"]["execs"] == [
        {
            "containers": ["vllm"],
            "local": {
                "envs": [
                    {"name": "EMULATOR_GPU_TYPE", "value": "NVIDIA H100 80GB HBM3"},
                    {"name": "EMULATOR_GPU_COUNT", "value": "8"},
                ]
            },
        }
    ]


def test_no_exec_without_gpus_an_unknown_gpu_or_the_toolkit_switched_off() -> None:
    h200 = {"nvidia.com/gpu.product": "NVIDIA-H200"}
    assert exec_for(pod(("vllm", None)), node(h200)) is None
    assert exec_for(pod(("vllm", 4)), node({})) is None
    assert exec_for(pod(("vllm", 4)), node({"nvidia.com/gpu.product": "NVIDIA-B300"})) is None
    assert exec_for(pod(("vllm", 4)), node({**h200, TOOLKIT_LABEL: "false"})) is None
    assert exec_for(pod(("vllm", 4)), node(h200)) is not None
