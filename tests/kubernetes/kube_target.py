"""A `KubernetesTarget` on the local control plane, and objects shaped like the ones the stack renders."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from kube import labels

from infra.config import load_stack
from infra.emulator.local_cluster import LocalCluster
from infra.planner import plan
from infra.targets.base import Credentials, TargetContext
from infra.targets.kubernetes.target import KubernetesTarget

STACK = "k8s-flash-4xh200"
GROUP_STACK = "k8s-pro-2x8xh100"


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


def target_for(cluster: LocalCluster, namespace: str, stack: str = STACK) -> KubernetesTarget:
    spec = dataclasses.replace(load_stack(stack), namespace=namespace)
    context = TargetContext(
        spec=spec,
        plan=plan(spec.plan_request(), spec.catalog),
        env={**os.environ, **cluster.env()},
        credentials=Credentials(),
        state_dir=Path("/nonexistent"),
    )
    return KubernetesTarget(context)


def group_running(target: KubernetesTarget) -> bool:
    members = target.engine_group()
    return members.complete and all(p.phase == "Running" and p.node for p in members.live)
