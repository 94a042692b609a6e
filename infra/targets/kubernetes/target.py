"""The Kubernetes side of the lifecycle `Target`: the stack's objects, read and removed through kubectl.

kubectl is the client (it speaks every kubeconfig auth: certificates, tokens, exec plugins for EKS and
GKE). The engine is one Deployment pod, or for a two-node stack a LeaderWorkerSet group: the leader and
its workers (engine_pods.py). The GPU preflight reads every engine pod's node from the API: its GPU
product label (GPU feature discovery) and its allocatable GPUs; engine health reads the pods' status,
events and logs; the API and load checks go through `kubectl port-forward` to the stack's Service,
which selects the leader alone. What is billed is every object labelled
`app.kubernetes.io/part-of=deepseek-v4-infra,app.kubernetes.io/instance=<stack>`, a group's pods included.

In a rehearsal kwok runs no containers: the checks go to a stand-in engine that the rehearsal's
`local_engines` (infra.targets.base.StandIns) starts locally from the Deployment's own command, args and env.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from infra.catalog import load_catalog
from infra.errors import NotFoundError, ProviderError, TransientError
from infra.targets.base import (
    Billed,
    Endpoint,
    EngineLaunch,
    LineSource,
    LocalEngine,
    LocalEngines,
    ServingMachine,
    TargetContext,
)
from infra.targets.kubernetes.bench_job import ClusterMachine
from infra.targets.kubernetes.engine_pods import (
    ENGINE_CONTAINER,
    GPU_RESOURCE,
    LWS_NAME_LABEL,
    EngineGroup,
    EnginePod,
    kubelet_expand,
)
from infra.targets.kubernetes.job_rates import job_rates
from infra.targets.kubernetes.manifests import (
    API_KEY_KEY,
    API_KEY_SECRET,
    MANAGED_BY,
    PART_OF,
    SERVICE_PORT,
    group_name,
    service_name,
)
from infra.targets.kubernetes.node_gpus import GPU_PRODUCT_LABEL, NodeGpus, judge_node
from infra.validate.stages import Finding, StageResult

__all__ = ["ENGINE_CONTAINER", "GPU_PRODUCT_LABEL", "GPU_RESOURCE", "EnginePod", "KubernetesTarget"]
# How long the preflight waits for the engine's pods to be placed on nodes.
SCHEDULE_WAIT_SECONDS = 600.0
# What `billed` lists, as kubectl names them; pods only when nothing owns them (owned ones go with their owner).
KINDS: dict[str, str] = {
    "Namespace": "namespaces",
    "Deployment": "deployments.apps",
    "Job": "jobs.batch",
    "Service": "services",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "NetworkPolicy": "networkpolicies.networking.k8s.io",
    "ServiceAccount": "serviceaccounts",
    "Role": "roles.rbac.authorization.k8s.io",
    "RoleBinding": "rolebindings.rbac.authorization.k8s.io",
    "Pod": "pods",
}
# CRDs a stack may use; a cluster without them simply has none.
OPTIONAL_KINDS: dict[str, str] = {
    "NodePool": "nodepools.karpenter.sh",
    "LeaderWorkerSet": "leaderworkersets.leaderworkerset.x-k8s.io",
}
# Kept between runs with the weight cache (keepCache): the PVC and the namespace that holds it.
CACHE_KINDS = ("PersistentVolumeClaim", "Namespace")
_TRANSIENT = re.compile(
    r"connection refused|i/o timeout|timed out|TLS handshake timeout|ServiceUnavailable|TooManyRequests"
    r"|the server is currently unable|etcdserver|EOF",
    re.IGNORECASE,
)


class Kubectl:
    """kubectl with the stack's kubeconfig and context; errors become one-line ProviderErrors."""

    def __init__(self, env: Mapping[str, str], context: str | None) -> None:
        from infra.targets.kubernetes.cluster_check import kubectl_binary

        self.binary = kubectl_binary()
        self.env = dict(env)
        self.context = context

    def argv(self, *args: str) -> list[str]:
        return [self.binary, *([f"--context={self.context}"] if self.context else []), *args]

    def __call__(self, *args: str, timeout: float = 120.0) -> str:
        try:
            done = subprocess.run(
                self.argv(*args), capture_output=True, text=True, timeout=timeout, env=self.env
            )
        except subprocess.TimeoutExpired:
            raise TransientError(
                f"kubectl {args[0]} timed out after {timeout:.0f} s", provider="kubernetes"
            ) from None
        if done.returncode != 0:
            line = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            what = f"kubectl {' '.join(a for a in args[:3] if not a.startswith('-'))}: {line}"
            if "NotFound" in line or "not found" in line:
                raise NotFoundError(what, provider="kubernetes")
            cls = TransientError if _TRANSIENT.search(line) else ProviderError
            raise cls(what, provider="kubernetes")
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))


@dataclass
class PortForward:
    """`kubectl port-forward` to the stack's Service on a fixed local port, restarted whenever it ends
    (the engine pod not running yet, or replaced), until closed."""

    kubectl: Kubectl
    namespace: str
    service: str
    port: int = field(default_factory=lambda: _free_port())
    _stop: threading.Event = field(default_factory=threading.Event)
    _proc: subprocess.Popen[bytes] | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PortForward:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        argv = self.kubectl.argv(
            "port-forward", "-n", self.namespace, f"svc/{self.service}", f"{self.port}:{SERVICE_PORT}",
            "--address", "127.0.0.1",
        )  # fmt: skip
        while not self._stop.is_set():
            self._proc = subprocess.Popen(
                argv, env=self.kubectl.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            self._proc.wait()
            self._stop.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(10)
        if self._thread is not None:
            self._thread.join(15)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PodLogs:
    """New lines of the engine pods' logs (a worker's prefixed with its pod name), their Warning events
    (`event Reason: message`) and, for a group, what happened to its members (GroupNotes)."""

    def __init__(self, target: KubernetesTarget) -> None:
        self.target = target
        self.seen_lines: dict[str, int] = {}
        self.seen_events: set[str] = set()
        self.notes = GroupNotes(target)

    def read_new(self) -> list[str]:
        lines = self._events() + self.notes.read_new()
        group = self.target.engine_group()
        for pod in group.live if self.target.context.plan.nodes > 1 else (group.leader,):
            if pod is not None and pod.phase != "Pending":
                prefix = "" if pod.worker_index in (0, None) else f"[{pod.name}] "
                lines += [prefix + line for line in self._pod_lines(pod)]
        return lines

    def _pod_lines(self, pod: EnginePod) -> list[str]:
        kubectl, ns = self.target.kubectl, self.target.namespace
        lines: list[str] = []
        for previous in ([True] if pod.restarts else []) + [False]:
            key = f"{pod.uid or pod.name}/{pod.restarts - 1 if previous else pod.restarts}"
            try:
                text = kubectl(
                    "logs", "-n", ns, pod.name, "-c", ENGINE_CONTAINER, *(["--previous"] if previous else [])
                )
            except ProviderError:
                continue  # not started yet, or the runtime kept no log
            all_lines = text.splitlines()
            lines += all_lines[self.seen_lines.get(key, 0) :]
            self.seen_lines[key] = len(all_lines)
        return lines

    def _events(self) -> list[str]:
        try:
            found = self.target.kubectl.json(
                "get", "events", "-n", self.target.namespace, "--field-selector", "type=Warning"
            )
        except ProviderError:
            return []
        lines = []
        for event in found.get("items") or []:
            uid = str(event["metadata"].get("uid"))
            involved = (event.get("involvedObject") or {}).get("name", "")
            if uid in self.seen_events or not str(involved).startswith(self.target.deployment_name):
                continue
            self.seen_events.add(uid)
            lines.append(f"event {event.get('reason')}: {' '.join(str(event.get('message', '')).split())}")
        return lines


class GroupNotes:
    """For a LeaderWorkerSet group, once each: a member that stopped, and a group whose pods were replaced
    (RecreateGroupOnPodRestart) since the GPU preflight judged them. The leader's log cannot say either."""

    def __init__(self, target: KubernetesTarget) -> None:
        self.target = target
        self.said: set[str] = set()

    def read_new(self) -> list[str]:
        if self.target.context.plan.nodes < 2:
            return []
        group = self.target.engine_group()
        lines = []
        for pod in group.pods:
            if (pod.dead or pod.deleting) and pod.uid not in self.said:
                self.said.add(pod.uid)
                why = pod.why_dead() if pod.dead else "deleted"
                lines.append(f"event MemberStopped: {pod.role} pod {pod.name}: {why}")
        judged = self.target.judged_members
        if judged and group.uids() != judged and "recreated" not in self.said:
            self.said.add("recreated")
            lines.append(
                f"event GroupRecreated: the LeaderWorkerSet replaced the group's pods "
                f"({len(group.live)} of {group.size} back): the engine restarted from scratch"
            )
        return lines


class JoinedLines:
    """Several line sources read as one, in order."""

    def __init__(self, *sources: LineSource) -> None:
        self.sources = sources

    def read_new(self) -> list[str]:
        return [line for source in self.sources for line in source.read_new()]


@dataclass
class KubeShell:
    """The 'shell' of a Kubernetes stack: its namespace through the API, and the port-forward to it."""

    forward: PortForward | None


class KubernetesTarget:
    """One stack on a Kubernetes cluster, as the lifecycle sees it."""

    def __init__(self, context: TargetContext) -> None:
        self.context = context
        # In a rehearsal: where the stand-in engine runs, since kwok runs no containers.
        self.stand_ins: LocalEngines | None = context.rehearsal.local_engines if context.rehearsal else None
        self._stand_in: LocalEngine | None = None
        self._forward: PortForward | None = None
        self.schedule_wait_seconds = SCHEDULE_WAIT_SECONDS
        self.namespace = context.spec.namespace
        self.deployment_name = service_name(context.plan)
        # A two-node engine is a LeaderWorkerSet group (manifests.py); one node, a Deployment.
        self.group_name = group_name(context.plan) if context.plan.nodes > 1 else None
        engine = (
            "LeaderWorkerSet (its pods awaited by the GPU preflight)"
            if self.group_name
            else "Deployment (awaited)"
        )
        self.up_steps = f"namespace, weight cache, download Job, engine {engine}"
        self.judged_members: frozenset[str] = frozenset()
        """The group's pods the GPU preflight judged: other pods later mean the group was recreated."""
        self.kube_context = context.stack_config.get("kubernetes:context") or None
        self.provider = f"the cluster (context {self.kube_context})" if self.kube_context else "the cluster"

    @functools.cached_property
    def kubectl(self) -> Kubectl:
        return Kubectl(self.context.env, self.kube_context)

    def progress_line(self) -> str | None:
        return None

    # ---- the serving pods -------------------------------------------------------------------------------

    def engine_group(self) -> EngineGroup:
        """Every engine pod of the stack: the Deployment's, or the LeaderWorkerSet group's (leader first)."""
        selector = f"app.kubernetes.io/instance={self.context.spec.stack},app.kubernetes.io/component=server"
        found = self.kubectl.json("get", "pods", "-n", self.namespace, "-l", selector)
        return EngineGroup.of(found.get("items") or [], self.context.plan.nodes)

    def engine_pod(self) -> EnginePod | None:
        """The pod that serves the API: the Deployment's, or the group's leader."""
        return self.engine_group().leader

    @contextlib.contextmanager
    def shell(self, outputs: Mapping[str, Any]) -> Iterator[KubeShell]:
        if self.stand_ins is not None:
            with self.stand_ins.run(self._stand_in_launch(outputs)) as engine:
                self._stand_in = engine
                try:
                    yield KubeShell(forward=None)
                finally:
                    self._stand_in = None
            return
        # The Service selects the leader alone, so the checks reach the pod that serves the API.
        self._forward = PortForward(self.kubectl, self.namespace, self.deployment_name).start()
        try:
            yield KubeShell(forward=self._forward)
        finally:
            self._forward.close()
            self._forward = None

    def endpoint(self, outputs: Mapping[str, Any]) -> Endpoint:
        api_key = str(outputs.get("api_key") or self._api_key())
        if self.stand_ins is not None:
            assert self._stand_in is not None, "the stand-in engine runs inside shell()"
            return Endpoint(self._stand_in.url, api_key)
        assert self._forward is not None, "the endpoint is reached through shell()'s port-forward"
        return Endpoint(self._forward.url, api_key)

    def _stand_in_launch(self, outputs: Mapping[str, Any]) -> EngineLaunch:
        """The engine as the API server holds it, for the rehearsal's stand-in: the Deployment's template,
        or the group leader's own pod (with the LWS_* environment its controller gave it)."""
        pod = self.engine_pod()
        if self.group_name is not None:
            # `up` does not await a LeaderWorkerSet: its controller makes the leader shortly after.
            deadline = time.monotonic() + self.schedule_wait_seconds
            while (pod is None or pod.node is None) and time.monotonic() < deadline:
                time.sleep(2.0)
                pod = self.engine_pod()
            if pod is None or pod.node is None:
                raise ProviderError(
                    self._scheduling_event() or _unplaced(self.engine_group()), provider="kubernetes"
                )
            spec = self.kubectl.json("get", "pod", pod.name, "-n", self.namespace)["spec"]
        else:
            deployment = self.kubectl.json("get", "deployment", self.deployment_name, "-n", self.namespace)
            spec = deployment["spec"]["template"]["spec"]
        container = next(c for c in spec["containers"] if c["name"] == ENGINE_CONTAINER)
        product = "NVIDIA-" + self.context.plan.gpu
        if pod is not None and pod.node:
            node = self.kubectl.json("get", "node", pod.node)
            product = node["metadata"]["labels"].get(GPU_PRODUCT_LABEL, product)
        env: dict[str, str] = {}
        for e in container.get("env") or []:
            if "value" in e:  # the kubelet expands a value with the variables defined before it
                env[e["name"]] = kubelet_expand(str(e["value"]), env)
        words = (*container.get("command", [])[1:], *container.get("args", []))
        return EngineLaunch(
            argv=tuple(kubelet_expand(str(w), env) for w in words),
            env=env,
            image=container["image"],
            gpu_type=product.replace("-", " "),
            gpu_count=pod.gpus if pod is not None else self.context.plan.gpu_count,
            port=int(container["ports"][0]["containerPort"]),
            api_key=str(outputs.get("api_key") or self._api_key()),
        )

    def _api_key(self) -> str:
        import base64

        secret = self.kubectl.json("get", "secret", API_KEY_SECRET, "-n", self.namespace)
        return base64.b64decode(secret["data"][API_KEY_KEY]).decode()

    def gpu_preflight(self, shell: KubeShell, outputs: Mapping[str, Any]) -> StageResult:
        """Every engine pod's node through the API (GPU product label, allocatable GPUs), against the plan."""
        started = time.monotonic()
        plan = self.context.plan
        gpu = load_catalog().gpu(plan.gpu)
        deadline = started + self.schedule_wait_seconds
        group = self.engine_group()
        while not _placed(group) and time.monotonic() < deadline:
            time.sleep(2.0)
            group = self.engine_group()
        if not _placed(group):
            why = self._scheduling_event() or _unplaced(group)
            return StageResult("gpu-preflight", False, time.monotonic() - started, why, {})
        pods = [p for p in group.live if p.node] if plan.nodes > 1 else [group.leader]
        judged: list[tuple[EnginePod, NodeGpus]] = []
        for pod in pods:
            assert pod is not None and pod.node is not None
            judged.append(
                (pod, judge_node(self.kubectl.json("get", "node", pod.node), pod, gpu, plan.gpu_count))
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
        if plan.nodes > 1:
            details["nodes"] = [j.details for _, j in judged]
            self.judged_members = group.uids()
        details["findings"] = [f.message for f in findings]
        seconds = time.monotonic() - started
        if findings:
            more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
            return StageResult("gpu-preflight", False, seconds, findings[0].message + more, details)
        if plan.nodes < 2:
            pod, verdict = judged[0]
            return StageResult("gpu-preflight", True, seconds, f"node {pod.node}: {verdict.summary}", details)
        each = "; ".join(f"{p.role} {p.name} on {p.node}: {j.summary}" for p, j in judged)
        return StageResult(
            "gpu-preflight", True, seconds, f"{len(judged)} nodes, one pod each: {each}", details
        )

    def _scheduling_event(self) -> str | None:
        lines = [line for line in PodLogs(self)._events() if "FailedScheduling" in line]
        return lines[-1] if lines else None

    def logs(self, shell: KubeShell, outputs: Mapping[str, Any]) -> LineSource:
        if self.stand_ins is not None:
            assert self._stand_in is not None, "the stand-in engine runs inside shell()"
            # The stand-in serves as the leader; the workers' fate is read from the API server.
            return JoinedLines(self._stand_in.log(), GroupNotes(self))
        return PodLogs(self)

    def machine(self, shell: KubeShell, outputs: Mapping[str, Any]) -> ServingMachine:
        """Next to the engine: in a rehearsal beside the local stand-in; on a cluster, the engine pod and a Job."""
        if self.stand_ins is not None:
            assert self._stand_in is not None, "the stand-in engine runs inside shell()"
            return self._stand_in.machine()
        pod = self.engine_pod()
        if pod is None:
            raise ProviderError("no engine pod to run the evaluation beside", provider="kubernetes")
        return ClusterMachine(self.kubectl, self.context.spec, self.context.plan, pod.name, pod.node)

    def image_id(self, outputs: Mapping[str, Any]) -> str | None:
        pod = self.engine_pod()
        return pod.image_id if pod is not None and pod.image_id else None

    def alive(self, outputs: Mapping[str, Any]) -> bool:
        """False once the engine pod died, or for a group once any member died, is missing or was replaced."""
        group = self.engine_group()
        if self.group_name is not None:
            if not group.complete or group.dead_member() is not None:
                return False
            if self.judged_members and group.uids() != self.judged_members:
                return False
        elif group.leader is None or group.leader.dead:
            return False
        return self.stand_ins is None or (self._stand_in is not None and self._stand_in.alive())

    # ---- what is billed, and removing it -----------------------------------------------------------------

    def run_cost(self, outputs: Mapping[str, Any], since: datetime) -> tuple[float, str] | None:
        # A cluster keeps no bill of its own: the report counts uptime x the plan's rate.
        return None

    def read_rates(self, outputs: Mapping[str, Any]) -> tuple[str, ...]:
        rehearsal = self.context.rehearsal
        return job_rates(self.kubectl, self.namespace, rehearsal.measure_claim if rehearsal else None)

    def billed(self, stack: str, include_cache: bool) -> list[Billed]:
        selector = f"app.kubernetes.io/part-of={PART_OF},app.kubernetes.io/instance={stack}"
        items = list(
            self.kubectl.json("get", ",".join(KINDS.values()), "-A", "-l", selector).get("items") or []
        )
        for kind in OPTIONAL_KINDS.values():
            with contextlib.suppress(ProviderError):
                items += self.kubectl.json("get", kind, "-A", "-l", selector).get("items") or []
        found = []
        for item in items:
            meta = item["metadata"]
            labels = meta.get("labels") or {}
            if labels.get("app.kubernetes.io/managed-by") not in (MANAGED_BY, None):
                continue
            if item["kind"] == "Pod" and labels.get(LWS_NAME_LABEL):
                # A group's pod holds a GPU node until it is gone, deleting or not. It is billed under its
                # LeaderWorkerSet, which the state records: left over once that is destroyed.
                owner = f"{meta['namespace']}/{labels[LWS_NAME_LABEL]}"
                found.append(Billed("Pod", owner, str(meta["name"])))
                continue
            if (item["kind"] == "Pod" and meta.get("ownerReferences")) or meta.get("deletionTimestamp"):
                continue  # goes with its owner, or is already on its way out
            namespace = meta.get("namespace")
            rid = f"{namespace}/{meta['name']}" if namespace else str(meta["name"])
            cache = item["kind"] in CACHE_KINDS and self.context.spec.keep_cache
            if include_cache or not cache:
                found.append(Billed(item["kind"], rid, str(meta["name"]), cache=cache))
        return found

    def contract_check(self, max_age_days: float, say: Callable[[str], None]) -> StageResult | None:
        # The cluster is the user's own: its API is the published Kubernetes one, checked by every apply.
        return None

    def remove(self, item: Billed) -> None:
        kind = KINDS.get(item.kind) or OPTIONAL_KINDS.get(item.kind) or item.kind
        # The id names the namespace; the name is the object's own (a group's pod is billed under its LWS).
        namespace = item.id.rpartition("/")[0]
        where = ["-n", namespace] if namespace else []
        self.kubectl("delete", kind, item.name, *where, "--ignore-not-found", "--wait=false")


def _placed(group: EngineGroup) -> bool:
    """Every pod the plan runs exists and is on a node."""
    if group.size < 2:
        return group.leader is not None and group.leader.node is not None
    return group.complete and all(p.node for p in group.live)


def _unplaced(group: EngineGroup) -> str:
    if group.size < 2:
        return "no engine pod was placed on a node"
    placed = [p.name for p in group.live if p.node]
    return (
        f"{len(placed)} of the group's {group.size} pods placed on a node"
        + (f" ({', '.join(placed)})" if placed else "")
        + "; is the LeaderWorkerSet controller installed (lws.sigs.k8s.io/docs/installation)?"
    )
