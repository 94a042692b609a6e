"""An Instant Cluster's values as REST v2 shows them: the create request, the cluster and its members.

An Instant Cluster is `podCount` identical pods in ONE data center on a private overlay network; its
container configuration is one for every member (CreateClusterRequest), so a member learns its part from
the environment RunPod gives it (NODE_RANK, PRIMARY_ADDR).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.errors import ConfigError
from infra.targets.runpod.pod_types import Pod, network_mount, v2_object
from infra.targets.runpod.ports import port_problems
from infra.targets.runpod.settings import RunPodSettings

CLUSTER_TYPES = ("APPLICATION", "TRAINING", "SLURM", "RAY")
# ClusterCompute.podCount: 2 to 250 (RunPod REST v2 OpenAPI).
MIN_PODS, MAX_PODS = 2, 250


@dataclass(frozen=True)
class ClusterRequest:
    """Everything a `POST /v2/clusters` needs; `args` and `env` apply to every member."""

    name: str
    image: str
    gpu_type_id: str
    gpu_count_per_pod: int
    pod_count: int
    type: str = "APPLICATION"
    data_center_id: str | None = None
    network_volume_id: str | None = None
    volume_mount_path: str = "/workspace"
    container_disk_gb: int = 50
    args: str = field(default="", repr=False)
    ports: tuple[str, ...] = ("8000/http", "22/tcp")
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        problems = []
        if not self.name:
            problems.append("name is empty")
        if not self.image:
            problems.append("image is empty")
        if not self.gpu_type_id:
            problems.append("gpu_type_id is empty")
        if self.type not in CLUSTER_TYPES:
            problems.append(f"type {self.type!r} is not one of {', '.join(CLUSTER_TYPES)}")
        if self.gpu_count_per_pod < 1:
            problems.append(f"gpu_count_per_pod {self.gpu_count_per_pod} must be at least 1")
        if not MIN_PODS <= self.pod_count <= MAX_PODS:
            problems.append(f"pod_count {self.pod_count} must be {MIN_PODS} to {MAX_PODS}")
        if self.container_disk_gb < 1:
            problems.append(f"container_disk_gb {self.container_disk_gb} must be at least 1")
        problems += port_problems(self.ports)
        if problems:
            raise ConfigError(f"invalid cluster request {self.name!r}: " + "; ".join(problems))

    def __repr__(self) -> str:
        return (
            f"ClusterRequest(name={self.name!r}, image={self.image!r}, "
            f"compute={self.pod_count}x {self.gpu_count_per_pod}x {self.gpu_type_id!r}, "
            f"data_center_id={self.data_center_id!r}, network_volume_id={self.network_volume_id!r}, "
            f"env_keys={sorted(self.env)!r})"
        )

    def body(self) -> dict[str, Any]:
        """The `POST /v2/clusters` body (CreateClusterRequest): JSON, so nothing is escaped by hand."""
        body: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "compute": {
                "gpuTypeId": self.gpu_type_id,
                "gpuCountPerPod": self.gpu_count_per_pod,
                "podCount": self.pod_count,
            },
            "image": self.image,
            "disk": self.container_disk_gb,
            "ports": list(self.ports),
            "env": dict(self.env),
        }
        if self.args:
            body["args"] = self.args
        if self.data_center_id:
            body["dataCenterIds"] = [self.data_center_id]
        return body | network_mount(self.network_volume_id, self.volume_mount_path)


@dataclass(frozen=True)
class Cluster:
    """One cluster as `GET /v2/clusters/{id}` shows it (members are summarised; see `ClusterMember`)."""

    id: str
    name: str
    type: str
    gpu_type_id: str
    gpu_count_per_pod: int
    pod_count: int
    data_center_id: str | None
    members_total: int
    members_by_status: Mapping[str, int]
    network_cidr: str | None
    primary_pod_id: str | None
    primary_ssh: tuple[str, int] | None
    """(host, port) of the primary's `sshEndpoint`, once it runs with 22/tcp published."""

    @property
    def gpu_count(self) -> int:
        return self.gpu_count_per_pod * self.pod_count

    @classmethod
    def from_v2(cls, answer: object) -> Cluster:
        item = v2_object(answer, "cluster")
        compute = item.get("compute") or {}
        pods = item.get("pods") or {}
        primary = item.get("primary") or {}
        endpoint = str(primary.get("sshEndpoint") or "")
        host, _, port = endpoint.rpartition(":")
        return cls(
            id=str(item["id"]),
            name=str(item.get("name") or ""),
            type=str(item.get("type") or ""),
            gpu_type_id=str(compute.get("gpuTypeId") or ""),
            gpu_count_per_pod=int(compute.get("gpuCountPerPod") or 0),
            pod_count=int(compute.get("podCount") or 0),
            data_center_id=item.get("dataCenterId"),
            members_total=int(pods.get("total") or 0),
            members_by_status={str(k): int(v) for k, v in (pods.get("byStatus") or {}).items()},
            network_cidr=(item.get("network") or {}).get("cidr"),
            primary_pod_id=primary.get("podId"),
            primary_ssh=(host, int(port)) if host and port.isdigit() else None,
        )


@dataclass(frozen=True)
class ClusterMember:
    """A member pod with its place in the cluster (`Pod.cluster`: rank, overlay address, role)."""

    pod: Pod
    rank: int | None
    """NODE_RANK; None until RunPod assigns it. Rank 0 is the primary."""
    ip: str | None
    """The member's address on the cluster's private network; None until assigned."""
    role: str | None = None
    """SLURM or RAY role; None for APPLICATION and TRAINING clusters."""

    @classmethod
    def from_v2(cls, item: object, settings: RunPodSettings[str]) -> ClusterMember:
        membership = (item.get("cluster") if isinstance(item, dict) else None) or {}
        rank = membership.get("rank")
        return cls(
            pod=Pod.from_v2(item, settings),
            rank=int(rank) if isinstance(rank, int) else None,
            ip=membership.get("ip"),
            role=membership.get("role"),
        )
