"""deepseek-v4-infra: plan, deploy, validate and tear down DeepSeek V4 behind vLLM (RunPod or Kubernetes).

The public API is small and loaded lazily, so that `infra.emulator` and `infra.weights` (which also
runs inside pods) never pull in the planner or Pulumi by importing the package.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Plan": "infra.plan",
    "RoleCommand": "infra.plan",
    "PlanRequest": "infra.planner",
    "plan": "infra.planner",
    "require_deployable": "infra.planner",
    "load_catalog": "infra.catalog",
    "StackSpec": "infra.config",
    "load_stack": "infra.config",
    "Lifecycle": "infra.lifecycle",
    "RunPodDeployment": "infra.targets.runpod.component",
    "KubernetesDeployment": "infra.targets.kubernetes.component",
    "render_manifests": "infra.targets.kubernetes.manifests",
    "V4InfraError": "infra.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'infra' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
