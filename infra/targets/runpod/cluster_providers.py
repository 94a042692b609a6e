"""The Pulumi dynamic provider for a RunPod Instant Cluster, with the pod's guarantees.

Create finds the cluster by its unique name first (and the client adopts it after a 500), then waits
until every member runs with sshd greeting; a member that fails (ERROR, EXITED, gone) or crash-loops,
or a wait that runs out, deletes the whole cluster before raising, so nothing Pulumi does not record is
left billed. Refresh (`read`) sees a cluster deleted out of band; delete treats "already gone" as done.
Like providers.py, it holds no client or key: each method builds one from its (secret) inputs, and
its inputs and outputs are props.py's `ClusterInputs` / `ClusterOutputs`.
"""

from __future__ import annotations

import time

from infra.errors import PodFailedError, StartTimeoutError
from infra.image_cuda import ImageCuda
from infra.targets.dynamic import CheckFailure, DiffResult, TypedProvider, changed
from infra.targets.runpod import runtime
from infra.targets.runpod.client import RunPodClient
from infra.targets.runpod.crashloop import RestartWatch
from infra.targets.runpod.props import ClusterInputs, ClusterOutputs
from infra.targets.runpod.providers import connection_changed
from infra.targets.runpod.types import ClusterMember, ClusterRequest

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


class ClusterProvider(TypedProvider[ClusterInputs[str], ClusterOutputs]):
    """A RunPod Instant Cluster of `pod_count` pods with `gpu_count` GPUs each, in one data center.

    Its inputs are named like the GPU pod's (`gpu_type_ids`, `gpu_count` per pod, `ttl_seconds`,
    `permanent`, `args`), so the policy pack's GPU checks (time-to-live, engine image) judge it too.
    """

    inputs = ClusterInputs
    outputs = ClusterOutputs

    def on_check(self, news: ClusterInputs[str]) -> list[CheckFailure]:
        types = list(news.gpu_type_ids)
        if len(types) != 1:
            # ClusterCompute.gpuTypeId: one GPU type for every member, and no failover to another.
            return [CheckFailure("gpu_type_ids", f"a cluster takes exactly one GPU type, got {types}")]
        return []

    def on_create(self, inputs: ClusterInputs[str]) -> tuple[str, ClusterOutputs]:
        client = runtime.runpod_client(inputs.connection)
        data_centers = list(inputs.data_center_ids)
        request = ClusterRequest(
            name=inputs.name,
            image=inputs.image,
            gpu_type_id=inputs.gpu_type_ids[0],
            gpu_count_per_pod=inputs.gpu_count,
            pod_count=inputs.pod_count,
            data_center_id=data_centers[0] if data_centers else None,
            network_volume_id=inputs.volume_id,
            args=inputs.args,
            ports=tuple(inputs.ports),
            env=dict(inputs.env),
            container_disk_gb=inputs.container_disk_gb,
        )
        # An interrupted `up` left a cluster under this name: adopt it instead of renting a second one.
        cluster = next(iter(client.clusters_named(request.name)), None) or client.create_cluster(request)
        try:
            members = wait_for_cluster(
                client,
                cluster.id,
                inputs.pod_count,
                needs_ssh="22/tcp" in inputs.ports,
                placed=cluster.members_total,
            )
            check_member_hosts(inputs, members)
        except BaseException:
            # Never leave a cluster that Pulumi does not record: a failed create is not in the state.
            client.delete_cluster(cluster.id)
            raise
        return cluster.id, cluster_outputs(client, cluster.id, members)

    def on_diff(
        self, id: str, olds: ClusterInputs[str], outputs: ClusterOutputs, news: ClusterInputs[str]
    ) -> DiffResult:
        replaces = changed(olds, news, CLUSTER_REPLACE_KEYS)
        changes = (
            replaces
            or connection_changed(olds.connection, news.connection)
            or changed(olds, news, ("ttl_seconds",))
        )
        # Delete first: two clusters of one stack would bill twice and compete for the same stock.
        return DiffResult(changes=bool(changes), replaces=replaces, delete_before_replace=True)

    def on_read(
        self, id: str, inputs: ClusterInputs[str], outputs: ClusterOutputs
    ) -> tuple[ClusterInputs[str], ClusterOutputs] | None:
        client = runtime.runpod_client(inputs.connection)
        if client.get_cluster(id) is None:
            return None
        return inputs, cluster_outputs(client, id, client.cluster_pods(id))

    def on_delete(self, id: str, inputs: ClusterInputs[str], outputs: ClusterOutputs) -> None:
        runtime.runpod_client(inputs.connection).delete_cluster(id)


def check_member_hosts(inputs: ClusterInputs[str], members: list[ClusterMember]) -> None:
    """A cluster create takes no CUDA constraint (REST v2 ClusterCompute has none), so every member's host
    is judged once it runs: one whose driver cannot run the image fails the create before the engine loops."""
    need = ImageCuda(inputs.image, inputs.image_cuda, inputs.image_min_driver)
    for m in members:
        if m.pod.cuda_version and not need.runs_on(m.pod.cuda_version):
            raise PodFailedError(
                f"cluster member {m.pod.id} (rank {m.rank}) landed on a host reporting CUDA {m.pod.cuda_version}, "
                f"which cannot run {need.describe()}; RunPod's cluster create cannot ask for a driver, so the "
                "cluster is deleted: try again, or pin an image built for that CUDA (`image`, e.g. a -cu129 tag)",
                resource=inputs.name,
            )


def cluster_outputs(client: RunPodClient, cluster_id: str, members: list[ClusterMember]) -> ClusterOutputs:
    """What the stack exports: the leader's endpoint and SSH, every member by rank, the hourly price."""
    leader = members[0].pod if members else None
    ssh = leader.ssh if leader is not None and leader.ssh else (None, None)
    costs = [m.pod.cost_per_hr for m in members if m.pod.cost_per_hr is not None]
    return ClusterOutputs(
        cluster_id=cluster_id,
        data_center_id=leader.data_center_id if leader is not None else None,
        gpu_type_id_rented=leader.gpu_type_id if leader is not None else None,
        member_pod_ids=[m.pod.id for m in members],
        member_ssh=[[m.pod.ssh[0], m.pod.ssh[1]] if m.pod.ssh else None for m in members],
        leader_pod_id=leader.id if leader is not None else None,
        endpoint=client.endpoint_url(leader.id, 8000) if leader is not None else None,
        ssh_host=ssh[0],
        ssh_port=ssh[1],
        usd_per_hour=round(sum(costs), 4) if costs else None,
    )


def wait_for_cluster(
    client: RunPodClient,
    cluster_id: str,
    pod_count: int,
    *,
    needs_ssh: bool,
    placed: int = 0,
    timeout: float = runtime.RUNTIME_WAIT_SECONDS,
) -> list[ClusterMember]:
    """Every member, by rank, once all run (each with sshd greeting when asked); any member failing raises.

    `placed` is how many members the create's answer counted: fewer later means one was terminated.
    """
    deadline = time.monotonic() + timeout
    watches: dict[str, RestartWatch] = {}
    while True:
        if client.get_cluster(cluster_id) is None:
            raise PodFailedError(f"cluster {cluster_id} disappeared while starting", resource=cluster_id)
        members = client.cluster_pods(cluster_id)
        # A member seen (or counted) before and missing now was terminated: the engine cannot form without it.
        lost = sorted(set(watches) - {m.pod.id for m in members})
        if lost or len(members) < placed:
            which = (
                f"member pod {', '.join(lost)}" if lost else f"{placed - len(members)} of {placed} members"
            )
            raise PodFailedError(
                f"cluster {cluster_id}: {which} disappeared while starting", resource=cluster_id
            )
        placed = max(placed, len(members))
        for member in members:
            pod = member.pod
            if pod.status in ("EXITED", "ERROR", "TERMINATED"):
                raise PodFailedError(
                    f"cluster {cluster_id}: member {pod.id} (node {member.rank}) is {pod.status} while "
                    f"starting{runtime.log_hint(client, pod.id)}",
                    resource=cluster_id,
                )
            watch = watches.setdefault(pod.id, RestartWatch())
            if watch.observe(pod):
                raise PodFailedError(
                    f"cluster {cluster_id}, node {member.rank}: "
                    + runtime.crash_loop_diagnosis(client, pod.id, watch.restarts),
                    resource=cluster_id,
                )
        ready = [
            m
            for m in members
            if m.rank is not None
            and m.pod.status == "RUNNING"
            and (not needs_ssh or (m.pod.ssh is not None and runtime.sshd_answers(*m.pod.ssh)))
        ]
        if len(ready) == pod_count:
            return ready
        if time.monotonic() > deadline:
            what = "an SSH port" if needs_ssh else "a running container"
            raise StartTimeoutError(
                f"cluster {cluster_id}: {len(ready)} of {pod_count} members had {what} after {timeout:.0f} s",
                resource=cluster_id,
            )
        time.sleep(runtime.POLL_SECONDS)
