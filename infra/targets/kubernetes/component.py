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
HF_SECRET = "secret-hf-token"
API_SECRET = "secret-api-key"
CLOUD_POOL = "cloud-pool"
# What each object waits for, by file stem: the download before the engine, RBAC before the reaper.
AFTER: dict[str, tuple[str, ...]] = {
    "job-model-download": ("pvc-model-cache", "configmap-weights", HF_SECRET),
    "deployment-engine": ("job-model-download", API_SECRET, CLOUD_POOL, "daemonset-nvidia-device-plugin"),
    "leaderworkerset-engine": (
        "job-model-download",
        API_SECRET,
        CLOUD_POOL,
        "daemonset-nvidia-device-plugin",
    ),
    "daemonset-nvidia-device-plugin": (CLOUD_POOL,),
    "job-reaper": ("serviceaccount-reaper", "role-reaper", "rolebinding-reaper", "configmap-reaper"),
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
        manifests = render_manifests(spec, plan)
        created: dict[str, pulumi.Resource] = {}
        namespace = manifests[0]
        created[_stem(namespace)] = self._apply(name, namespace, spec, plan, [])
        # GKE node pool / EKS node group: a cloud resource the engine's pod waits for.
        pool = create_cloud_pool(
            name, spec, plan, spec.catalog.gpu(plan.gpu), pulumi.ResourceOptions(parent=self)
        )
        if pool is not None:
            created[CLOUD_POOL] = pool

        def secret(stem: str, secret_name: str, key: str, value: pulumi.Input[str]) -> None:
            created[stem] = k8s.core.v1.Secret(
                f"{name}-{stem}",
                metadata={
                    "name": secret_name,
                    "namespace": spec.namespace,
                    "labels": labels(spec, "server"),
                },
                type="Opaque",
                string_data={key: pulumi.Output.secret(value)},
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[created["namespace"]],
                    additional_secret_outputs=["data", "stringData"],
                ),
            )

        if args.hf_token is not None:
            secret(HF_SECRET, HF_TOKEN_SECRET, HF_TOKEN_KEY, args.hf_token)
        key: pulumi.Input[str] = (
            args.api_key or GeneratedApiKey(f"{name}-api-key", pulumi.ResourceOptions(parent=self)).value
        )
        secret(API_SECRET, API_KEY_SECRET, API_KEY_KEY, key)

        for manifest in manifests[1:]:
            namespaced = "namespace" in manifest.obj["metadata"]
            after = [created["namespace"]] if namespaced else []
            after += [created[s] for s in AFTER.get(_stem(manifest), ()) if s in created]
            created[_stem(manifest)] = self._apply(name, manifest, spec, plan, after)

        self.endpoint = pulumi.Output.from_input(endpoint(spec, plan))
        self.namespace = pulumi.Output.from_input(spec.namespace)
        self.api_key = pulumi.Output.secret(key)
        self.resources = created
        self.register_outputs(
            {"endpoint": self.endpoint, "namespace": self.namespace, "api_key": self.api_key}
        )

    def _apply(
        self, name: str, manifest: Manifest, spec: StackSpec, plan: Plan, after: list[pulumi.Resource]
    ) -> pulumi.CustomResource:
        obj = manifest.obj
        opts = pulumi.ResourceOptions(
            parent=self,
            depends_on=after,
            custom_timeouts=_timeouts(manifest, spec, plan),
            # keepCache: destroy leaves the cache (and its namespace); the next up adopts them.
            retain_on_delete=spec.keep_cache and obj["kind"] in ("Namespace", "PersistentVolumeClaim"),
        )
        child = f"{name}-{_stem(manifest)}"
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


def _stem(manifest: Manifest) -> str:
    """`30-job-model-download.yaml` -> `job-model-download`."""
    return manifest.filename.split("-", 1)[1].removesuffix(".yaml")


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _timeouts(manifest: Manifest, spec: StackSpec, plan: Plan) -> pulumi.CustomTimeouts | None:
    """Pulumi waits for a Job to finish and a Deployment to be ready: as long as a download or a load."""
    if manifest.kind == "Job" and _stem(manifest) == "job-model-download":
        minutes = download_deadline_minutes(spec, plan) + 10
    elif manifest.kind == "Deployment":
        # Model load plus pulling a multi-GB engine image.
        minutes = plan.load_minutes + 30
    else:
        return None
    return pulumi.CustomTimeouts(create=f"{minutes}m", update=f"{minutes}m")
