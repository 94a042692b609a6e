"""An engine pod's GPUs as its node reports them through the API, judged against the plan (pure).

GPU feature discovery labels each GPU node with the product, the memory per GPU and the driver; the
device plugin reports the allocatable `nvidia.com/gpu`; the pod's limit says how many it got.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from infra.catalog import Gpu
from infra.targets.kubernetes.engine_pods import GPU_RESOURCE, EnginePod
from infra.validate.gpu_preflight import GpuExpectation, GpuInfo, check_gpus
from infra.validate.stages import Finding

# GPU feature discovery's labels (NVIDIA gpu-feature-discovery README): product, memory in MiB, count.
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_MEMORY_LABEL = "nvidia.com/gpu.memory"


def driver_version(labels: Mapping[str, str]) -> str | None:
    """The driver GPU feature discovery labels the node with: nvidia.com/cuda.driver-version.full, or
    nvidia.com/cuda.driver.{major,minor,rev} (older GFD)."""
    full = labels.get("nvidia.com/cuda.driver-version.full")
    if full:
        return full
    parts = [labels.get(f"nvidia.com/cuda.driver.{p}") for p in ("major", "minor", "rev")]
    return ".".join(p for p in parts if p) if parts[0] else None


@dataclass
class NodeGpus:
    """One pod's node: what it offers, what the pod got, and what is wrong with it for the plan."""

    details: dict[str, object]
    findings: list[Finding] = field(default_factory=list)
    summary: str = ""


def judge_node(node: Mapping[str, Any], pod: EnginePod, gpu: Gpu, gpus_per_node: int) -> NodeGpus:
    labels = node["metadata"].get("labels") or {}
    allocatable = int((node.get("status") or {}).get("allocatable", {}).get(GPU_RESOURCE) or 0)
    product = labels.get(GPU_PRODUCT_LABEL)
    memory = labels.get(GPU_MEMORY_LABEL)
    result = NodeGpus(
        {
            "node": pod.node,
            "pod": pod.name,
            "role": pod.role,
            "product_label": product,
            "allocatable_gpus": allocatable,
            "pod_gpus": pod.gpus,
            "memory_label_mib": memory,
        }
    )
    where = f"node {pod.node}" if pod.worker_index is None else f"node {pod.node} ({pod.role} {pod.name})"
    if product is None:
        result.findings.append(
            Finding("driver", f"{where} has no {GPU_PRODUCT_LABEL} label (is GPU feature discovery running?)")
        )
    if allocatable < gpus_per_node:
        result.findings.append(
            Finding(
                "count",
                f"{where} offers {allocatable} allocatable {GPU_RESOURCE}; the plan needs {gpus_per_node}",
            )
        )
    driver = None
    if product is not None:
        # The label is the product name with dashes: NVIDIA-H200 is "NVIDIA H200".
        driver = driver_version(labels)
        size = int(memory) if memory and memory.isdigit() else gpu.memory_mib
        infos = [GpuInfo(i, product.replace("-", " "), size, driver, None) for i in range(pod.gpus)]
        found = check_gpus(infos, GpuExpectation(gpu.product_name, gpus_per_node, gpu.memory_mib))
        # Without GFD's driver labels the device plugin's allocatable GPUs are the driver's evidence.
        found = [f for f in found if f.check != "driver" or driver is not None]
        prefix = "" if pod.worker_index is None else f"{where}: "
        result.findings += [Finding(f.check, prefix + f.message) for f in found]
        # What the labels imply; the GPUs nvidia-smi lists in the pod go under "gpus" (pod_gpus.py).
        result.details["labelled_gpus"] = [asdict(g) for g in infos]
        result.details["driver_version"] = driver
    note = f", {memory} MiB each" if memory else " (memory not labelled by the node)"
    note += f", driver {driver}" if driver else ""
    result.summary = f"{pod.gpus}x {product}{note}, {allocatable} allocatable"
    return result
