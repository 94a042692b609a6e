"""The registry of deployment targets: one package per target, picked by the stack's `target` key.

Two sides per target: `deploy` (inside the Pulumi program: creates the resources) and the lifecycle
`Target` (outside it: endpoint, shell, logs, GPU facts, what is billed, removal; see `base`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from infra.errors import ConfigError

if TYPE_CHECKING:
    from infra.config import StackSpec
    from infra.plan import Plan
    from infra.targets.base import Secrets, Target, TargetContext

Deploy = Callable[["StackSpec", "Plan", "Secrets"], object]
TARGETS: dict[str, Deploy] = {}


def register(name: str) -> Callable[[Deploy], Deploy]:
    def add(fn: Deploy) -> Deploy:
        TARGETS[name] = fn
        return fn

    return add


def deploy(spec: StackSpec, plan: Plan, secrets: Secrets) -> object | None:
    """Create the stack's resources with its target; a target not yet installed creates nothing."""
    _load_targets()
    target = TARGETS.get(spec.target)
    return target(spec, plan, secrets) if target else None


def _load_targets() -> None:
    # Each target package registers itself on import; importing them here (inside the Pulumi program
    # only) keeps the registry explicit and the lifecycle free of Pulumi components.
    import infra.targets.kubernetes
    import infra.targets.runpod  # noqa: F401


def _runpod(context: TargetContext) -> Target:
    # Imported on use: a Kubernetes run never loads the RunPod target (and its client).
    from infra.targets.runpod.cluster_target import RunPodClusterTarget
    from infra.targets.runpod.target import RunPodTarget

    # A multi-node plan is one Instant Cluster; its lifecycle is the cluster's, not the pod's.
    return RunPodClusterTarget(context) if context.plan.nodes > 1 else RunPodTarget(context)


def _kubernetes(context: TargetContext) -> Target:
    # Imported on use: a RunPod run never loads the Kubernetes client.
    from infra.targets.kubernetes.target import KubernetesTarget

    return KubernetesTarget(context)


# The lifecycle side, imported only when a verb needs it (a Kubernetes run never loads the RunPod SDK).
LIFECYCLE_TARGETS: dict[str, Callable[[TargetContext], Target]] = {
    "runpod": _runpod,
    "kubernetes": _kubernetes,
}


def open_target(context: TargetContext) -> Target:
    """The lifecycle `Target` for the stack's `target` key."""
    factory = LIFECYCLE_TARGETS.get(context.spec.target)
    if factory is None:
        raise ConfigError(
            f"{context.spec.source}: target {context.spec.target!r} has no lifecycle; "
            f"targets: {', '.join(sorted(LIFECYCLE_TARGETS))}"
        )
    return factory(context)
