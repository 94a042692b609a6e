"""The Pulumi name of each object the Kubernetes component applies: `<stack>-<suffix>`, by kind and name.

A stack's state knows every object by this name, and a new name makes Pulumi delete the live object and
create it again (a finished model download included). The suffixes were once cut from the template file
names; they are written out here, as they were, so that renaming a template file renames nothing.
"""

from __future__ import annotations

from infra.config import StackSpec
from infra.errors import ConfigError
from infra.plan import Plan
from infra.targets.kubernetes.dependencies import (
    DEVICE_PLUGIN,
    DOWNLOAD_JOB,
    REAPER,
    REAPER_CONFIGMAP,
    WEIGHTS_CONFIGMAP,
    secret,
)
from infra.targets.kubernetes.dependency_graph import ObjectRef
from infra.targets.kubernetes.manifests import (
    API_KEY_SECRET,
    CACHE_PVC,
    HF_TOKEN_SECRET,
    group_name,
    service_name,
)
from infra.targets.kubernetes.node_pools import pool_name


def state_names(spec: StackSpec, plan: Plan) -> dict[ObjectRef, str]:
    """Every object the component may apply -> its child-name suffix (the cloud pools name themselves)."""
    engine = service_name(plan)
    return {
        ObjectRef("Namespace", spec.namespace): "namespace",
        ObjectRef("NodePool", pool_name(spec)): "nodepool-gpu",
        ObjectRef("DaemonSet", DEVICE_PLUGIN): "daemonset-nvidia-device-plugin",
        ObjectRef("PersistentVolumeClaim", CACHE_PVC): "pvc-model-cache",
        ObjectRef("ConfigMap", WEIGHTS_CONFIGMAP): "configmap-weights",
        secret(HF_TOKEN_SECRET): "secret-hf-token",
        secret(API_KEY_SECRET): "secret-api-key",
        ObjectRef("Job", DOWNLOAD_JOB): "job-model-download",
        ObjectRef("Deployment", engine): "deployment-engine",
        ObjectRef("LeaderWorkerSet", group_name(plan)): "leaderworkerset-engine",
        ObjectRef("Service", engine): "service-engine",
        ObjectRef("NetworkPolicy", engine): "networkpolicy-engine",
        ObjectRef("ServiceAccount", REAPER): "serviceaccount-reaper",
        ObjectRef("Role", REAPER): "role-reaper",
        ObjectRef("RoleBinding", REAPER): "rolebinding-reaper",
        ObjectRef("ConfigMap", REAPER_CONFIGMAP): "configmap-reaper",
        ObjectRef("Job", REAPER): "job-reaper",
    }


def state_name(names: dict[ObjectRef, str], ref: ObjectRef, where: str) -> str:
    if ref not in names:
        raise ConfigError(
            f"{where}: {ref} has no Pulumi name; give it one in infra/targets/kubernetes/state_names.py "
            "(never change one: the stack's state knows the object by it)"
        )
    return names[ref]
