"""GPU node pools on the managed clouds: a GKE node pool or an EKS managed node group (`nodePool: gke|eks`).

Each is a Pulumi resource of the cloud's own provider, registered by its type token
(`gcp:container/nodePool:NodePool`, `aws:eks/nodeGroup:NodeGroup`) with the provider's input names; the
pulumi-gcp and pulumi-aws Python SDKs are not dependencies of this project (hundreds of MB each), so the
engine needs those provider plugins installed for a real `up` (`pulumi plugin install resource gcp|aws`).
Under Pulumi mocks the inputs are checked (tests/kubernetes/test_node_pools.py); no cloud has seen them.

Both label their nodes with GPU feature discovery's `nvidia.com/gpu.product` value (neither cloud sets it,
and the engine's nodeSelector needs it) and taint them `nvidia.com/gpu:NoSchedule` (the engine tolerates it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from infra.catalog import Gpu
from infra.config import PROJECT, StackSpec
from infra.errors import ConfigError
from infra.plan import Plan

GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
# GKE A3 machines: a3-highgpu-8g has 8x H100 80GB, a3-ultragpu-8g 8x H200 141GB; the accelerator type names
# are GKE's. Source: cloud.google.com/compute/docs/accelerator-optimized-machines (checked 2026-11-30).
GKE_MACHINES: dict[str, tuple[str, str]] = {
    "H100-SXM": ("a3-highgpu-8g", "nvidia-h100-80gb"),
    "H200": ("a3-ultragpu-8g", "nvidia-h200-141gb"),
}
# GKE installs the driver itself and runs its own device plugin when asked: guest_accelerator's
# gpu_driver_installation_config (cloud.google.com/kubernetes-engine/docs/how-to/gpus, checked 2026-11-30).
GKE_DRIVER_VERSION = "LATEST"
# EKS's accelerated Amazon Linux 2023 AMI ships the NVIDIA driver; the device plugin is ours to run
# (docs.aws.amazon.com/eks/latest/userguide/ml-eks-optimized-ami.html, checked 2026-11-30).
EKS_AMI_TYPE = "AL2023_x86_64_NVIDIA"
# Model weights live on the PVC; the node disk holds the multi-GB engine image.
NODE_DISK_GB = 200
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
# The label each cloud puts on the nodes of a pool, for the engine's nodeSelector.
POOL_NODE_LABEL = {"gke": "cloud.google.com/gke-nodepool", "eks": "eks.amazonaws.com/nodegroup"}
GPUS_PER_MACHINE = 8


@dataclass(frozen=True)
class CloudPool:
    """What the rendered manifests need to know about a cloud pool: its name and the node label."""

    kind: str
    name: str

    @property
    def node_label(self) -> str:
        return POOL_NODE_LABEL[self.kind]


def pool_name(spec: StackSpec) -> str:
    return f"{spec.namespace}-gpu"


def check_cloud_pool(spec: StackSpec, plan: Plan, gpu: Gpu) -> None:
    """Refuse a cloud pool the catalog has no 8-GPU machine for, before anything is created."""
    if spec.node_pool not in POOL_NODE_LABEL:
        return
    if not spec.permanent:
        # The reaper deletes the namespace from inside the cluster; it cannot remove a cloud node pool,
        # which would keep billing 8 GPUs after the time-to-live.
        raise ConfigError(
            f"{spec.source}: '{PROJECT}:nodePool: {spec.node_pool}' creates a cloud node pool that the "
            f"time-to-live reaper cannot remove; set '{PROJECT}:permanent: true' (and destroy it with "
            f"`pulumi destroy`), or use existing nodes for an ephemeral stack."
        )
    if plan.gpu_count != GPUS_PER_MACHINE:
        raise ConfigError(
            f"{spec.source}: '{PROJECT}:nodePool: {spec.node_pool}' provisions 8-GPU machines; the plan uses "
            f"{plan.gpu_count}x {gpu.key}. Set '{PROJECT}:gpuCount: 8', or use existing nodes."
        )
    if spec.node_pool == "gke" and gpu.key not in GKE_MACHINES:
        raise ConfigError(
            f"{spec.source}: no GKE machine type with 8x {gpu.key} in this project's list; GKE pools exist for "
            f"{', '.join(GKE_MACHINES)}"
        )
    if spec.node_pool == "eks" and not eks_instance_types(gpu):
        raise ConfigError(f"{spec.source}: the catalog has no AWS instance type with 8x {gpu.key}")


def eks_instance_types(gpu: Gpu) -> list[str]:
    """p5.48xlarge for H100; p5e.48xlarge and p5en.48xlarge for H200 (the catalog's AWS columns)."""
    return [t for t in (gpu.aws_instance_8x, gpu.aws_instance_8x_alt) if t]


def gke_node_pool_inputs(spec: StackSpec, plan: Plan, gpu: Gpu) -> dict[str, Any]:
    """The pulumi-gcp NodePool inputs (camelCase, as the provider's schema names them)."""
    machine, accelerator = GKE_MACHINES[gpu.key]
    return {
        "name": pool_name(spec),
        "cluster": spec.gke_cluster,
        "location": spec.gke_location,
        "nodeCount": plan.nodes,
        "nodeConfig": {
            "machineType": machine,
            "spot": spec.spot,
            "diskSizeGb": NODE_DISK_GB,
            "guestAccelerators": [
                {
                    "type": accelerator,
                    "count": GPUS_PER_MACHINE,
                    "gpuDriverInstallationConfig": {"gpuDriverVersion": GKE_DRIVER_VERSION},
                }
            ],
            "labels": {GPU_PRODUCT_LABEL: gpu.k8s_product_label},
            # GKE taints GPU nodes with nvidia.com/gpu=present:NoSchedule itself; stating it keeps it explicit.
            "taints": [{"key": GPU_TAINT_KEY, "value": "present", "effect": "NO_SCHEDULE"}],
            "oauthScopes": ["https://www.googleapis.com/auth/cloud-platform"],
        },
        # An upgrade or repair would restart an hour-long model load: only when asked.
        "management": {"autoRepair": True, "autoUpgrade": False},
    }


def eks_node_group_inputs(spec: StackSpec, plan: Plan, gpu: Gpu) -> dict[str, Any]:
    """The pulumi-aws eks.NodeGroup inputs (camelCase, as the provider's schema names them)."""
    return {
        "clusterName": spec.eks_cluster,
        "nodeGroupName": pool_name(spec),
        "nodeRoleArn": spec.eks_node_role_arn,
        "subnetIds": list(spec.eks_subnet_ids),
        "instanceTypes": eks_instance_types(gpu),
        "amiType": EKS_AMI_TYPE,
        "capacityType": "SPOT" if spec.spot else "ON_DEMAND",
        "diskSize": NODE_DISK_GB,
        "scalingConfig": {"desiredSize": plan.nodes, "minSize": plan.nodes, "maxSize": plan.nodes},
        "labels": {GPU_PRODUCT_LABEL: gpu.k8s_product_label},
        "taints": [{"key": GPU_TAINT_KEY, "effect": "NO_SCHEDULE"}],
    }


def create_cloud_pool(
    name: str, spec: StackSpec, plan: Plan, gpu: Gpu, opts: pulumi.ResourceOptions
) -> pulumi.CustomResource | None:
    """The stack's GKE node pool or EKS node group; None for `karpenter` or `existing`."""
    if spec.node_pool == "gke":
        return pulumi.CustomResource(
            GKE_NODE_POOL, f"{name}-gke-node-pool", gke_node_pool_inputs(spec, plan, gpu), opts
        )
    if spec.node_pool == "eks":
        return pulumi.CustomResource(
            EKS_NODE_GROUP, f"{name}-eks-node-group", eks_node_group_inputs(spec, plan, gpu), opts
        )
    return None
