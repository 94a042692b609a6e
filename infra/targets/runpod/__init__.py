"""The RunPod target: a weight-cache network volume, a CPU pre-fill, and the GPU pod (one node) or,
for a multi-node plan, an Instant Cluster (one pod per node)."""

from __future__ import annotations

import pulumi

from infra.config import StackSpec
from infra.plan import Plan
from infra.targets import register
from infra.targets.runpod.cluster_component import RunPodClusterDeployment
from infra.targets.runpod.component import (
    RunPodDeployment,
    RunPodDeploymentArgs,
    RunPodEndpoints,
    check_gpu_types_listed,
    require_credentials,
)


@register("runpod")
def deploy(spec: StackSpec, plan: Plan, secrets: object) -> RunPodDeployment | RunPodClusterDeployment:
    api_key, hf_token = require_credentials(
        getattr(secrets, "runpod_api_key", None), getattr(secrets, "hf_token", None), spec.source
    )
    endpoints = RunPodEndpoints.from_env()
    if not pulumi.runtime.is_dry_run():
        # Before anything is created: a GPU type RunPod does not list can only fail later, after billing starts.
        check_gpu_types_listed(spec, endpoints)
    deploy_args = RunPodDeploymentArgs(spec, plan, api_key, hf_token, endpoints)
    if plan.nodes > 1:
        return _deploy_cluster(deploy_args)
    deployment = RunPodDeployment("runpod", deploy_args)
    pulumi.export("pod_id", deployment.pod_id)
    pulumi.export("pod_name", deployment.pod_name)
    pulumi.export("endpoint", deployment.endpoint)
    pulumi.export("volume_id", deployment.volume_id)
    pulumi.export("weights_skipped", deployment.prefill.skipped)
    pulumi.export("weights_bytes_downloaded", deployment.prefill.bytes_downloaded)
    pulumi.export("vllm_api_key", deployment.vllm_api_key)
    pulumi.export("ssh_host", deployment.pod.ssh_host)
    pulumi.export("ssh_port", deployment.pod.ssh_port)
    pulumi.export("ssh_private_key", pulumi.Output.secret(deployment.ssh_key.private_key))
    return deployment


def _deploy_cluster(args: RunPodDeploymentArgs) -> RunPodClusterDeployment:
    deployment = RunPodClusterDeployment("runpod", args)
    cluster = deployment.cluster
    pulumi.export("pod_id", deployment.pod_id)
    pulumi.export("pod_name", deployment.pod_name)
    pulumi.export("cluster_id", cluster.cluster_id)
    pulumi.export("member_pod_ids", cluster.member_pod_ids)
    pulumi.export("member_ssh", cluster.member_ssh)
    pulumi.export("endpoint", deployment.endpoint)
    pulumi.export("usd_per_hour", cluster.usd_per_hour)
    pulumi.export("volume_id", deployment.volume_id)
    pulumi.export("weights_skipped", deployment.prefill.skipped)
    pulumi.export("weights_bytes_downloaded", deployment.prefill.bytes_downloaded)
    pulumi.export("vllm_api_key", deployment.vllm_api_key)
    pulumi.export("ssh_host", cluster.ssh_host)
    pulumi.export("ssh_port", cluster.ssh_port)
    pulumi.export("ssh_private_key", pulumi.Output.secret(deployment.ssh_key.private_key))
    return deployment
