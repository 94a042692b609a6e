"""The RunPod target: a weight-cache network volume, a CPU pre-fill, and the GPU pod (one node) or,
for a multi-node plan, an Instant Cluster (one pod per node).

The stack exports the fields of `PodStackOutputs` (or `ClusterStackOutputs`), read from the
deployment's attributes of the same names; the lifecycle's RunPod target reads them back with the
same dataclasses (props.py), so an export's key is written once.
"""

from __future__ import annotations

import os

import pulumi
from pulumi.runtime import get_config

from infra.config import StackSpec
from infra.plan import Plan
from infra.targets import register
from infra.targets.base import Secrets
from infra.targets.dynamic import PropsDataclass
from infra.targets.runpod.cluster_component import RunPodClusterDeployment
from infra.targets.runpod.component import (
    RunPodDeployment,
    RunPodDeploymentArgs,
    check_gpu_types_listed,
    require_credentials,
)
from infra.targets.runpod.props import ClusterStackOutputs, PodStackOutputs
from infra.targets.runpod.types import RunPodSettings


@register("runpod")
def deploy(spec: StackSpec, plan: Plan, secrets: Secrets) -> RunPodDeployment | RunPodClusterDeployment:
    api_key, hf_token = require_credentials(secrets.runpod_api_key, secrets.hf_token, spec.source)
    if not pulumi.runtime.is_dry_run():
        # Before anything is created: a GPU type RunPod does not list can only fail later, after billing starts.
        key = get_config("deepseek-v4-infra:runpodApiKey") or os.environ.get("RUNPOD_API_KEY")
        check_gpu_types_listed(spec, RunPodSettings.from_env(key))
    args = RunPodDeploymentArgs(
        spec, plan, RunPodSettings.from_env(api_key), hf_token, hf_endpoint=os.environ.get("HF_ENDPOINT")
    )
    deployment: RunPodDeployment | RunPodClusterDeployment
    if plan.nodes > 1:
        deployment = RunPodClusterDeployment("runpod", args)
        export(deployment, ClusterStackOutputs)
    else:
        deployment = RunPodDeployment("runpod", args)
        export(deployment, PodStackOutputs)
    return deployment


def export(deployment: pulumi.ComponentResource, outputs: type[PropsDataclass]) -> None:
    """Export each field of `outputs` from the deployment's attribute of that name."""
    for key in outputs.prop_keys():
        pulumi.export(key, getattr(deployment, key))
