"""The Kubernetes side of the lifecycle `Target`: the stack's objects, read and removed through kubectl.

The engine is one Deployment pod, or for a two-node stack a LeaderWorkerSet group: the leader and its
workers (engine_pods.py). Each verb lives with its concept, and this class composes them:

    kubectl.py          the one client: the stack's kubeconfig and context, errors as one line
    kube_shell.py       the shell: a port-forward to the stack's Service, which selects the leader alone
    engine_nodes.py     the GPU preflight: every engine pod's node, its GPU label and allocatable GPUs
    pod_logs.py         engine health: the pods' logs, Warning events and a group's members
    stand_in_launch.py  in a rehearsal (kwok runs no containers), the engine for a local stand-in
    billed_objects.py   what is billed (the stack's labelled objects) and removing it

In a rehearsal the checks go to a stand-in engine that the rehearsal's `local_engines`
(infra.targets.base.StandIns) starts locally from the Deployment's own command, args and env.
"""

from __future__ import annotations

import base64
import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from infra.errors import ProviderError
from infra.targets.base import (
    Billed,
    Endpoint,
    LineSource,
    LocalEngine,
    LocalEngines,
    ServingMachine,
    TargetContext,
)
from infra.targets.kubernetes.bench_job import ClusterMachine
from infra.targets.kubernetes.billed_objects import billed_objects, remove_object
from infra.targets.kubernetes.engine_nodes import judge_engine_nodes
from infra.targets.kubernetes.engine_pods import ENGINE_CONTAINER, GPU_RESOURCE, EngineGroup, EnginePod
from infra.targets.kubernetes.job_rates import job_rates
from infra.targets.kubernetes.kube_shell import KubeShell, PortForward
from infra.targets.kubernetes.kubectl import Kubectl
from infra.targets.kubernetes.manifests import API_KEY_KEY, API_KEY_SECRET, group_name, service_name
from infra.targets.kubernetes.node_gpus import GPU_PRODUCT_LABEL
from infra.targets.kubernetes.pod_logs import GroupNotes, JoinedLines, PodLogs
from infra.targets.kubernetes.stand_in_launch import stand_in_launch
from infra.validate.stages import StageResult

__all__ = ["ENGINE_CONTAINER", "GPU_PRODUCT_LABEL", "GPU_RESOURCE", "EnginePod", "KubernetesTarget"]
# How long the preflight waits for the engine's pods to be placed on nodes.
SCHEDULE_WAIT_SECONDS = 600.0


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
            launch = stand_in_launch(self, str(outputs.get("api_key") or self._api_key()))
            with self.stand_ins.run(launch) as engine:
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

    def _api_key(self) -> str:
        secret = self.kubectl.json("get", "secret", API_KEY_SECRET, "-n", self.namespace)
        return base64.b64decode(secret["data"][API_KEY_KEY]).decode()

    def gpu_preflight(self, shell: KubeShell, outputs: Mapping[str, Any]) -> StageResult:
        """Every engine pod's node through the API (GPU product label, allocatable GPUs), against the plan."""
        result, members = judge_engine_nodes(self)
        if members:
            self.judged_members = members
        return result

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
        return billed_objects(self.kubectl, stack, self.context.spec.keep_cache, include_cache)

    def contract_check(self, max_age_days: float, say: Callable[[str], None]) -> StageResult | None:
        # The cluster is the user's own: its API is the published Kubernetes one, checked by every apply.
        return None

    def remove(self, item: Billed) -> None:
        remove_object(self.kubectl, item)
