"""What the log, preflight and stand-in readers need of a Kubernetes stack: its kubectl and engine pods.

`KubernetesTarget` is one; the readers take this narrow view so that each lives in its own module
without importing the target.
"""

from __future__ import annotations

from typing import Protocol

from infra.targets.base import TargetContext
from infra.targets.kubernetes.engine_pods import EngineGroup, EnginePod
from infra.targets.kubernetes.kubectl import Kubectl


class EngineView(Protocol):
    context: TargetContext
    namespace: str
    deployment_name: str
    """The engine's Deployment and Service name; events about its pods start with it."""
    group_name: str | None
    """The LeaderWorkerSet's name for a two-node engine; None for a Deployment."""
    schedule_wait_seconds: float
    judged_members: frozenset[str]
    """The group's pods the GPU preflight judged: other pods later mean the group was recreated."""

    @property
    def kubectl(self) -> Kubectl: ...

    def engine_group(self) -> EngineGroup: ...

    def engine_pod(self) -> EnginePod | None: ...
