"""The lifecycle's view of an Instant Cluster stack: every member's GPUs, and whether all still run.

The leader's shell is the one the lifecycle holds; the other members are reached over their own
published SSH ports (each member runs sshd from the same start script). A member that stops, restarts
or vanishes takes the distributed engine down with it, so the stack is alive only while all run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from infra.errors import V4InfraError
from infra.ssh import SshError, SshTarget
from infra.targets.runpod.crashloop import RestartWatch
from infra.validate.stages import StageResult

if TYPE_CHECKING:
    from infra.ssh import SshSession
    from infra.targets.runpod.client import RunPodClient
    from infra.targets.runpod.target import RunPodTarget


def cluster_preflight(target: RunPodTarget, leader: SshSession, outputs: Mapping[str, Any]) -> StageResult:
    """The single-node preflight on every member, by rank; passes only when every node passes."""
    started = time.monotonic()
    pod_ids = [str(p) for p in outputs.get("member_pod_ids") or []]
    addresses = list(outputs.get("member_ssh") or [])
    preflight = target.preflight()
    nodes: list[dict[str, object]] = []
    for rank, pod_id in enumerate(pod_ids):
        if rank == 0:
            result = preflight.run(leader)
        elif rank < len(addresses) and addresses[rank]:
            host, port = addresses[rank]
            try:
                with target.pod_shell(pod_id, SshTarget(str(host), int(port)), outputs) as shell:
                    result = preflight.run(shell)
            except (SshError, V4InfraError) as err:
                result = StageResult(preflight.name, False, 0.0, f"no SSH session: {err}", {})
        else:
            result = StageResult(preflight.name, False, 0.0, "RunPod published no SSH port for it", {})
        nodes.append(
            {
                "node_rank": rank,
                "pod_id": pod_id,
                "passed": result.passed,
                "reason": result.reason,
                **dict(result.details),
            }
        )
    seconds = time.monotonic() - started
    failed = [n for n in nodes if not n["passed"]]
    details = {"nodes": nodes}
    if not nodes:
        return StageResult(
            preflight.name, False, seconds, "the stack's outputs list no cluster member", details
        )
    if failed:
        first = failed[0]
        more = f" (+{len(failed) - 1} more node(s))" if len(failed) > 1 else ""
        reason = f"node {first['node_rank']} ({first['pod_id']}): {first['reason']}{more}"
        return StageResult(preflight.name, False, seconds, reason, details)
    reason = "; ".join(f"node {n['node_rank']}: {n['reason']}" for n in nodes)
    return StageResult(preflight.name, True, seconds, reason, details)


def cluster_alive(client: RunPodClient, cluster_id: str, watches: dict[str, RestartWatch]) -> bool:
    """False once the cluster is gone, a member is missing or does not run, or a member's container restarted."""
    cluster = client.get_cluster(cluster_id)
    if cluster is None:
        return False
    members = client.cluster_pods(cluster_id)
    # A terminated member drops out of the list: fewer than the cluster's podCount is a lost rank.
    if not members or len(members) < cluster.pod_count:
        return False
    alive = True
    for member in members:
        # Every member is observed, so each one's restart count stays current.
        restarted = watches.setdefault(member.pod.id, RestartWatch()).observe(member.pod)
        alive = alive and member.pod.status == "RUNNING" and not restarted
    return alive
