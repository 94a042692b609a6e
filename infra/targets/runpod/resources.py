"""The dynamic resources of the RunPod target, each over its provider and its props.py dataclasses.

A resource registers its inputs with every output key unset (the provider fills them in); the
annotated `Output` attributes are the outputs the components read, each a field of the outputs
dataclass (tests/runpod/test_props.py keeps them so).
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import Resource

from infra.targets.dynamic import PropsDataclass
from infra.targets.runpod import cluster_providers, providers
from infra.targets.runpod.props import (
    SECRET_OUTPUTS,
    ClusterInputs,
    ClusterOutputs,
    PodInputs,
    PodOutputs,
    PrefillInputs,
    PrefillOutputs,
    SecretInputs,
    SecretOutputs,
    SshKeyInputs,
    SshKeyOutputs,
    VolumeInputs,
    VolumeOutputs,
)

In = pulumi.Input[str]


def _props(inputs: PropsDataclass, outputs: type[PropsDataclass]) -> dict[str, Any]:
    # Inputs win over a shared key (the volume's `volume_type`: asked for, then the tier RunPod gave).
    return {**outputs.unset(), **inputs.to_props()}


def _opts(opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS)
    )


class NetworkVolume(Resource):
    volume_id: pulumi.Output[str]
    data_center_id: pulumi.Output[str]
    volume_type: pulumi.Output[str]

    def __init__(
        self, name: str, inputs: VolumeInputs[In], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(providers.NetworkVolumeProvider(), name, _props(inputs, VolumeOutputs), _opts(opts))


class WeightPrefill(Resource):
    skipped: pulumi.Output[bool]
    bytes_downloaded: pulumi.Output[int]
    commit: pulumi.Output[str]
    read_rates: pulumi.Output[list[str]]
    prefill_pod_id: pulumi.Output[str]

    def __init__(
        self, name: str, inputs: PrefillInputs[In], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(providers.WeightPrefillProvider(), name, _props(inputs, PrefillOutputs), _opts(opts))


class Pod(Resource):
    pod_id: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    ssh_host: pulumi.Output[str]
    ssh_port: pulumi.Output[int]
    usd_per_hour: pulumi.Output[float]
    gpu_type_id: pulumi.Output[str]
    data_center_id: pulumi.Output[str]

    def __init__(self, name: str, inputs: PodInputs[In], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(providers.PodProvider(), name, _props(inputs, PodOutputs), _opts(opts))


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

    def __init__(
        self, name: str, inputs: ClusterInputs[In], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            cluster_providers.ClusterProvider(), name, _props(inputs, ClusterOutputs), _opts(opts)
        )


class GeneratedSecret(Resource):
    value: pulumi.Output[str]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        props = _props(SecretInputs(bytes=32), SecretOutputs)
        super().__init__(providers.GeneratedSecretProvider(), name, props, _opts(opts))


class SshKey(Resource):
    private_key: pulumi.Output[str]
    public_key: pulumi.Output[str]

    def __init__(self, name: str, stack: str, opts: pulumi.ResourceOptions | None = None) -> None:
        props = _props(SshKeyInputs(stack=stack), SshKeyOutputs)
        super().__init__(providers.SshKeyProvider(), name, props, _opts(opts))
