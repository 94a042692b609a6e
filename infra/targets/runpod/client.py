"""The one place that talks to RunPod: REST v2 (`https://api.runpod.io/v2`), the API RunPod keeps.

REST v1 was retired on 2026-11-15 and GraphQL retires in early 2027 (shared/reference/runpod.md), so
nothing here calls either: pods, network volumes, the GPU catalog with stock, and pod logs (SSE) are
all v2 routes. Every call goes through `RunPodClient._call`, which maps RFC 9457 problem answers and
transport errors to `infra.errors` and retries only what is retryable (429 after its `Retry-After`,
5xx and dropped connections with bounded, jittered backoff). Creates are idempotent: before a retry
the resource is looked up by its unique name and adopted. The API key travels only in the
`Authorization: Bearer` header and never appears in a message.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import json
import logging
import os
import random
import ssl
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import certifi
import httpx

from infra.errors import (
    AuthError,
    BalanceError,
    CapacityError,
    ConfigError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    RefusedError,
    TransientError,
)
from infra.targets.runpod.cluster_types import Cluster, ClusterMember, ClusterRequest, parse_cluster
from infra.targets.runpod.ports import port_problems

log = logging.getLogger(__name__)
T = TypeVar("T")

API_VERSION = "v2"
KEY_HINT = (
    "set it with `pulumi config set --secret deepseek-v4-infra:runpodApiKey <key>` or export RUNPOD_API_KEY"
)
# RunPod's compute-optimised CPU flavour; the weight pre-fill is bound by the network, not the CPU.
DEFAULT_CPU_FLAVOR = "cpu3c"
DEFAULT_VCPUS = 2
REST_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# A Retry-After longer than this is capped: the caller's own deadline decides beyond it.
MAX_RETRY_AFTER = 60.0
STATUSES = ("PROVISIONING", "STARTING", "RUNNING", "EXITED", "ERROR", "TERMINATED")
VOLUME_TYPES = ("STANDARD", "HIGH_PERFORMANCE")
# v2 answers 400 both for a broken rule and for no capacity, told apart only by `detail` (createPod docs).
_CAPACITY_MESSAGES = (
    "no longer any instances available",
    "no instances currently available",
    "does not have the resources to deploy",
    "not enough free gpus",
    "no capacity",
    "could not be placed",
    "insufficient capacity",
)


@dataclass(frozen=True)
class RunPodSettings:
    """Where RunPod is and the key to it; picklable, holds no clients."""

    api_key: str = field(repr=False)
    api_base_url: str = "https://api.runpod.io"
    """REST v2 lives under `{api_base_url}/v2` (the emulator serves the same paths)."""
    proxy_url_template: str = "https://{pod_id}-{port}.proxy.runpod.net"

    def __post_init__(self) -> None:
        if not self.api_key:
            raise AuthError(f"no RunPod API key: {KEY_HINT}")

    def __repr__(self) -> str:
        return (
            f"RunPodSettings(api_key='***', api_base_url={self.api_base_url!r}, "
            f"proxy_url_template={self.proxy_url_template!r})"
        )

    @classmethod
    def from_env(cls, api_key: str | None = None, env: Mapping[str, str] | None = None) -> RunPodSettings:
        """Settings from $RUNPOD_* (the emulator sets these); `api_key` wins over $RUNPOD_API_KEY."""
        source = os.environ if env is None else env
        return cls(
            api_key=api_key or source.get("RUNPOD_API_KEY", ""),
            api_base_url=source.get("RUNPOD_API_BASE_URL") or cls.api_base_url,
            proxy_url_template=source.get("RUNPOD_PROXY_URL_TEMPLATE") or cls.proxy_url_template,
        )

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> RunPodSettings:
        """Settings from a dynamic resource's inputs (see `to_props`)."""
        return cls(
            api_key=str(props["api_key"]),
            api_base_url=str(props["api_base_url"]),
            proxy_url_template=str(props["proxy_url_template"]),
        )

    def to_props(self) -> dict[str, str]:
        return {
            "api_key": self.api_key,
            "api_base_url": self.api_base_url,
            "proxy_url_template": self.proxy_url_template,
        }


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter, for retryable errors only."""

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 20.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ConfigError(f"invalid retry policy {self}: attempts >= 1 and 0 <= base_delay <= max_delay")

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry` (0-based): half fixed, half random."""
        ceiling = min(self.max_delay, self.base_delay * 2**retry)
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


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

    def in_stock(self, data_center_id: str) -> bool:
        return self.stock.get(data_center_id, "NONE") != "NONE"


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


@dataclass(frozen=True)
class DataCenter:
    id: str
    name: str
    volume_types: tuple[str, ...]
    """Network volume tiers offered here (STANDARD, HIGH_PERFORMANCE); empty: none."""


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

    @property
    def billed(self) -> bool:
        """Whether RunPod bills compute for the pod now (EXITED and TERMINATED cost nothing but disk)."""
        return self.status in ("PROVISIONING", "STARTING", "RUNNING", "ERROR")


@dataclass(frozen=True)
class Volume:
    id: str
    name: str
    size_gb: int
    data_center_id: str
    type: str = "STANDARD"
    """The tier, fixed at creation: STANDARD or HIGH_PERFORMANCE."""


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
        else:
            body["cpu"] = {"id": self.cpu_flavor, "vcpuCount": self.vcpu_count}
        if self.data_center_id:
            body["dataCenterIds"] = [self.data_center_id]
        if self.network_volume_id:
            body["mounts"] = {
                "network": [{"volumeId": self.network_volume_id, "path": self.volume_mount_path}]
            }
        return body


class _Problem(Exception):
    """A v2 answer that is not 2xx (mapped in `_map`)."""

    def __init__(self, status: int, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


class RunPodClient:
    """Typed RunPod operations over REST v2; build one per use (it holds settings, not connections)."""

    def __init__(
        self,
        settings: RunPodSettings,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.retry = retry
        self._sleep = sleep
        self._rng = random.Random()
        self._transport = transport

    def __repr__(self) -> str:
        return f"RunPodClient({self.settings!r})"

    # ---- catalog -------------------------------------------------------------------------------

    def gpu_catalog(self, count: int = 1, product: str = "POD") -> list[GpuOffer]:
        """Every GPU type with secure-cloud stock per data center for `count` GPUs, for pods or clusters."""
        params = {"include": "AVAILABILITY", "product": product, "count": str(count), "cloud": "SECURE"}
        answer = self._rest("read the GPU catalog", "GET", "/catalog/gpus", params=params)
        return [_gpu_offer(item) for item in answer.get("gpus") or []]

    def gpu_types(self) -> list[GpuOffer]:
        """Every GPU type RunPod lists (no stock)."""
        answer = self._rest("list GPU types", "GET", "/catalog/gpus")
        return [_gpu_offer(item) for item in answer.get("gpus") or []]

    def gpu_type(self, gpu_type_id: str) -> GpuOffer:
        """One GPU type with its prices; an unknown id raises NotFoundError that lists the valid ones."""
        try:
            item = self._rest(
                f"get GPU type {gpu_type_id!r}", "GET", f"/catalog/gpus/{_segment(gpu_type_id)}"
            )
        except NotFoundError:
            raise self._unknown_gpu(gpu_type_id) from None
        return _gpu_offer(item)

    def cpu_flavors(self) -> list[CpuFlavor]:
        """CPU flavours with their price per vCPU and pod stock per data center."""
        params = {"include": "AVAILABILITY", "product": "POD"}
        answer = self._rest("read the CPU catalog", "GET", "/catalog/cpus", params=params)
        return [
            CpuFlavor(
                id=str(item["id"]),
                min_vcpus=int((item.get("vcpu") or {}).get("min") or 2),
                usd_per_vcpu_hour=float((item.get("price") or {}).get("securePerVcpu") or 0.0),
                stock={
                    str(dc["id"]): str(dc.get("availability") or "NONE")
                    for dc in item.get("dataCenters") or []
                },
            )
            for item in answer.get("cpus") or []
        ]

    def get_raw(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """A v2 GET answer as RunPod sent it, for checking it against the published schema (the canary)."""
        return self._rest(f"GET {path}", "GET", path, params=params)

    def data_centers(self) -> list[DataCenter]:
        answer = self._rest("list data centers", "GET", "/catalog/datacenters")
        return [
            DataCenter(
                id=str(item["id"]),
                name=str(item.get("name") or item["id"]),
                volume_types=tuple(str(t) for t in item.get("networkVolumeTypes") or []),
            )
            for item in answer.get("dataCenters") or []
        ]

    # ---- pods ----------------------------------------------------------------------------------

    def create_pod(self, request: PodRequest) -> Pod:
        """Rent a pod; a retried create first adopts a pod that already carries the request's name."""
        where = request.data_center_id or "any data center"
        what = f"{request.gpu_count}x {request.gpu_type_id}" if request.gpu_type_id else "CPU"
        op = f"create pod {request.name!r} ({what} in {where})"

        def existing() -> Pod | None:
            return next(iter(self.pods_named(request.name)), None)

        try:
            return self._call(
                op, lambda: self._pod(self._rest_once("POST", "/pods", request.body())), recover=existing
            )
        except (NotFoundError, RefusedError) as err:
            if request.gpu_type_id and "gpu type" in str(err).lower():
                raise self._unknown_gpu(request.gpu_type_id) from None
            raise

    def create_gpu_pod(self, request: PodRequest) -> Pod:
        if request.gpu_type_id is None:
            raise ConfigError(f"pod {request.name!r}: a GPU pod needs gpu_type_id")
        return self.create_pod(request)

    def create_cpu_pod(self, request: PodRequest) -> Pod:
        if request.gpu_type_id is not None:
            raise ConfigError(f"pod {request.name!r}: a CPU pod takes no gpu_type_id")
        return self.create_pod(request)

    def get_pod(self, pod_id: str) -> Pod | None:
        """The pod, or None when it is gone (terminated or unknown)."""
        try:
            item = self._rest(f"get pod {pod_id}", "GET", f"/pods/{_segment(pod_id)}")
        except NotFoundError:
            return None
        pod = self._pod(item)
        return None if pod.status == "TERMINATED" else pod

    def list_pods(self, prefix: str | None = None) -> list[Pod]:
        """Live pods of the account, those whose name starts with `prefix` when given."""
        answer = self._rest("list pods", "GET", "/pods")
        pods = [self._pod(item) for item in answer.get("pods") or []]
        return [
            pod
            for pod in pods
            if pod.status != "TERMINATED" and (prefix is None or pod.name.startswith(prefix))
        ]

    def pods_named(self, name: str) -> list[Pod]:
        """Live pods with exactly this name (RunPod does not make names unique; our names are)."""
        return [pod for pod in self.list_pods(name) if pod.name == name]

    def terminate_pod(self, pod_id: str) -> None:
        """Terminate (`DELETE /v2/pods/{id}`); a pod that is already gone counts as terminated."""
        with contextlib.suppress(NotFoundError):
            self._rest(f"terminate pod {pod_id}", "DELETE", f"/pods/{_segment(pod_id)}")

    def stop_pod(self, pod_id: str) -> Pod:
        """Stop the container (compute billing stops; the pod's disk stays until terminated)."""
        return self._action(pod_id, "stop")

    def restart_pod(self, pod_id: str) -> Pod:
        return self._action(pod_id, "restart")

    def _action(self, pod_id: str, action: str) -> Pod:
        answer = self._rest(
            f"{action} pod {pod_id}", "POST", f"/pods/{_segment(pod_id)}/action", {"action": action}
        )
        return self._pod(answer)

    def endpoint_url(self, pod_id: str, port: int = 8000) -> str:
        return self.settings.proxy_url_template.format(pod_id=pod_id, port=port)

    def pod_logs(
        self,
        pod_id: str,
        *,
        tail: int = 200,
        since: str | None = None,
        idle_seconds: float = 1.5,
        max_seconds: float = 15.0,
    ) -> list[LogLine]:
        """The container's recent log lines (`GET /v2/pods/{id}/logs`, Server-Sent Events).

        The stream stays open for new lines; this reads until it has been quiet for `idle_seconds`
        (or `max_seconds` in all) and closes it, so callers poll instead of holding a connection.
        """
        params: dict[str, str] = {"tail": str(tail)}
        if since:
            params["since"] = since
        return self._call(
            f"read the logs of pod {pod_id}",
            lambda: list(self._sse(f"/pods/{_segment(pod_id)}/logs", params, idle_seconds, max_seconds)),
        )

    # ---- clusters (Instant Clusters) ----------------------------------------------------------

    def create_cluster(self, request: ClusterRequest) -> Cluster:
        """Rent a cluster; a retried create first adopts the cluster that already carries the name."""
        where = request.data_center_id or "any data center"
        op = (
            f"create cluster {request.name!r} ({request.pod_count} pods of {request.gpu_count_per_pod}x "
            f"{request.gpu_type_id} in {where})"
        )

        def existing() -> Cluster | None:
            return next(iter(self.clusters_named(request.name)), None)

        try:
            return self._call(
                op,
                lambda: parse_cluster(self._rest_once("POST", "/clusters", request.body())),
                recover=existing,
            )
        except (NotFoundError, RefusedError) as err:
            if "gpu type" in str(err).lower():
                raise self._unknown_gpu(request.gpu_type_id) from None
            raise

    def get_cluster(self, cluster_id: str) -> Cluster | None:
        """The cluster, or None when it is gone."""
        try:
            item = self._rest(f"get cluster {cluster_id}", "GET", f"/clusters/{_segment(cluster_id)}")
        except NotFoundError:
            self._confirm_cluster_gone(cluster_id)
            return None
        return parse_cluster(item)

    def list_clusters(self, prefix: str | None = None) -> list[Cluster]:
        """The account's clusters, those whose name starts with `prefix` when given."""
        answer = self._rest("list clusters", "GET", "/clusters")
        clusters = [parse_cluster(item) for item in answer.get("clusters") or []]
        return [c for c in clusters if prefix is None or c.name.startswith(prefix)]

    def clusters_named(self, name: str) -> list[Cluster]:
        """Clusters with exactly this name (RunPod does not make names unique; our names are)."""
        return [c for c in self.list_clusters(name) if c.name == name]

    def cluster_pods(self, cluster_id: str) -> list[ClusterMember]:
        """The member pods, by rank (`GET /v2/clusters/{id}/pods`); a cluster that is gone has none."""
        try:
            answer = self._rest(
                f"list the pods of cluster {cluster_id}", "GET", f"/clusters/{_segment(cluster_id)}/pods"
            )
        except NotFoundError:
            return []
        members = []
        for item in answer.get("pods") or []:
            membership = (item.get("cluster") if isinstance(item, dict) else None) or {}
            rank = membership.get("rank")
            members.append(
                ClusterMember(
                    pod=self._pod(item),
                    rank=int(rank) if isinstance(rank, int) else None,
                    ip=membership.get("ip"),
                    role=membership.get("role"),
                )
            )
        # Unranked members (still provisioning) sort last.
        return sorted(members, key=lambda m: (m.rank is None, m.rank or 0, m.pod.id))

    def delete_cluster(self, cluster_id: str) -> None:
        """Delete the cluster and every member (`DELETE /v2/clusters/{id}`); already gone counts as deleted."""
        try:
            self._rest(f"delete cluster {cluster_id}", "DELETE", f"/clusters/{_segment(cluster_id)}")
        except NotFoundError:
            self._confirm_cluster_gone(cluster_id)

    def _confirm_cluster_gone(self, cluster_id: str) -> None:
        """A 404 means gone only if the cluster list answers without it (not a wrong base URL)."""
        if any(cluster.id == cluster_id for cluster in self.list_clusters()):
            raise ProviderError(f"RunPod answered 404 for cluster {cluster_id}, yet lists it")

    # ---- network volumes -----------------------------------------------------------------------

    def list_volumes(self) -> list[Volume]:
        answer = self._rest("list network volumes", "GET", "/network-volumes")
        return [_volume(item) for item in answer.get("networkVolumes") or []]

    def create_volume(self, name: str, size_gb: int, data_center_id: str, type: str | None = None) -> Volume:
        """Create a network volume; a retried create adopts the volume that already has this name."""
        body: dict[str, Any] = {"name": name, "size": size_gb, "dataCenter": data_center_id}
        if type is not None:
            if type not in VOLUME_TYPES:
                raise ConfigError(f"volume type {type!r} is not one of {', '.join(VOLUME_TYPES)}")
            body["type"] = type

        def existing() -> Volume | None:
            return next((v for v in self.list_volumes() if v.name == name), None)

        return self._call(
            f"create network volume {name!r} ({size_gb} GB {type or 'default tier'} in {data_center_id})",
            lambda: _volume(self._rest_once("POST", "/network-volumes", body)),
            recover=existing,
        )

    def get_volume(self, volume_id: str) -> Volume | None:
        """The volume, or None when it is gone."""
        try:
            return _volume(
                self._rest(
                    f"get network volume {volume_id}", "GET", f"/network-volumes/{_segment(volume_id)}"
                )
            )
        except NotFoundError:
            self._confirm_volume_gone(volume_id)
            return None

    def resize_volume(self, volume_id: str, size_gb: int) -> Volume:
        """Grow a volume (RunPod volumes only grow)."""
        answer = self._rest(
            f"resize network volume {volume_id} to {size_gb} GB",
            "PATCH",
            f"/network-volumes/{_segment(volume_id)}",
            {"size": size_gb},
        )
        return _volume(answer)

    def delete_volume(self, volume_id: str) -> None:
        """Delete; a volume that is already gone counts as deleted."""
        try:
            self._rest(
                f"delete network volume {volume_id}", "DELETE", f"/network-volumes/{_segment(volume_id)}"
            )
        except NotFoundError:
            self._confirm_volume_gone(volume_id)

    def _confirm_volume_gone(self, volume_id: str) -> None:
        """A 404 means gone only if the volume list answers without it (not a wrong base URL)."""
        if any(volume.id == volume_id for volume in self.list_volumes()):
            raise ProviderError(f"RunPod answered 404 for network volume {volume_id}, yet lists it")

    # ---- the edge: every call to RunPod goes through _call ------------------------------------

    def _call(self, op: str, fn: Callable[[], T], *, recover: Callable[[], T | None] | None = None) -> T:
        """Run `fn`, mapping errors; retry retryable ones, asking `recover` first for what was made."""
        for attempt in range(1, self.retry.attempts + 1):
            retry_after: float | None = None
            try:
                return fn()
            except Exception as exc:  # mapped right here, at the edge
                error = self._map(op, exc)
                if isinstance(exc, _Problem):
                    retry_after = exc.retry_after
            if not error.retryable or attempt == self.retry.attempts:
                if error.retryable:
                    error = type(error)(
                        f"{error} (gave up after {attempt} attempts)", resource=error.resource
                    )
                raise error from None
            delay = self.retry.delay(attempt - 1, self._rng)
            if retry_after is not None:
                # RunPod says how long the window lasts; waiting less would only earn another 429.
                delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
            log.info(
                "%s; retrying in %.1f s (attempt %d of %d)", error, delay, attempt + 1, self.retry.attempts
            )
            self._sleep(delay)
            if recover is not None:
                found = recover()
                if found is not None:
                    log.info("RunPod %s: adopted what the failed attempt had created", op)
                    return found
        raise AssertionError("unreachable: RetryPolicy checks attempts >= 1")

    def _map(self, op: str, exc: Exception) -> ProviderError:
        """One exception from httpx or a problem answer -> the project's error tree."""
        if isinstance(exc, ProviderError):
            return exc
        prefix = f"RunPod {op}"
        if isinstance(exc, _Problem):
            return _map_status(prefix, exc.status, self._redact(exc.detail), op)
        detail = self._redact(str(exc)) or type(exc).__name__
        if isinstance(exc, json.JSONDecodeError):
            return TransientError(
                f"{prefix}: RunPod answered with a page that is not JSON (an outage?)", resource=op
            )
        if isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError):
            return TransientError(f"{prefix}: {type(exc).__name__}: {detail}", resource=op)
        return ProviderError(f"{prefix}: {type(exc).__name__}: {detail}", resource=op)

    def _redact(self, text: str) -> str:
        return text.replace(self.settings.api_key, "***")

    # ---- HTTP plumbing -------------------------------------------------------------------------

    def _http(self, timeout: httpx.Timeout = REST_TIMEOUT) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.settings.api_key}", "Accept": "application/json"}
        return httpx.Client(
            base_url=self.settings.api_base_url.rstrip("/") + "/" + API_VERSION,
            headers=headers,
            timeout=timeout,
            transport=self._transport,
            verify=_tls_context(),
        )

    def _rest_once(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        with self._http() as http:
            response = http.request(method, path, json=body, params=params)
        if response.status_code >= 400:
            raise _problem(response)
        if response.status_code == 204 or not response.content:
            return {}
        return response.json()

    def _rest(
        self,
        op: str,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        return self._call(op, lambda: self._rest_once(method, path, body, params))

    def _sse(self, path: str, params: Mapping[str, str], idle: float, limit: float) -> Iterator[LogLine]:
        """Events of one SSE stream until it is quiet for `idle` seconds or `limit` seconds have passed."""
        started = time.monotonic()
        timeout = httpx.Timeout(connect=10.0, read=idle, write=10.0, pool=10.0)
        with (
            self._http(timeout) as http,
            http.stream("GET", path, params=params, headers={"Accept": "text/event-stream"}) as response,
        ):
            if response.status_code >= 400:
                response.read()
                raise _problem(response)
            data: list[str] = []
            try:
                for raw in response.iter_lines():
                    if raw.startswith("data:"):
                        data.append(raw[5:].lstrip())
                    elif raw == "" and data:
                        event = _log_event("\n".join(data))
                        data = []
                        if event is not None:
                            yield event
                    if time.monotonic() - started > limit:
                        return
            except httpx.ReadTimeout:
                return  # quiet for `idle` seconds: everything there was has been read

    # ---- parsing -------------------------------------------------------------------------------

    def _pod(self, item: Any) -> Pod:
        if not isinstance(item, dict) or "id" not in item:
            raise TransientError(f"RunPod answered a pod request with {type(item).__name__}, not a pod")
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
        return Pod(
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
                int(number): self.endpoint_url(pod_id, int(number))
                for number, _, kind in (str(p).partition("/") for p in item.get("ports") or [])
                if kind == "http" and number.isdigit()
            },
            env_keys=tuple(sorted(str(k) for k in (item.get("env") or {}))),
            uptime_seconds=int(uptime) if isinstance(uptime, int | float) else None,
        )

    def _unknown_gpu(self, gpu_type_id: str) -> NotFoundError:
        try:
            known = ", ".join(sorted(g.id for g in self.gpu_types()))
        except ProviderError as err:
            known = f"(could not list them: {err})"
        return NotFoundError(
            f"RunPod has no GPU type {gpu_type_id!r}; valid ids: {known}", resource="gpu type"
        )


# ---- helpers ---------------------------------------------------------------------------------


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one per call costs ~70 ms of CPU (certifi's bundle)."""
    return ssl.create_default_context(cafile=certifi.where())


def _map_status(prefix: str, status: int, detail: str, op: str) -> ProviderError:
    """An RFC 9457 problem -> the error a user can act on (statuses as createPod documents them)."""
    text = f"{prefix}: HTTP {status}: {detail}"
    lowered = detail.lower()
    if status == 401:
        return AuthError(f"{prefix}: RunPod rejected the API key (401); {KEY_HINT}", resource=op)
    if status == 402 or "balance is too low" in lowered:
        return BalanceError(f"{text} (add funds in the RunPod console: Billing)", resource=op)
    if status == 403:
        return RefusedError(
            f"{prefix}: the account may not use this (403): {detail}", status=403, resource=op
        )
    if status == 404:
        return NotFoundError(text, resource=op)
    if status == 429:
        return RateLimitError(text, resource=op)
    if status >= 500:
        return TransientError(text, resource=op)
    if any(marker in lowered for marker in _CAPACITY_MESSAGES):
        return CapacityError(text, resource=op)
    # 400 (a rule broken), 409 (an action the pod's status does not allow), 422 (the body breaks the contract).
    return RefusedError(text, status=status, resource=op)


def _problem(response: httpx.Response) -> _Problem:
    """A non-2xx answer: its problem object's detail (and `errors`), and Retry-After for a 429."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = str(body.get("detail") or body.get("title") or body.get("error") or body)
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            detail += " (" + "; ".join(str(e) for e in errors[:5]) + ")"
    else:
        detail = response.reason_phrase or "no details"
    return _Problem(response.status_code, detail, _retry_after(response.headers.get("Retry-After")))


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (RFC 9110 allows delta-seconds or an HTTP date)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


def _log_event(data: str) -> LogLine | None:
    try:
        event = json.loads(data)
    except ValueError:
        return LogLine(ts="", source="container", line=data)
    if not isinstance(event, dict):
        return None
    return LogLine(
        ts=str(event.get("ts") or ""),
        source=str(event.get("source") or ""),
        line=str(event.get("line") or ""),
    )


def _segment(value: str) -> str:
    """An id as one URL path segment (ids never carry '/', but a typo must not reach another route)."""
    return urllib.parse.quote(value, safe="")


def _gpu_offer(item: dict[str, Any]) -> GpuOffer:
    price = item.get("price") or {}
    max_count = item.get("maxCount") or {}

    def number(value: Any) -> float | None:
        return float(value) if isinstance(value, int | float) else None

    return GpuOffer(
        id=str(item["id"]),
        name=str(item.get("name") or item["id"]),
        memory_gb=int(item.get("memory") or 0),
        secure_price=number(price.get("secure")),
        community_price=number(price.get("community")),
        max_count=int(max_count.get("secure") or 0),
        availability=item.get("availability"),
        stock={str(dc["id"]): str(dc.get("availability") or "NONE") for dc in item.get("dataCenters") or []},
    )


def _volume(item: Any) -> Volume:
    if not isinstance(item, dict) or "id" not in item:
        raise TransientError(
            f"RunPod answered a network volume request with {type(item).__name__}, not a volume"
        )
    return Volume(
        id=str(item["id"]),
        name=str(item.get("name") or ""),
        size_gb=int(item.get("size") or 0),
        data_center_id=str(item.get("dataCenter") or ""),
        type=str(item.get("type") or "STANDARD"),
    )
