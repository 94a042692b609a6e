"""RunPod's verbs over REST v2 (`https://api.runpod.io/v2`), the API RunPod keeps.

REST v1 was retired on 2026-11-15 and GraphQL retires in early 2027 (shared/reference/runpod.md), so
nothing here calls either: pods, network volumes, the GPU catalog with stock, pod logs (SSE) and
Instant Clusters are all v2 routes. Each verb is one call through the edge (`transport.py`), which
maps errors and retries only what is retryable; the values are `types.py`'s. Creates are idempotent:
before a retry the resource is looked up by its unique name and adopted, and deleting what is
already gone counts as done.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from infra.errors import ConfigError, NotFoundError, ProviderError, RefusedError
from infra.targets.runpod.transport import DEFAULT_RETRY, RetryPolicy, RunPodTransport, segment
from infra.targets.runpod.types import (
    API_VERSION,
    VOLUME_TYPES,
    Cluster,
    ClusterMember,
    ClusterRequest,
    CpuFlavor,
    DataCenter,
    GpuOffer,
    LogLine,
    Pod,
    PodRequest,
    RunPodSettings,
    Volume,
)

# REST v2's billing routes per kind of resource, and the query parameter that filters to one of them.
BILLING_ROUTES = {
    "pod": ("/billing/pods", "podId"),
    "network volume": ("/billing/network-volumes", "networkVolumeId"),
    "cluster": ("/billing/clusters", "clusterId"),
}

# The values of the verbs' signatures, importable from here as from `types`.
__all__ = [
    "API_VERSION",
    "Cluster",
    "ClusterMember",
    "ClusterRequest",
    "CpuFlavor",
    "DataCenter",
    "GpuOffer",
    "LogLine",
    "Pod",
    "PodRequest",
    "RetryPolicy",
    "RunPodClient",
    "RunPodSettings",
    "Volume",
]


class RunPodClient:
    """Typed RunPod operations over REST v2; build one per use (it holds settings, not connections)."""

    def __init__(
        self,
        settings: RunPodSettings[str],
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.retry = retry
        self._edge = RunPodTransport(settings, retry, sleep, transport)

    def __repr__(self) -> str:
        return f"RunPodClient({self.settings!r})"

    # ---- catalog -------------------------------------------------------------------------------

    def gpu_catalog(self, count: int = 1, product: str = "POD") -> list[GpuOffer]:
        """Every GPU type with secure-cloud stock per data center for `count` GPUs, for pods or clusters."""
        params = {"include": "AVAILABILITY", "product": product, "count": str(count), "cloud": "SECURE"}
        answer = self._edge.rest("read the GPU catalog", "GET", "/catalog/gpus", params=params)
        return [GpuOffer.from_v2(item) for item in answer.get("gpus") or []]

    def gpu_types(self) -> list[GpuOffer]:
        """Every GPU type RunPod lists (no stock)."""
        answer = self._edge.rest("list GPU types", "GET", "/catalog/gpus")
        return [GpuOffer.from_v2(item) for item in answer.get("gpus") or []]

    def gpu_type(self, gpu_type_id: str) -> GpuOffer:
        """One GPU type with its prices; an unknown id raises NotFoundError that lists the valid ones."""
        try:
            item = self._edge.rest(
                f"get GPU type {gpu_type_id!r}", "GET", f"/catalog/gpus/{segment(gpu_type_id)}"
            )
        except NotFoundError:
            raise self._unknown_gpu(gpu_type_id) from None
        return GpuOffer.from_v2(item)

    def cpu_flavors(self) -> list[CpuFlavor]:
        """CPU flavours with their price per vCPU and pod stock per data center."""
        params = {"include": "AVAILABILITY", "product": "POD"}
        answer = self._edge.rest("read the CPU catalog", "GET", "/catalog/cpus", params=params)
        return [CpuFlavor.from_v2(item) for item in answer.get("cpus") or []]

    def get_raw(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """A v2 GET answer as RunPod sent it, for checking it against the published schema (the canary)."""
        return self._edge.rest(f"GET {path}", "GET", path, params=params)

    def data_centers(self) -> list[DataCenter]:
        answer = self._edge.rest("list data centers", "GET", "/catalog/datacenters")
        return [DataCenter.from_v2(item) for item in answer.get("dataCenters") or []]

    # ---- pods ----------------------------------------------------------------------------------

    def create_pod(self, request: PodRequest) -> Pod:
        """Rent a pod; a retried create first adopts a pod that already carries the request's name."""
        where = request.data_center_id or "any data center"
        what = f"{request.gpu_count}x {request.gpu_type_id}" if request.gpu_type_id else "CPU"
        op = f"create pod {request.name!r} ({what} in {where})"

        def existing() -> Pod | None:
            return next(iter(self.pods_named(request.name)), None)

        try:
            return self._edge.call(
                op, lambda: self._pod_from(self._edge.once("POST", "/pods", request.body())), recover=existing
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
            item = self._edge.rest(f"get pod {pod_id}", "GET", f"/pods/{segment(pod_id)}")
        except NotFoundError:
            return None
        pod = self._pod_from(item)
        return None if pod.status == "TERMINATED" else pod

    def list_pods(self, prefix: str | None = None) -> list[Pod]:
        """Live pods of the account, those whose name starts with `prefix` when given."""
        answer = self._edge.rest("list pods", "GET", "/pods")
        pods = [self._pod_from(item) for item in answer.get("pods") or []]
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
            self._edge.rest(f"terminate pod {pod_id}", "DELETE", f"/pods/{segment(pod_id)}")

    def stop_pod(self, pod_id: str) -> Pod:
        """Stop the container (compute billing stops; the pod's disk stays until terminated)."""
        return self._action(pod_id, "stop")

    def restart_pod(self, pod_id: str) -> Pod:
        return self._action(pod_id, "restart")

    def _action(self, pod_id: str, action: str) -> Pod:
        answer = self._edge.rest(
            f"{action} pod {pod_id}", "POST", f"/pods/{segment(pod_id)}/action", {"action": action}
        )
        return self._pod_from(answer)

    def endpoint_url(self, pod_id: str, port: int = 8000) -> str:
        return self.settings.endpoint_url(pod_id, port)

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
        return self._edge.call(
            f"read the logs of pod {pod_id}",
            lambda: list(self._edge.sse(f"/pods/{segment(pod_id)}/logs", params, idle_seconds, max_seconds)),
        )

    # ---- billing (what RunPod charged, not uptime x rate) --------------------------------------

    def billed_usd(self, kind: str, resource_id: str, since: datetime) -> float:
        """What RunPod billed one pod, network volume or cluster from `since` until now, in USD: the
        totals of `GET /v2/billing/{pods,network-volumes,clusters}` filtered to it, in hourly buckets."""
        route, key = BILLING_ROUTES[kind]
        params = {
            key: resource_id,
            "bucketSize": "hour",
            "startTime": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        answer = self._edge.rest(f"read the billing of {kind} {resource_id}", "GET", route, params=params)
        totals = (answer.get("metadata") or {}).get("totals") or {}
        return float(totals.get("totalAmount") or 0.0)

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
            return self._edge.call(
                op,
                lambda: Cluster.from_v2(self._edge.once("POST", "/clusters", request.body())),
                recover=existing,
            )
        except (NotFoundError, RefusedError) as err:
            if "gpu type" in str(err).lower():
                raise self._unknown_gpu(request.gpu_type_id) from None
            raise

    def get_cluster(self, cluster_id: str) -> Cluster | None:
        """The cluster, or None when it is gone."""
        try:
            item = self._edge.rest(f"get cluster {cluster_id}", "GET", f"/clusters/{segment(cluster_id)}")
        except NotFoundError:
            self._confirm_cluster_gone(cluster_id)
            return None
        return Cluster.from_v2(item)

    def list_clusters(self, prefix: str | None = None) -> list[Cluster]:
        """The account's clusters, those whose name starts with `prefix` when given."""
        answer = self._edge.rest("list clusters", "GET", "/clusters")
        clusters = [Cluster.from_v2(item) for item in answer.get("clusters") or []]
        return [c for c in clusters if prefix is None or c.name.startswith(prefix)]

    def clusters_named(self, name: str) -> list[Cluster]:
        """Clusters with exactly this name (RunPod does not make names unique; our names are)."""
        return [c for c in self.list_clusters(name) if c.name == name]

    def cluster_pods(self, cluster_id: str) -> list[ClusterMember]:
        """The member pods, by rank (`GET /v2/clusters/{id}/pods`); a cluster that is gone has none."""
        try:
            answer = self._edge.rest(
                f"list the pods of cluster {cluster_id}", "GET", f"/clusters/{segment(cluster_id)}/pods"
            )
        except NotFoundError:
            return []
        members = [ClusterMember.from_v2(item, self.settings) for item in answer.get("pods") or []]
        # Unranked members (still provisioning) sort last.
        return sorted(members, key=lambda m: (m.rank is None, m.rank or 0, m.pod.id))

    def delete_cluster(self, cluster_id: str) -> None:
        """Delete the cluster and every member (`DELETE /v2/clusters/{id}`); already gone counts as deleted."""
        try:
            self._edge.rest(f"delete cluster {cluster_id}", "DELETE", f"/clusters/{segment(cluster_id)}")
        except NotFoundError:
            self._confirm_cluster_gone(cluster_id)

    def _confirm_cluster_gone(self, cluster_id: str) -> None:
        """A 404 means gone only if the cluster list answers without it (not a wrong base URL)."""
        if any(cluster.id == cluster_id for cluster in self.list_clusters()):
            raise ProviderError(f"RunPod answered 404 for cluster {cluster_id}, yet lists it")

    # ---- network volumes -----------------------------------------------------------------------

    def list_volumes(self) -> list[Volume]:
        answer = self._edge.rest("list network volumes", "GET", "/network-volumes")
        return [Volume.from_v2(item) for item in answer.get("networkVolumes") or []]

    def create_volume(self, name: str, size_gb: int, data_center_id: str, type: str | None = None) -> Volume:
        """Create a network volume; a retried create adopts the volume that already has this name."""
        body: dict[str, Any] = {"name": name, "size": size_gb, "dataCenter": data_center_id}
        if type is not None:
            if type not in VOLUME_TYPES:
                raise ConfigError(f"volume type {type!r} is not one of {', '.join(VOLUME_TYPES)}")
            body["type"] = type

        def existing() -> Volume | None:
            return next((v for v in self.list_volumes() if v.name == name), None)

        return self._edge.call(
            f"create network volume {name!r} ({size_gb} GB {type or 'default tier'} in {data_center_id})",
            lambda: Volume.from_v2(self._edge.once("POST", "/network-volumes", body)),
            recover=existing,
        )

    def get_volume(self, volume_id: str) -> Volume | None:
        """The volume, or None when it is gone."""
        try:
            return Volume.from_v2(
                self._edge.rest(
                    f"get network volume {volume_id}", "GET", f"/network-volumes/{segment(volume_id)}"
                )
            )
        except NotFoundError:
            self._confirm_volume_gone(volume_id)
            return None

    def resize_volume(self, volume_id: str, size_gb: int) -> Volume:
        """Grow a volume (RunPod volumes only grow)."""
        answer = self._edge.rest(
            f"resize network volume {volume_id} to {size_gb} GB",
            "PATCH",
            f"/network-volumes/{segment(volume_id)}",
            {"size": size_gb},
        )
        return Volume.from_v2(answer)

    def delete_volume(self, volume_id: str) -> None:
        """Delete; a volume that is already gone counts as deleted."""
        try:
            self._edge.rest(
                f"delete network volume {volume_id}", "DELETE", f"/network-volumes/{segment(volume_id)}"
            )
        except NotFoundError:
            self._confirm_volume_gone(volume_id)

    def _confirm_volume_gone(self, volume_id: str) -> None:
        """A 404 means gone only if the volume list answers without it (not a wrong base URL)."""
        if any(volume.id == volume_id for volume in self.list_volumes()):
            raise ProviderError(f"RunPod answered 404 for network volume {volume_id}, yet lists it")

    def _pod_from(self, item: Any) -> Pod:
        return Pod.from_v2(item, self.settings)

    def _unknown_gpu(self, gpu_type_id: str) -> NotFoundError:
        try:
            known = ", ".join(sorted(g.id for g in self.gpu_types()))
        except ProviderError as err:
            known = f"(could not list them: {err})"
        return NotFoundError(
            f"RunPod has no GPU type {gpu_type_id!r}; valid ids: {known}", resource="gpu type"
        )
