"""The lifecycle's view of an Instant Cluster stack: every member's GPUs, and whether all still run.

The leader's shell is the one the lifecycle holds; the other members are reached over their own
published SSH ports (each member runs sshd from the same start script), each with its host keys
pinned from its own log first. A member that stops, restarts or vanishes takes the distributed
engine down with it, so the stack is alive only while all run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from infra.errors import V4InfraError
from infra.ssh import SshError, SshSession, SshTarget
from infra.targets.base import TargetContext
from infra.targets.runpod.crashloop import RestartWatch
from infra.targets.runpod.props import ClusterStackOutputs
from infra.targets.runpod.target import RunPodStack
from infra.validate.stages import StageResult


class RunPodClusterTarget(RunPodStack):
    """A multi-node stack on one Instant Cluster: the leader (rank 0) serves, every member must run."""

    def __init__(self, context: TargetContext) -> None:
        super().__init__(context)
        self.up_steps = (
            f"volume, weight pre-fill on a CPU pod, Instant Cluster of {context.plan.nodes} GPU pods start"
        )
        # Each member's container age: a younger one restarted, and the distributed engine lost a rank.
        self._member_restarts: dict[str, RestartWatch] = {}

    def gpu_preflight(self, shell: SshSession, outputs: Mapping[str, Any]) -> StageResult:
        """The single-node preflight on every member, by rank; passes only when every node passes."""
        started = time.monotonic()
        exports = ClusterStackOutputs.from_props(outputs)
        addresses = list(exports.member_ssh)
        preflight = self.preflight()
        nodes: list[dict[str, object]] = []
        for rank, pod_id in enumerate(str(p) for p in exports.member_pod_ids):
            address = addresses[rank] if rank < len(addresses) else None
            if rank == 0:
                result = preflight.run(shell)
            elif address:
                host, port = address
                try:
                    with self.pod_shell(
                        pod_id, SshTarget(str(host), int(port)), exports.ssh_private_key, outputs
                    ) as member:
                        result = preflight.run(member)
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

    def alive(self, outputs: Mapping[str, Any]) -> bool:
        """False once the cluster is gone, a member is missing or does not run, or a member's container restarted."""
        cluster_id = ClusterStackOutputs.from_props(outputs).cluster_id
        cluster = self.client.get_cluster(cluster_id)
        if cluster is None:
            return False
        members = self.client.cluster_pods(cluster_id)
        # A terminated member drops out of the list: fewer than the cluster's podCount is a lost rank.
        if not members or len(members) < cluster.pod_count:
            return False
        alive = True
        for member in members:
            # Every member is observed, so each one's restart count stays current.
            restarted = self._member_restarts.setdefault(member.pod.id, RestartWatch()).observe(member.pod)
            alive = alive and member.pod.status == "RUNNING" and not restarted
        return alive
