"""The typed inputs and outputs of the RunPod target's dynamic resources, and of the stack it exports.

Each field is one prop key, written here once: the resource registers `Inputs.to_props()` with
`Outputs.unset()`, its provider reads both back with `from_props`, and the lifecycle reads the stack's
exports with `PodStackOutputs` / `ClusterStackOutputs`. Inputs are generic in `Wired`: plain strings
inside a provider, Pulumi Inputs where a component wires one resource's output into another.
Key names are the ones the state and the policy pack (policy/) already know: renaming one strands it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic

from infra.targets.dynamic import PropsDataclass
from infra.targets.runpod.types import RunPodSettings, Wired

# Outputs that hold a secret (and inputs whose values can): the resources mark them as Pulumi secrets.
SECRET_OUTPUTS = ["api_key", "env", "hf_token", "private_key", "value"]


@dataclass(frozen=True)
class VolumeInputs(PropsDataclass, Generic[Wired]):
    """The weight-cache network volume: found by its stable per-stack name, else created where the GPUs are."""

    connection: RunPodSettings[Wired]
    name: str
    size_gb: int
    data_center_ids: Sequence[str]
    """Where it may live, in preference order; a kept cache must be in one of them."""
    placement_gpu_type_ids: Sequence[str]
    """The GPU types whose stock decides the data center (the GPU pod must run where the cache is)."""
    placement_gpu_count: int
    placement_product: str = "POD"
    """`CLUSTER` asks the catalog for stock of every node's GPUs in one data center."""
    volume_type: str = "auto"
    """The tier asked for: `auto` (the fast one where offered), `STANDARD` or `HIGH_PERFORMANCE`."""


@dataclass(frozen=True)
class VolumeOutputs(PropsDataclass):
    volume_id: str | None = None
    data_center_id: str | None = None
    volume_type: str | None = None
    """The tier RunPod gave it (the state keeps it under the input's key, as it always has)."""
    adopted: bool = False
    """It existed before this create: a kept cache, found by name."""


@dataclass(frozen=True)
class PodInputs(PropsDataclass, Generic[Wired]):
    """A RunPod pod: a GPU pod with failover over `gpu_type_ids`, or a CPU pod when `gpu_count` is 0.

    `gpu_type_ids`, `gpu_count`, `ttl_seconds`, `permanent` and `args` are what the policy pack judges.
    """

    connection: RunPodSettings[Wired]
    name: str
    image: str
    gpu_type_ids: Sequence[str]
    gpu_count: int
    data_center_ids: Sequence[Wired]
    args: str = field(repr=False)
    ports: Sequence[str]
    container_disk_gb: int
    env: Mapping[str, Wired] = field(default_factory=dict, repr=False)
    volume_id: Wired | None = None
    cache_gb: float = 0
    """The weight cache's size, for what a cold start elsewhere would cost."""
    ttl_seconds: int | None = None
    permanent: bool = False
    weights_commit: Wired | None = None
    """The pre-filled checkpoint commit: a new one replaces the pod."""
    image_cuda: str | None = None
    """The CUDA the image is built for (engines.yaml): creates ask for hosts whose driver runs it."""
    image_min_driver: int | None = None
    allowed_cuda_versions: Sequence[str] = ()
    """The stack's own allowedCudaVersions; empty: the catalog's versions that run the image."""

    @property
    def gpu(self) -> bool:
        return self.gpu_count > 0


@dataclass(frozen=True)
class PodOutputs(PropsDataclass):
    pod_id: str | None = None
    gpu_type_id: str | None = None
    data_center_id: str | None = None
    endpoint: str | None = None
    ssh_host: str | None = None
    ssh_port: int | None = None
    usd_per_hour: float | None = None


@dataclass(frozen=True)
class PrefillInputs(PropsDataclass, Generic[Wired]):
    """The weight pre-fill: a CPU pod that mounts the cache volume and runs infra/weights.py over SSH."""

    connection: RunPodSettings[Wired]
    name: str
    stack: str
    volume_id: Wired
    data_center_id: Wired
    repo_id: str
    revision: str
    cache_dir: str
    image: str
    args: str
    private_key: Wired = field(repr=False)
    public_key: Wired
    hf_token: Wired | None = field(default=None, repr=False)
    hf_endpoint: str | None = None
    volume_tier: Wired | None = None
    """The volume's tier, which the read-rate records are keyed by (with the data center)."""


@dataclass(frozen=True)
class PrefillOutputs(PropsDataclass):
    complete: bool = False
    skipped: bool = False
    """The volume already held a complete copy: nothing was downloaded."""
    bytes_downloaded: int = 0
    commit: str | None = None
    prefill_pod_id: str | None = None
    read_rates: Sequence[str] = ()
    """Read-rate probe records (JSON lines) of the volume, the container disk and the hub download."""


@dataclass(frozen=True)
class ClusterInputs(PropsDataclass, Generic[Wired]):
    """An Instant Cluster of `pod_count` pods with `gpu_count` GPUs each, in one data center.

    Named like the GPU pod's inputs, so the policy pack's GPU checks (time-to-live, image) judge it too.
    """

    connection: RunPodSettings[Wired]
    name: str
    image: str
    gpu_type_ids: Sequence[str]
    """Exactly one: a cluster has no failover to another type (ClusterCompute.gpuTypeId)."""
    gpu_count: int
    pod_count: int
    data_center_ids: Sequence[Wired]
    args: str = field(repr=False)
    ports: Sequence[str]
    container_disk_gb: int
    env: Mapping[str, Wired] = field(default_factory=dict, repr=False)
    volume_id: Wired | None = None
    ttl_seconds: int | None = None
    permanent: bool = False
    weights_commit: Wired | None = None
    image_cuda: str | None = None
    """The CUDA the image is built for: every member's host is judged against it once it runs."""
    image_min_driver: int | None = None


@dataclass(frozen=True)
class ClusterOutputs(PropsDataclass):
    cluster_id: str | None = None
    data_center_id: str | None = None
    gpu_type_id_rented: str | None = None
    member_pod_ids: Sequence[str] = ()
    member_ssh: Sequence[Sequence[Any] | None] = ()
    """[host, port] per member by rank; None for a member without a published SSH port."""
    leader_pod_id: str | None = None
    endpoint: str | None = None
    ssh_host: str | None = None
    ssh_port: int | None = None
    usd_per_hour: float | None = None


@dataclass(frozen=True)
class SecretInputs(PropsDataclass):
    bytes: int = 32


@dataclass(frozen=True)
class SecretOutputs(PropsDataclass):
    value: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SshKeyInputs(PropsDataclass):
    stack: str


@dataclass(frozen=True)
class SshKeyOutputs(PropsDataclass):
    private_key: str | None = field(default=None, repr=False)
    public_key: str | None = None


@dataclass(frozen=True)
class PodStackOutputs(PropsDataclass):
    """What a single-pod RunPod stack exports, and what the lifecycle's RunPod target reads back."""

    pod_id: str
    pod_name: str
    """Where the engine log lives under /workspace/logs/ (templates/runpod/)."""
    endpoint: str
    volume_id: str
    weights_skipped: bool
    weights_bytes_downloaded: int
    vllm_api_key: str = field(repr=False)
    ssh_host: str | None
    ssh_port: int | None
    ssh_private_key: str = field(repr=False)
    read_rates: Sequence[str] = field(default=(), kw_only=True)
    """What the pre-fill measured (probe records); the lifecycle records them in the state directory."""
    prefill_pod_id: str | None = field(default=None, kw_only=True)
    """The pre-fill's CPU pod, gone by now: its bill is part of the run's (GET /v2/billing/pods)."""


@dataclass(frozen=True)
class ClusterStackOutputs(PodStackOutputs):
    """A cluster stack's exports: the leader's as a pod stack's, and every member by rank."""

    cluster_id: str
    member_pod_ids: Sequence[str]
    member_ssh: Sequence[Sequence[Any] | None]
    usd_per_hour: float | None
