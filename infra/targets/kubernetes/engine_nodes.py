"""The GPU preflight on Kubernetes: every engine pod's node, read from the API, judged against the plan.

It waits for the scheduler to place the pods (a group: every member, one node each), then reads each
node's GPU product label (GPU feature discovery) and allocatable GPUs (node_gpus.py). A pod left
unplaced is reported with the scheduler's own reason.
"""

from __future__ import annotations

import time

from infra.catalog import load_catalog
from infra.targets.kubernetes.engine_pods import EngineGroup, EnginePod
from infra.targets.kubernetes.engine_view import EngineView
from infra.targets.kubernetes.node_gpus import NodeGpus, judge_node
from infra.targets.kubernetes.pod_logs import scheduling_event
from infra.validate.stages import Finding, StageResult


def judge_engine_nodes(target: EngineView) -> tuple[StageResult, frozenset[str]]:
    """The preflight's result, and the group members it judged (empty for a one-node engine)."""
    started = time.monotonic()
    plan = target.context.plan
    gpu = load_catalog().gpu(plan.gpu)
    deadline = started + target.schedule_wait_seconds
    group = target.engine_group()
    while not placed(group) and time.monotonic() < deadline:
        time.sleep(2.0)
        group = target.engine_group()
    if not placed(group):
        why = scheduling_event(target) or unplaced(group)
        return StageResult("gpu-preflight", False, time.monotonic() - started, why, {}), frozenset()
    pods = [p for p in group.live if p.node] if plan.nodes > 1 else [group.leader]
    judged: list[tuple[EnginePod, NodeGpus]] = []
    for pod in pods:
        assert pod is not None and pod.node is not None
        judged.append(
            (pod, judge_node(target.kubectl.json("get", "node", pod.node), pod, gpu, plan.gpu_count))
        )
    findings = [f for _, j in judged for f in j.findings]
    nodes = [str(p.node) for p, _ in judged]
    if len(set(nodes)) < len(nodes):
        findings.append(
            Finding(
                "count", f"the group's pods share a node ({', '.join(sorted(nodes))}): each needs its own"
            )
        )
    details = dict(judged[0][1].details)
    members: frozenset[str] = frozenset()
    if plan.nodes > 1:
        details["nodes"] = [j.details for _, j in judged]
        members = group.uids()
    details["findings"] = [f.message for f in findings]
    seconds = time.monotonic() - started
    if findings:
        more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
        return StageResult("gpu-preflight", False, seconds, findings[0].message + more, details), members
    if plan.nodes < 2:
        pod, verdict = judged[0]
        reason = f"node {pod.node}: {verdict.summary}"
        return StageResult("gpu-preflight", True, seconds, reason, details), members
    each = "; ".join(f"{p.role} {p.name} on {p.node}: {j.summary}" for p, j in judged)
    reason = f"{len(judged)} nodes, one pod each: {each}"
    return StageResult("gpu-preflight", True, seconds, reason, details), members


def placed(group: EngineGroup) -> bool:
    """Every pod the plan runs exists and is on a node."""
    if group.size < 2:
        return group.leader is not None and group.leader.node is not None
    return group.complete and all(p.node for p in group.live)


def unplaced(group: EngineGroup) -> str:
    if group.size < 2:
        return "no engine pod was placed on a node"
    on_nodes = [p.name for p in group.live if p.node]
    return (
        f"{len(on_nodes)} of the group's {group.size} pods placed on a node"
        + (f" ({', '.join(on_nodes)})" if on_nodes else "")
        + "; is the LeaderWorkerSet controller installed (lws.sigs.k8s.io/docs/installation)?"
    )
