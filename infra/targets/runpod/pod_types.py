"""A pod's values as REST v2 shows them: the create request (`PodRequest`, checked before any call, writing
its own `POST /v2/pods` body), the pod, its network volume and its log lines.

Answers are read by each value's `from_v2`, which treats anything that is not the object asked for as a
transient answer (an outage page, a half-written body).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.errors import ConfigError, TransientError
from infra.targets.runpod.ports import port_problems
from infra.targets.runpod.settings import RunPodSettings

# RunPod's compute-optimised CPU flavour; the weight pre-fill is bound by the network, not the CPU.
DEFAULT_CPU_FLAVOR = "cpu3c"
DEFAULT_VCPUS = 2
STATUSES = ("PROVISIONING", "STARTING", "RUNNING", "EXITED", "ERROR", "TERMINATED")
VOLUME_TYPES = ("STANDARD", "HIGH_PERFORMANCE")


def v2_object(item: object, what: str) -> dict[str, Any]:
    """A v2 JSON object that has an id; anything else is a transient answer."""
    if not isinstance(item, dict) or "id" not in item:
        raise TransientError(f"RunPod answered a {what} request with {type(item).__name__}, not a {what}")
    return item


def network_mount(volume_id: str | None, path: str) -> dict[str, object]:
    return {"mounts": {"network": [{"volumeId": volume_id, "path": path}]}} if volume_id else {}


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
    def from_v2(cls, answer: object, settings: RunPodSettings[str]) -> Pod:
        item = v2_object(answer, "pod")
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
    def from_v2(cls, answer: object) -> Volume:
        item = v2_object(answer, "network volume")
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
        return body | network_mount(self.network_volume_id, self.volume_mount_path)
