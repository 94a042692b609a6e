"""The GPU preflight on Kubernetes: every engine pod's node and GPUs, judged against the plan.

It waits for the scheduler to place the pods (a group: every member, one node each) and their engine
containers to start, then judges each pod twice: its node as the API reports it (GPU feature discovery's
product label, allocatable GPUs: node_gpus.py), and the GPUs nvidia-smi lists inside its engine container
through the API server's exec (pod_gpus.py). A pod left unplaced is reported with the scheduler's reason.
"""

from __future__ import annotations

import time

from infra.catalog import load_catalog
from infra.targets.kubernetes.engine_pods import EngineGroup, EnginePod
from infra.targets.kubernetes.engine_view import EngineView
from infra.targets.kubernetes.node_gpus import NodeGpus, judge_node
from infra.targets.kubernetes.pod_gpus import PodGpus, judge_pod_gpus, query_pod_gpus, where
from infra.targets.kubernetes.pod_logs import scheduling_event
from infra.validate.gpu_preflight import GpuExpectation
from infra.validate.stages import Finding, StageResult


def judge_engine_nodes(target: EngineView) -> tuple[StageResult, frozenset[str]]:
    """The preflight's result, and the group members it judged (empty for a one-node engine)."""
    started = time.monotonic()
    plan = target.context.plan
    gpu = load_catalog().gpu(plan.gpu)
    deadline = started + target.schedule_wait_seconds
    group = target.engine_group()
    # nvidia-smi runs in the engine container: wait for it to start (or die) too, within the same time.
    while not (placed(group) and started_or_dead(group)) and time.monotonic() < deadline:
        time.sleep(2.0)
        group = target.engine_group()
    if not placed(group):
        why = scheduling_event(target) or unplaced(group)
        return StageResult("gpu-preflight", False, time.monotonic() - started, why, {}), frozenset()
    hosts = plan.start.hosts if plan.start is not None else None
    # The image's CUDA needs this driver or newer (image_cuda.yaml), whatever the nodes' labels say.
    min_driver = str(hosts.min_driver) if hosts is not None and hosts.min_driver else None
    expectation = GpuExpectation(gpu.product_name, plan.gpu_count, gpu.memory_mib, min_driver)
    judged: list[tuple[EnginePod, NodeGpus, PodGpus]] = []
    for pod in judged_pods(group):
        assert pod.node is not None
        node = judge_node(target.kubectl.json("get", "node", pod.node), pod, gpu, plan.gpu_count)
        listed = query_pod_gpus(target.kubectl, target.namespace, pod) if running(pod) else not_running(pod)
        seen = judge_pod_gpus(pod, listed, expectation)
        node.details["gpus"] = seen.details
        judged.append((pod, node, seen))
    findings = [f for _, n, s in judged for f in (*n.findings, *s.findings)]
    nodes = [str(p.node) for p, _, _ in judged]
    if len(set(nodes)) < len(nodes):
        findings.append(
            Finding(
                "count", f"the group's pods share a node ({', '.join(sorted(nodes))}): each needs its own"
            )
        )
    details = dict(judged[0][1].details)
    members: frozenset[str] = frozenset()
    if plan.nodes > 1:
        details["nodes"] = [n.details for _, n, _ in judged]
        members = group.uids()
    details["findings"] = [f.message for f in findings]
    seconds = time.monotonic() - started
    if findings:
        more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
        return StageResult("gpu-preflight", False, seconds, findings[0].message + more, details), members
    if plan.nodes < 2:
        pod, verdict, seen = judged[0]
        reason = f"node {pod.node}: {verdict.summary}; {seen.summary}"
        return StageResult("gpu-preflight", True, seconds, reason, details), members
    each = "; ".join(f"{p.role} {p.name} on {p.node}: {n.summary}; {s.summary}" for p, n, s in judged)
    reason = f"{len(judged)} nodes, one pod each: {each}"
    return StageResult("gpu-preflight", True, seconds, reason, details), members


def placed(group: EngineGroup) -> bool:
    """Every pod the plan runs exists and is on a node."""
    if group.size < 2:
        return group.leader is not None and group.leader.node is not None
    return group.complete and all(p.node for p in group.live)


def judged_pods(group: EngineGroup) -> list[EnginePod]:
    """The pods the plan runs on GPUs: every placed member of a group, or the Deployment's pod."""
    if group.size > 1:
        return [p for p in group.live if p.node]
    return [group.leader] if group.leader is not None else []


def running(pod: EnginePod) -> bool:
    return pod.phase == "Running" and not pod.dead


def started_or_dead(group: EngineGroup) -> bool:
    """Every judged pod's containers run, or it ended (no exec can start in a pod that will not run)."""
    return all(running(p) or p.dead for p in judged_pods(group))


def not_running(pod: EnginePod) -> Finding:
    state = pod.why_dead() if pod.dead else (pod.waiting or pod.phase)
    return Finding(
        "driver",
        f"{where(pod)}: the engine container is not running ({state}), so nvidia-smi could not run in it: "
        f"kubectl describe pod {pod.name} says why",
    )


def unplaced(group: EngineGroup) -> str:
    if group.size < 2:
        return "no engine pod was placed on a node"
    on_nodes = [p.name for p in group.live if p.node]
    return (
        f"{len(on_nodes)} of the group's {group.size} pods placed on a node"
        + (f" ({', '.join(on_nodes)})" if on_nodes else "")
        + "; is the LeaderWorkerSet controller installed (lws.sigs.k8s.io/docs/installation)?"
    )
