"""What each object of a Kubernetes stack waits for, declared on the object itself by kind and name.

Every object a stack can have is listed, the ones that wait for nothing with `()`: the objects the
templates render, the two Secrets and the cloud node pool the Pulumi component creates. A rendered object
missing here, or a required dependency the stack does not have, fails the render and `up` with one line
(dependency_graph.py); so does renaming an object in its template, since it is known by its name.

    Job model-download              PersistentVolumeClaim model-cache, ConfigMap weights-script (required);
                                    Secret hf-token when one is created (the token is optional)
    Deployment / LeaderWorkerSet    Job model-download, the cache, Secret vllm-api-key (required); the cloud
                                    node pool and the device plugin when the stack has them
    DaemonSet nvidia-device-plugin  the cloud node pool it runs on, when there is one
    Job reaper                      its ServiceAccount, Role, RoleBinding and ConfigMap reaper-script

Every namespaced object also waits for its Namespace.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from infra.config import StackSpec
from infra.plan import Plan
from infra.targets.kubernetes.dependency_graph import (
    Dependency,
    ObjectRef,
    StackObject,
    required,
    resolve,
    when_present,
)
from infra.targets.kubernetes.manifests import (
    API_KEY_SECRET,
    CACHE_PVC,
    HF_TOKEN_SECRET,
    Manifest,
    group_name,
    service_name,
)
from infra.targets.kubernetes.node_pools import pool_name

# The names the templates give their objects (the engine's come from the plan).
DOWNLOAD_JOB = "model-download"
WEIGHTS_CONFIGMAP = "weights-script"
DEVICE_PLUGIN = "nvidia-device-plugin"
REAPER = "reaper"
REAPER_CONFIGMAP = "reaper-script"
# The cloud pools are Pulumi resources of the clouds' providers (node_pools.py), named here like objects.
CLOUD_POOL_KINDS = {"gke": "GKE NodePool", "eks": "EKS NodeGroup"}

DOWNLOAD = ObjectRef("Job", DOWNLOAD_JOB)


def secret(name: str) -> ObjectRef:
    return ObjectRef("Secret", name)


def cloud_pool(spec: StackSpec) -> ObjectRef | None:
    """The GKE node pool or EKS node group the component creates; None for `karpenter` or `existing`."""
    kind = CLOUD_POOL_KINDS.get(spec.node_pool)
    return ObjectRef(kind, pool_name(spec)) if kind else None


def declared(spec: StackSpec, plan: Plan) -> dict[ObjectRef, tuple[Dependency, ...]]:
    """Every object the stack may have -> what it waits for."""
    pools = tuple(when_present(kind, pool_name(spec)) for kind in CLOUD_POOL_KINDS.values())
    engine_waits = (
        required("Job", DOWNLOAD_JOB),
        required("PersistentVolumeClaim", CACHE_PVC),
        required("Secret", API_KEY_SECRET),
        *pools,
        # On EKS the node group's GPUs are schedulable only once NVIDIA's plugin advertises them.
        when_present("DaemonSet", DEVICE_PLUGIN),
    )
    engine = service_name(plan)
    return {
        ObjectRef("Namespace", spec.namespace): (),
        ObjectRef("NodePool", pool_name(spec)): (),  # Karpenter's: the pending engine pod asks for nodes
        **{ObjectRef(kind, pool_name(spec)): () for kind in CLOUD_POOL_KINDS.values()},
        ObjectRef("DaemonSet", DEVICE_PLUGIN): pools,
        ObjectRef("PersistentVolumeClaim", CACHE_PVC): (),
        ObjectRef("ConfigMap", WEIGHTS_CONFIGMAP): (),
        secret(HF_TOKEN_SECRET): (),
        secret(API_KEY_SECRET): (),
        DOWNLOAD: (
            required("PersistentVolumeClaim", CACHE_PVC),
            required("ConfigMap", WEIGHTS_CONFIGMAP),
            # The Job reads the token as an optional reference: a public checkpoint needs none.
            when_present("Secret", HF_TOKEN_SECRET),
        ),
        # The engine starts once the weights are in the cache, never racing the download.
        ObjectRef("Deployment", engine): engine_waits,
        ObjectRef("LeaderWorkerSet", group_name(plan)): engine_waits,
        ObjectRef("Service", engine): (),
        ObjectRef("NetworkPolicy", engine): (),
        ObjectRef("ServiceAccount", REAPER): (),
        ObjectRef("Role", REAPER): (),
        ObjectRef("RoleBinding", REAPER): (),
        ObjectRef("ConfigMap", REAPER_CONFIGMAP): (),
        # Without its permissions the reaper cannot delete the namespace, and the GPUs keep billing.
        ObjectRef("Job", REAPER): (
            required("ServiceAccount", REAPER),
            required("Role", REAPER),
            required("RoleBinding", REAPER),
            required("ConfigMap", REAPER_CONFIGMAP),
        ),
    }


def stack_object(manifest: Manifest) -> StackObject:
    return StackObject(ObjectRef(manifest.kind, manifest.name), manifest.obj["metadata"].get("namespace"))


def in_dependency_order(
    spec: StackSpec, plan: Plan, manifests: Sequence[Manifest], outside: Collection[ObjectRef]
) -> list[Manifest]:
    """The manifests, each after what it waits for (render order where free); ConfigError when one is
    missing. `outside`: what the stack relies on but the manifests do not hold (Secrets applied by hand)."""
    by_ref = {ObjectRef(m.kind, m.name): m for m in manifests}
    order = resolve(
        [stack_object(m) for m in manifests], declared(spec, plan), where=spec.source, outside=outside
    )
    return [by_ref[ref] for ref in order]
