"""RunPod's values as REST v2 shows them: settings, requests, pods, volumes, the catalog, clusters.

The client (client.py), the cluster code and the providers all import these, and import nothing back.
Requests write their own v2 bodies (`body()`); answers are read by each value's `from_v2`, which
treats anything that is not the object asked for as a transient answer (an outage page, a
half-written body). An Instant Cluster is `podCount` identical pods in ONE data center on a private
overlay network; its container configuration is one for every member (CreateClusterRequest), so a
member learns its part from the environment RunPod gives it (NODE_RANK, PRIMARY_ADDR).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from infra.errors import AuthError, ConfigError, TransientError
from infra.targets.runpod.ports import port_problems

if TYPE_CHECKING:
    import pulumi

# A text value: a plain str inside a provider, a Pulumi Input[str] where a component wires one
# resource's output into another's input (the same dataclass serves both sides).
Wired = TypeVar("Wired", str, "pulumi.Input[str]")

API_VERSION = "v2"
KEY_HINT = (
    "set it with `pulumi config set --secret deepseek-v4-infra:runpodApiKey <key>` or export RUNPOD_API_KEY"
)
DEFAULT_API_BASE_URL = "https://api.runpod.io"
DEFAULT_PROXY_URL_TEMPLATE = "https://{pod_id}-{port}.proxy.runpod.net"
# RunPod's compute-optimised CPU flavour; the weight pre-fill is bound by the network, not the CPU.
DEFAULT_CPU_FLAVOR = "cpu3c"
DEFAULT_VCPUS = 2
STATUSES = ("PROVISIONING", "STARTING", "RUNNING", "EXITED", "ERROR", "TERMINATED")
VOLUME_TYPES = ("STANDARD", "HIGH_PERFORMANCE")
CLUSTER_TYPES = ("APPLICATION", "TRAINING", "SLURM", "RAY")
# ClusterCompute.podCount: 2 to 250 (RunPod REST v2 OpenAPI).
MIN_PODS, MAX_PODS = 2, 250


@dataclass(frozen=True)
class RunPodSettings(Generic[Wired]):
    """Where RunPod is and the key to it; picklable, holds no clients.

    Built in one of two ways: `from_env` (the lifecycle, the canary, the program, whose key may be a
    Pulumi secret) and `from_props` (a dynamic provider, from what `to_props` wrote into its inputs).
    """

    api_key: Wired = field(repr=False)
    api_base_url: str = DEFAULT_API_BASE_URL
    """REST v2 lives under `{api_base_url}/v2` (the emulator serves the same paths)."""
    proxy_url_template: str = DEFAULT_PROXY_URL_TEMPLATE

    def __post_init__(self) -> None:
        if not self.api_key:
            raise AuthError(f"no RunPod API key: {KEY_HINT}")

    def __repr__(self) -> str:
        return (
            f"RunPodSettings(api_key='***', api_base_url={self.api_base_url!r}, "
            f"proxy_url_template={self.proxy_url_template!r})"
        )

    @overload
    @classmethod
    def from_env(
        cls, api_key: str | None = None, env: Mapping[str, str] | None = None
    ) -> RunPodSettings[str]: ...

    @overload
    @classmethod
    def from_env(
        cls, api_key: pulumi.Output[str], env: Mapping[str, str] | None = None
    ) -> RunPodSettings[pulumi.Input[str]]: ...

    @classmethod
    def from_env(
        cls, api_key: str | pulumi.Output[str] | None = None, env: Mapping[str, str] | None = None
    ) -> RunPodSettings[str] | RunPodSettings[pulumi.Input[str]]:
        """Settings from $RUNPOD_* (the emulator sets these); `api_key` wins over $RUNPOD_API_KEY."""
        source = os.environ if env is None else env
        base = source.get("RUNPOD_API_BASE_URL") or DEFAULT_API_BASE_URL
        proxy = source.get("RUNPOD_PROXY_URL_TEMPLATE") or DEFAULT_PROXY_URL_TEMPLATE
        if api_key is None or isinstance(api_key, str):
            return RunPodSettings(api_key or source.get("RUNPOD_API_KEY", ""), base, proxy)
        # A Pulumi secret: the providers get its value, this process never sees it.
        return RunPodSettings(api_key, base, proxy)

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> RunPodSettings[str]:
        """Settings from a dynamic resource's inputs (see `to_props`)."""
        return RunPodSettings(
            api_key=str(props["api_key"]),
            api_base_url=str(props["api_base_url"]),
            proxy_url_template=str(props["proxy_url_template"]),
        )

    def to_props(self) -> dict[str, Wired | str]:
        return {
            "api_key": self.api_key,
            "api_base_url": self.api_base_url,
            "proxy_url_template": self.proxy_url_template,
        }

    def endpoint_url(self, pod_id: str, port: int = 8000) -> str:
        return self.proxy_url_template.format(pod_id=pod_id, port=port)


def _v2_object(item: Any, what: str) -> dict[str, Any]:
    """A v2 JSON object that has an id; anything else is a transient answer."""
    if not isinstance(item, dict) or "id" not in item:
        raise TransientError(f"RunPod answered a {what} request with {type(item).__name__}, not a {what}")
    return item


def _stock(item: Mapping[str, Any]) -> dict[str, str]:
    return {str(dc["id"]): str(dc.get("availability") or "NONE") for dc in item.get("dataCenters") or []}


@dataclass(frozen=True)
class GpuOffer:
    """One GPU type from `GET /v2/catalog/gpus`, with stock when it was asked for."""

    id: str
    name: str
    memory_gb: int
    secure_price: float | None
    community_price: float | None
    max_count: int
    """The most GPUs of this type one secure-cloud pod can have."""
    availability: str | None = None
    """NONE, LOW, MEDIUM or HIGH overall; None when stock was not asked for."""
    stock: Mapping[str, str] = field(default_factory=dict)
    """Data center id -> availability level, for the data centers that offer this GPU."""
    cuda_versions: tuple[str, ...] = ()
    """The CUDA versions its hosts report (`cudaVersions`, with stock asked for); empty: not listed."""

    def in_stock(self, data_center_id: str) -> bool:
        return self.stock.get(data_center_id, "NONE") != "NONE"

    @classmethod
    def from_v2(cls, item: Mapping[str, Any]) -> GpuOffer:
        price = item.get("price") or {}
        max_count = item.get("maxCount") or {}

        def number(value: Any) -> float | None:
            return float(value) if isinstance(value, int | float) else None

        return cls(
            id=str(item["id"]),
            name=str(item.get("name") or item["id"]),
            memory_gb=int(item.get("memory") or 0),
            secure_price=number(price.get("secure")),
            community_price=number(price.get("community")),
            max_count=int(max_count.get("secure") or 0),
            availability=item.get("availability"),
            stock=_stock(item),
            cuda_versions=tuple(
                str(c["version"]) for c in item.get("cudaVersions") or [] if c.get("version")
            ),
        )


@dataclass(frozen=True)
class CpuFlavor:
    """One CPU flavour from `GET /v2/catalog/cpus`, with the data centers that have it in stock."""

    id: str
    min_vcpus: int
    usd_per_vcpu_hour: float
    stock: Mapping[str, str] = field(default_factory=dict)

    @property
    def smallest_vcpus(self) -> int:
        """The fewest vCPUs a pod may ask for: at least 2 and a power of two (CreateCpuConfig)."""
        count = 2
        while count < self.min_vcpus:
            count *= 2
        return count

    @property
    def cheapest_usd_per_hour(self) -> float:
        return self.usd_per_vcpu_hour * self.smallest_vcpus

    @classmethod
    def from_v2(cls, item: Mapping[str, Any]) -> CpuFlavor:
        return cls(
            id=str(item["id"]),
            min_vcpus=int((item.get("vcpu") or {}).get("min") or 2),
            usd_per_vcpu_hour=float((item.get("price") or {}).get("securePerVcpu") or 0.0),
            stock=_stock(item),
        )


@dataclass(frozen=True)
class DataCenter:
    id: str
    name: str
    volume_types: tuple[str, ...]
    """Network volume tiers offered here (STANDARD, HIGH_PERFORMANCE); empty: none."""

    @classmethod
    def from_v2(cls, item: Mapping[str, Any]) -> DataCenter:
        return cls(
            id=str(item["id"]),
            name=str(item.get("name") or item["id"]),
            volume_types=tuple(str(t) for t in item.get("networkVolumeTypes") or []),
        )


@dataclass(frozen=True)
class Pod:
    id: str
    name: str
    status: str
    """PROVISIONING, STARTING, RUNNING, EXITED, ERROR or TERMINATED (v2's PodStatus)."""
    actions: tuple[str, ...]
    """The transitions v2 allows now (start, stop, restart, terminate)."""
    gpu_type_id: str | None
    """None for CPU pods."""
    gpu_count: int
    cost_per_hr: float | None
    image: str
    data_center_id: str | None
    network_volume_id: str | None
    ssh: tuple[str, int] | None
    """(host, port) of `ssh.direct`, once the container runs with 22/tcp published."""
    http_ports: dict[int, str]
    """Declared `N/http` port -> its proxy URL."""
    env_keys: tuple[str, ...]
    """Names only: values can be secrets."""
    uptime_seconds: int | None = None
    """Seconds since the container (re)started; None while it does not run. Falling back means a restart."""
    cuda_version: str | None = None
    """The CUDA version the host reports (`cudaVersion`); None for CPU pods or a host that has not said."""

    @property
    def billed(self) -> bool:
        """Whether RunPod bills compute for the pod now (EXITED and TERMINATED cost nothing but disk)."""
        return self.status in ("PROVISIONING", "STARTING", "RUNNING", "ERROR")

    @classmethod
    def from_v2(cls, answer: Any, settings: RunPodSettings[str]) -> Pod:
        item = _v2_object(answer, "pod")
        gpu = item.get("gpu") or {}
        runtime = item.get("runtime") or {}
        direct = (item.get("ssh") or {}).get("direct") or {}
        ssh = (
            (str(direct["host"]), int(direct["port"])) if direct.get("host") and direct.get("port") else None
        )
        network = ((item.get("mounts") or {}).get("network") or [{}])[0]
        cost = item.get("cost")
        uptime = runtime.get("uptime") if runtime else None
        pod_id = str(item["id"])
        return cls(
            id=pod_id,
            name=str(item.get("name") or ""),
            status=str(item.get("status") or ""),
            actions=tuple(str(a) for a in item.get("actions") or []),
            gpu_type_id=gpu.get("id"),
            gpu_count=int(gpu.get("count") or 0),
            cost_per_hr=float(cost) if cost is not None else None,
            image=str(item.get("image") or ""),
            data_center_id=item.get("dataCenterId"),
            network_volume_id=network.get("volumeId"),
            ssh=ssh,
            http_ports={
                int(number): settings.endpoint_url(pod_id, int(number))
                for number, _, kind in (str(p).partition("/") for p in item.get("ports") or [])
                if kind == "http" and number.isdigit()
            },
            env_keys=tuple(sorted(str(k) for k in (item.get("env") or {}))),
            uptime_seconds=int(uptime) if isinstance(uptime, int | float) else None,
            cuda_version=str(item["cudaVersion"]) if item.get("cudaVersion") else None,
        )


@dataclass(frozen=True)
class Volume:
    id: str
    name: str
    size_gb: int
    data_center_id: str
    type: str = "STANDARD"
    """The tier, fixed at creation: STANDARD or HIGH_PERFORMANCE."""

    @classmethod
    def from_v2(cls, answer: Any) -> Volume:
        item = _v2_object(answer, "network volume")
        return cls(
            id=str(item["id"]),
            name=str(item.get("name") or ""),
            size_gb=int(item.get("size") or 0),
            data_center_id=str(item.get("dataCenter") or ""),
            type=str(item.get("type") or "STANDARD"),
        )


@dataclass(frozen=True)
class LogLine:
    ts: str
    source: str
    line: str


def _mounts(volume_id: str | None, path: str) -> dict[str, Any]:
    return {"mounts": {"network": [{"volumeId": volume_id, "path": path}]}} if volume_id else {}


@dataclass(frozen=True)
class PodRequest:
    """Everything a v2 pod create needs. `gpu_type_id=None` makes a CPU pod."""

    name: str
    image: str
    gpu_type_id: str | None = None
    gpu_count: int = 1
    cloud: str = "SECURE"
    data_center_id: str | None = None
    network_volume_id: str | None = None
    volume_mount_path: str = "/workspace"
    container_disk_gb: int = 50
    args: str = field(default="", repr=False)
    """v2's start command: plain arguments for the image's ENTRYPOINT, or RunPod's JSON form
    `{"entrypoint": [...], "cmd": [...]}` that replaces it (see start_script.json_start_command)."""
    ports: tuple[str, ...] = ("8000/http", "22/tcp")
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    cpu_flavor: str = DEFAULT_CPU_FLAVOR
    vcpu_count: int = DEFAULT_VCPUS
    allowed_cuda_versions: tuple[str, ...] = ()
    """Host CUDA versions the GPU pod may land on (`gpu.allowedCudaVersions`); empty: any host."""

    def __post_init__(self) -> None:
        problems = []
        if not self.name:
            problems.append("name is empty")
        if not self.image:
            problems.append("image is empty")
        if self.cloud not in ("SECURE", "COMMUNITY"):
            problems.append(f"cloud {self.cloud!r} is not SECURE or COMMUNITY")
        if self.gpu_type_id is not None and self.gpu_count < 1:
            problems.append(f"gpu_count {self.gpu_count} must be at least 1 for a GPU pod")
        if self.network_volume_id and self.cloud == "COMMUNITY":
            problems.append("network volumes attach only to SECURE cloud pods")
        if self.gpu_type_id is None and (self.vcpu_count < 2 or self.vcpu_count & (self.vcpu_count - 1)):
            problems.append(f"vcpu_count {self.vcpu_count} must be a power of two, at least 2")
        problems += port_problems(self.ports)
        if problems:
            raise ConfigError(f"invalid pod request {self.name!r}: " + "; ".join(problems))

    def __repr__(self) -> str:
        return (
            f"PodRequest(name={self.name!r}, image={self.image!r}, gpu_type_id={self.gpu_type_id!r}, "
            f"gpu_count={self.gpu_count}, data_center_id={self.data_center_id!r}, "
            f"network_volume_id={self.network_volume_id!r}, env_keys={sorted(self.env)!r})"
        )

    def body(self) -> dict[str, Any]:
        """The `POST /v2/pods` body (CreatePodRequest): JSON, so nothing is escaped by hand."""
        body: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "cloud": self.cloud,
            "disk": self.container_disk_gb,
            "ports": list(self.ports),
            "env": dict(self.env),
        }
        if self.args:
            body["args"] = self.args
        if self.gpu_type_id is not None:
            body["gpu"] = {"id": self.gpu_type_id, "count": self.gpu_count}
            if self.allowed_cuda_versions:
                # Matched exactly against what the host reports (CreateGpuConfig): only a driver that runs the image.
                body["gpu"]["allowedCudaVersions"] = list(self.allowed_cuda_versions)
        else:
            body["cpu"] = {"id": self.cpu_flavor, "vcpuCount": self.vcpu_count}
        if self.data_center_id:
            body["dataCenterIds"] = [self.data_center_id]
        return body | _mounts(self.network_volume_id, self.volume_mount_path)


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
        return body | _mounts(self.network_volume_id, self.volume_mount_path)


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
    def from_v2(cls, answer: Any) -> Cluster:
        item = _v2_object(answer, "cluster")
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
    def from_v2(cls, item: Any, settings: RunPodSettings[str]) -> ClusterMember:
        membership = (item.get("cluster") if isinstance(item, dict) else None) or {}
        rank = membership.get("rank")
        return cls(
            pod=Pod.from_v2(item, settings),
            rank=int(rank) if isinstance(rank, int) else None,
            ip=membership.get("ip"),
            role=membership.get("role"),
        )
