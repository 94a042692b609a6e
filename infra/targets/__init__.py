"""The registry of deployment targets: one package per target, picked by the stack's `target` key."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infra.config import StackSpec
    from infra.plan import Plan
    from infra.program import Secrets

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
    # Each target package registers itself on import; importing them here keeps the registry explicit.
    import infra.targets.kubernetes
    import infra.targets.runpod  # noqa: F401
