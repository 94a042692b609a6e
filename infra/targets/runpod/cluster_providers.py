"""The Pulumi dynamic provider for a RunPod Instant Cluster, with the pod's guarantees.

Create finds the cluster by its unique name first (and the client adopts it after a 500), then waits
until every member runs with sshd greeting; a member that fails (ERROR, EXITED, gone) or crash-loops,
or a wait that runs out, deletes the whole cluster before raising, so nothing Pulumi does not record is
left billed. Refresh (`read`) sees a cluster deleted out of band; delete treats "already gone" as done.
Like providers.py, it holds no client or key: each method builds one from its (secret) inputs.
"""

from __future__ import annotations

import time
from typing import Any

from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from infra.targets.runpod import providers
from infra.targets.runpod.providers import (
    CONNECTION_KEYS,
    RUNTIME_WAIT_SECONDS,
    _changed,
    _client,
    _log_hint,
    _sshd_answers,
    crash_loop_diagnosis,
)

CLUSTER_REPLACE_KEYS = (
    "name",
    "image",
    "gpu_type_ids",
    "gpu_count",
    "pod_count",
    "data_center_ids",
    "args",
    "env",
    "volume_id",
    "ports",
    "container_disk_gb",
)
OUTPUT_KEYS = (
    "cluster_id",
    "data_center_id",
    "gpu_type_id_rented",
    "member_pod_ids",
    "member_ssh",
    "leader_pod_id",
    "endpoint",
    "ssh_host",
    "ssh_port",
    "usd_per_hour",
)


class ClusterProvider(ResourceProvider):
    """A RunPod Instant Cluster of `pod_count` pods with `gpu_count` GPUs each, in one data center.

    Its inputs are named like the GPU pod's (`gpu_type_ids`, `gpu_count` per pod, `ttl_seconds`,
    `permanent`, `args`), so the policy pack's GPU checks (time-to-live, engine image) judge it too.
    """

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        from pulumi.dynamic import CheckFailure

        types = list(news.get("gpu_type_ids") or [])
        if len(types) != 1:
            # ClusterCompute.gpuTypeId: one GPU type for every member, and no failover to another.
            return CheckResult(
                news, [CheckFailure("gpu_type_ids", f"a cluster takes exactly one GPU type, got {types}")]
            )
        return CheckResult(news, [])

    def create(self, props: dict[str, Any]) -> CreateResult:
        from infra.targets.runpod.types import ClusterRequest

        client = _client(props)
        data_centers = list(props["data_center_ids"])
        request = ClusterRequest(
            name=props["name"],
            image=props["image"],
            gpu_type_id=props["gpu_type_ids"][0],
            gpu_count_per_pod=int(props["gpu_count"]),
            pod_count=int(props["pod_count"]),
            data_center_id=data_centers[0] if data_centers else None,
            network_volume_id=props.get("volume_id"),
            args=props["args"],
            ports=tuple(props["ports"]),
            env=dict(props["env"]),
            container_disk_gb=int(props["container_disk_gb"]),
        )
        # An interrupted `up` left a cluster under this name: adopt it instead of renting a second one.
        cluster = next(iter(client.clusters_named(request.name)), None) or client.create_cluster(request)
        try:
            members = wait_for_cluster(
                client,
                cluster.id,
                int(props["pod_count"]),
                needs_ssh="22/tcp" in props["ports"],
                placed=cluster.members_total,
            )
        except BaseException:
            # Never leave a cluster that Pulumi does not record: a failed create is not in the state.
            client.delete_cluster(cluster.id)
            raise
        return CreateResult(cluster.id, {**props, **cluster_outputs(client, cluster.id, members)})

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = _changed(olds, news, CLUSTER_REPLACE_KEYS)
        changes = replaces or _changed(olds, news, (*CONNECTION_KEYS, "ttl_seconds"))
        # Delete first: two clusters of one stack would bill twice and compete for the same stock.
        return DiffResult(changes=bool(changes), replaces=replaces, delete_before_replace=True)

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult({**news, **{k: olds[k] for k in OUTPUT_KEYS if k in olds}})

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        client = _client(props)
        if client.get_cluster(id) is None:
            return ReadResult(None, {})
        return ReadResult(id, {**props, **cluster_outputs(client, id, client.cluster_pods(id))})

    def delete(self, id: str, props: dict[str, Any]) -> None:
        _client(props).delete_cluster(id)


def cluster_outputs(client: Any, cluster_id: str, members: list[Any]) -> dict[str, Any]:
    """What the stack exports: the leader's endpoint and SSH, every member by rank, the hourly price."""
    leader = members[0].pod if members else None
    ssh = leader.ssh if leader is not None and leader.ssh else (None, None)
    costs = [m.pod.cost_per_hr for m in members if m.pod.cost_per_hr is not None]
    return {
        "cluster_id": cluster_id,
        "data_center_id": leader.data_center_id if leader is not None else None,
        "gpu_type_id_rented": leader.gpu_type_id if leader is not None else None,
        "member_pod_ids": [m.pod.id for m in members],
        "member_ssh": [[m.pod.ssh[0], m.pod.ssh[1]] if m.pod.ssh else None for m in members],
        "leader_pod_id": leader.id if leader is not None else None,
        "endpoint": client.endpoint_url(leader.id, 8000) if leader is not None else None,
        "ssh_host": ssh[0],
        "ssh_port": ssh[1],
        "usd_per_hour": round(sum(costs), 4) if costs else None,
    }


def wait_for_cluster(
    client: Any,
    cluster_id: str,
    pod_count: int,
    *,
    needs_ssh: bool,
    placed: int = 0,
    timeout: float = RUNTIME_WAIT_SECONDS,
) -> list[Any]:
    """Every member, by rank, once all run (each with sshd greeting when asked); any member failing raises.

    `placed` is how many members the create's answer counted: fewer later means one was terminated.
    """
    from infra.targets.runpod.crashloop import RestartWatch

    deadline = time.monotonic() + timeout
    watches: dict[str, RestartWatch] = {}
    while True:
        if client.get_cluster(cluster_id) is None:
            raise RuntimeError(f"cluster {cluster_id} disappeared while starting")
        members = client.cluster_pods(cluster_id)
        # A member seen (or counted) before and missing now was terminated: the engine cannot form without it.
        lost = sorted(set(watches) - {m.pod.id for m in members})
        if lost or len(members) < placed:
            which = (
                f"member pod {', '.join(lost)}" if lost else f"{placed - len(members)} of {placed} members"
            )
            raise RuntimeError(f"cluster {cluster_id}: {which} disappeared while starting")
        placed = max(placed, len(members))
        for member in members:
            pod = member.pod
            if pod.status in ("EXITED", "ERROR", "TERMINATED"):
                raise RuntimeError(
                    f"cluster {cluster_id}: member {pod.id} (node {member.rank}) is {pod.status} while "
                    f"starting{_log_hint(client, pod.id)}"
                )
            watch = watches.setdefault(pod.id, RestartWatch())
            if watch.observe(pod):
                raise RuntimeError(
                    f"cluster {cluster_id}, node {member.rank}: "
                    + crash_loop_diagnosis(client, pod.id, watch.restarts)
                )
        ready = [
            m
            for m in members
            if m.rank is not None
            and m.pod.status == "RUNNING"
            and (not needs_ssh or (m.pod.ssh is not None and _sshd_answers(*m.pod.ssh)))
        ]
        if len(ready) == pod_count:
            return ready
        if time.monotonic() > deadline:
            what = "an SSH port" if needs_ssh else "a running container"
            raise TimeoutError(
                f"cluster {cluster_id}: {len(ready)} of {pod_count} members had {what} after {timeout:.0f} s"
            )
        time.sleep(providers.POLL_SECONDS)
