"""The dynamic resources of the RunPod target (typed wrappers over the providers in providers.py)."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import Resource

from infra.targets.runpod import cluster_providers, providers

SECRET_OUTPUTS = ["api_key", "env", "hf_token", "private_key", "value"]


def _opts(opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS)
    )


class NetworkVolume(Resource):
    volume_id: pulumi.Output[str]
    data_center_id: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            providers.NetworkVolumeProvider(),
            name,
            {**props, "volume_id": None, "data_center_id": None, "adopted": None},
            _opts(opts),
        )


class WeightPrefill(Resource):
    skipped: pulumi.Output[bool]
    bytes_downloaded: pulumi.Output[int]
    commit: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        outs = {
            "complete": None,
            "skipped": None,
            "bytes_downloaded": None,
            "commit": None,
            "prefill_pod_id": None,
        }
        super().__init__(providers.WeightPrefillProvider(), name, {**props, **outs}, _opts(opts))


class Pod(Resource):
    pod_id: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    ssh_host: pulumi.Output[str]
    ssh_port: pulumi.Output[int]
    usd_per_hour: pulumi.Output[float]
    gpu_type_id: pulumi.Output[str]
    data_center_id: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        outs = {
            k: None
            for k in (
                "pod_id",
                "endpoint",
                "ssh_host",
                "ssh_port",
                "usd_per_hour",
                "gpu_type_id",
                "data_center_id",
            )
        }
        super().__init__(providers.PodProvider(), name, {**props, **outs}, _opts(opts))


class Cluster(Resource):
    """A RunPod Instant Cluster (cluster_providers.ClusterProvider)."""

    cluster_id: pulumi.Output[str]
    member_pod_ids: pulumi.Output[list[str]]
    member_ssh: pulumi.Output[list[Any]]
    leader_pod_id: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    ssh_host: pulumi.Output[str]
    ssh_port: pulumi.Output[int]
    usd_per_hour: pulumi.Output[float]
    data_center_id: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        outs = dict.fromkeys(cluster_providers.OUTPUT_KEYS)
        super().__init__(cluster_providers.ClusterProvider(), name, {**props, **outs}, _opts(opts))


class GeneratedSecret(Resource):
    value: pulumi.Output[str]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(providers.GeneratedSecretProvider(), name, {"bytes": 32, "value": None}, _opts(opts))


class SshKey(Resource):
    private_key: pulumi.Output[str]
    public_key: pulumi.Output[str]

    def __init__(self, name: str, stack: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            providers.SshKeyProvider(),
            name,
            {"stack": stack, "private_key": None, "public_key": None},
            _opts(opts),
        )
