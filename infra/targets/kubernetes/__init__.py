"""The Kubernetes target: the plan as manifests, applied by Pulumi or written for a GitOps repository.

manifests.render_manifests(spec, plan)   the objects, one per template (pure)
dependencies.declared(spec, plan)        what each object waits for, by kind and name
cluster_check.require_cluster_serves     refuses, before `up` creates anything, a cluster that cannot serve them
component.KubernetesDeployment           applies them with Pulumi, with the Secrets
gitops.write_gitops_dir(spec, plan, dir) writes them with a kustomization for Argo CD or Flux
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pulumi

from infra.errors import ConfigError, carried
from infra.targets import register

if TYPE_CHECKING:
    from infra.config import StackSpec
    from infra.plan import Plan
    from infra.targets.base import Secrets
    from infra.targets.kubernetes.component import KubernetesDeployment


@register("kubernetes")
def deploy(spec: StackSpec, plan: Plan, secrets: Secrets) -> KubernetesDeployment:
    """Create the stack's `KubernetesDeployment` and export its endpoint and (secret) API key; first, on
    `up` (not preview), refuse a cluster that cannot serve the render, before anything is created."""
    # Imported here: rendering for GitOps needs no Pulumi provider SDK.
    from infra.targets.kubernetes.component import KubernetesDeployment, KubernetesDeploymentArgs
    from infra.targets.kubernetes.manifests import API_KEY_SECRET, HF_TOKEN_SECRET

    if not pulumi.runtime.is_dry_run():
        # The component creates the API key's Secret, and the HF token's when a token is set.
        creates = {API_KEY_SECRET} | ({HF_TOKEN_SECRET} if secrets.hf_token is not None else set())
        check_cluster(spec, plan, frozenset(creates))

    component = KubernetesDeployment(
        spec.stack, KubernetesDeploymentArgs(spec=spec, plan=plan, hf_token=secrets.hf_token)
    )
    pulumi.export("endpoint", component.endpoint)
    pulumi.export("namespace", component.namespace)
    pulumi.export("api_key", component.api_key)
    return component


def check_cluster(spec: StackSpec, plan: Plan, creates: frozenset[str]) -> None:
    """The cluster the provider will use (KUBECONFIG, `kubernetes:kubeconfig`, `kubernetes:context`)
    read and judged; the refusal crosses the engine with its class (a ConfigError: exit 2)."""
    from infra.targets.kubernetes.cluster_check import read_cluster, require_cluster_serves

    provider = pulumi.Config("kubernetes")
    try:
        with _kubeconfig(provider.get("kubeconfig")) as kubeconfig:
            require_cluster_serves(
                spec, plan, read_cluster(spec, kubeconfig, provider.get("context")), creates
            )
    except ConfigError as err:
        # Not caught by the program as a V4InfraError: the text keeps its class for the lifecycle.
        raise pulumi.RunError(carried(err)) from None


@contextlib.contextmanager
def _kubeconfig(value: str | None) -> Iterator[Path | None]:
    """`kubernetes:kubeconfig` as the provider takes it: a path, or the file's contents (written to a
    private temporary file for kubectl, removed after)."""
    if not value:
        yield None
        return
    if "\n" not in value and Path(value).expanduser().is_file():
        yield Path(value).expanduser()
        return
    fd, name = tempfile.mkstemp(prefix="v4infra-kubeconfig-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value)
        yield Path(name)
    finally:
        os.unlink(name)
