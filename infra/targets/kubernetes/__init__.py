"""The Kubernetes target: the plan as manifests, applied by Pulumi or written for a GitOps repository.

manifests.render_manifests(spec, plan)   the objects, one per template (pure)
component.KubernetesDeployment           applies them with Pulumi, with the Secrets
gitops.write_gitops_dir(spec, plan, dir) writes them with a kustomization for Argo CD or Flux
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi

from infra.targets import register

if TYPE_CHECKING:
    from infra.config import StackSpec
    from infra.plan import Plan
    from infra.targets.base import Secrets
    from infra.targets.kubernetes.component import KubernetesDeployment


@register("kubernetes")
def deploy(spec: StackSpec, plan: Plan, secrets: Secrets) -> KubernetesDeployment:
    """Create the stack's `KubernetesDeployment` and export its endpoint and (secret) API key."""
    # Imported here: rendering for GitOps needs no Pulumi provider SDK.
    from infra.targets.kubernetes.component import KubernetesDeployment, KubernetesDeploymentArgs

    component = KubernetesDeployment(
        spec.stack, KubernetesDeploymentArgs(spec=spec, plan=plan, hf_token=secrets.hf_token)
    )
    pulumi.export("endpoint", component.endpoint)
    pulumi.export("namespace", component.namespace)
    pulumi.export("api_key", component.api_key)
    return component
