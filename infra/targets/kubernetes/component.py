"""`KubernetesDeployment`: applies the rendered manifests, creates the Secrets, exports the endpoint."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.config import StackSpec
from infra.plan import Plan
from infra.targets.kubernetes.api_key import GeneratedApiKey
from infra.targets.kubernetes.dependencies import DOWNLOAD, cloud_pool, declared, secret, stack_object
from infra.targets.kubernetes.dependency_graph import ObjectRef, StackObject, resolve
from infra.targets.kubernetes.manifests import (
    API_KEY_KEY,
    API_KEY_SECRET,
    HF_TOKEN_KEY,
    HF_TOKEN_SECRET,
    Manifest,
    download_deadline_minutes,
    endpoint,
    labels,
    render_manifests,
)
from infra.targets.kubernetes.node_pools import create_cloud_pool
from infra.targets.kubernetes.state_names import state_name, state_names

TYPED: dict[tuple[str, str], Callable[..., pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "PersistentVolumeClaim"): k8s.core.v1.PersistentVolumeClaim,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("batch/v1", "Job"): k8s.batch.v1.Job,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "DaemonSet"): k8s.apps.v1.DaemonSet,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
}


@dataclass
class KubernetesDeploymentArgs:
    spec: StackSpec
    """The validated stack (namespace, storage, node pool, time-to-live)."""
    plan: Plan
    """A deployable plan; the manifests are rendered from it."""
    hf_token: pulumi.Input[str] | None = None
    """Hugging Face token for gated checkpoints; becomes Secret `hf-token`. None: no Secret."""
    api_key: pulumi.Input[str] | None = None
    """The engine's API key; None: generated once and kept in state as a secret."""


class KubernetesDeployment(pulumi.ComponentResource):
    """The stack's namespace, weight cache, download Job, engine, Service, policy, pool and reaper."""

    endpoint: pulumi.Output[str]
    namespace: pulumi.Output[str]
    api_key: pulumi.Output[str]

    def __init__(
        self, name: str, args: KubernetesDeploymentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deepseek-v4-infra:kubernetes:Deployment", name, None, opts)
        spec, plan = args.spec, args.plan
        manifests = {ObjectRef(m.kind, m.name): m for m in render_manifests(spec, plan)}
        rendered = [stack_object(m) for m in manifests.values()]
        pool = cloud_pool(spec)
        secrets = [HF_TOKEN_SECRET] if args.hf_token is not None else []
        secrets.append(API_KEY_SECRET)
        # Applied in this order wherever no dependency says otherwise: the namespace, the pool, the Secrets.
        objects = [
            rendered[0],
            *([StackObject(pool)] if pool is not None else []),
            *(StackObject(secret(s), spec.namespace) for s in secrets),
            *rendered[1:],
        ]
        # Checked whole before anything is registered: a missing dependency or name creates nothing.
        order = resolve(objects, declared(spec, plan), where=spec.source)
        names = state_names(spec, plan)
        child = {ref: f"{name}-{state_name(names, ref, spec.source)}" for ref in order if ref != pool}

        key: pulumi.Input[str] = (
            args.api_key or GeneratedApiKey(f"{name}-api-key", pulumi.ResourceOptions(parent=self)).value
        )
        values: dict[str, tuple[str, pulumi.Input[str]]] = {API_KEY_SECRET: (API_KEY_KEY, key)}
        if args.hf_token is not None:
            values[HF_TOKEN_SECRET] = (HF_TOKEN_KEY, args.hf_token)
        created: dict[ObjectRef, pulumi.Resource] = {}
        for ref, waits in order.items():
            after = [created[w] for w in waits]
            if ref == pool:
                # GKE node pool / EKS node group: a cloud resource the engine's pod waits for.
                made = create_cloud_pool(
                    name,
                    spec,
                    plan,
                    spec.catalog.gpu(plan.gpu),
                    pulumi.ResourceOptions(parent=self, depends_on=after),
                )
                assert made is not None, f"{pool} is created for nodePool {spec.node_pool}"
                created[ref] = made
            elif ref in manifests:
                created[ref] = self._apply(child[ref], manifests[ref], spec, plan, after)
            else:
                created[ref] = self._secret(child[ref], spec, ref.name, *values[ref.name], after)

        self.endpoint = pulumi.Output.from_input(endpoint(spec, plan))
        self.namespace = pulumi.Output.from_input(spec.namespace)
        self.api_key = pulumi.Output.secret(key)
        self.resources = created
        self.register_outputs(
            {"endpoint": self.endpoint, "namespace": self.namespace, "api_key": self.api_key}
        )

    def _secret(
        self,
        child: str,
        spec: StackSpec,
        secret_name: str,
        key: str,
        value: pulumi.Input[str],
        after: list[pulumi.Resource],
    ) -> pulumi.CustomResource:
        return k8s.core.v1.Secret(
            child,
            metadata={"name": secret_name, "namespace": spec.namespace, "labels": labels(spec, "server")},
            type="Opaque",
            string_data={key: pulumi.Output.secret(value)},
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=after, additional_secret_outputs=["data", "stringData"]
            ),
        )

    def _apply(
        self, child: str, manifest: Manifest, spec: StackSpec, plan: Plan, after: list[pulumi.Resource]
    ) -> pulumi.CustomResource:
        obj = manifest.obj
        opts = pulumi.ResourceOptions(
            parent=self,
            depends_on=after,
            custom_timeouts=_timeouts(manifest, spec, plan),
            # keepCache: destroy leaves the cache (and its namespace); the next up adopts them.
            retain_on_delete=spec.keep_cache and obj["kind"] in ("Namespace", "PersistentVolumeClaim"),
        )
        cls = TYPED.get((obj["apiVersion"], obj["kind"]))
        if cls is None:  # a CRD such as Karpenter's NodePool
            return k8s.apiextensions.CustomResource(
                child,
                api_version=obj["apiVersion"],
                kind=obj["kind"],
                metadata=obj["metadata"],
                spec=obj.get("spec"),
                opts=opts,
            )
        fields = {_snake(k): v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        return cls(child, opts=opts, **fields)


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _timeouts(manifest: Manifest, spec: StackSpec, plan: Plan) -> pulumi.CustomTimeouts | None:
    """Pulumi waits for a Job to finish and a Deployment to be ready: as long as a download or a load."""
    if ObjectRef(manifest.kind, manifest.name) == DOWNLOAD:
        minutes = download_deadline_minutes(spec, plan) + 10
    elif manifest.kind == "Deployment":
        # Model load plus pulling a multi-GB engine image.
        minutes = plan.load_minutes + 30
    else:
        return None
    return pulumi.CustomTimeouts(create=f"{minutes}m", update=f"{minutes}m")
