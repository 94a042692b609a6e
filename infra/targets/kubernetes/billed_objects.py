"""What a Kubernetes stack bills, and removing it: every object labelled with the project and the stack.

What is billed is every object labelled `app.kubernetes.io/part-of=deepseek-v4-infra,
app.kubernetes.io/instance=<stack>` that this tool manages, a LeaderWorkerSet group's pods included
(billed under their LeaderWorkerSet). Removing one that is already gone counts as removed.
"""

from __future__ import annotations

import contextlib

from infra.errors import ProviderError
from infra.targets.base import Billed
from infra.targets.kubernetes.engine_pods import LWS_NAME_LABEL
from infra.targets.kubernetes.kubectl import Kubectl
from infra.targets.kubernetes.manifests import MANAGED_BY, PART_OF

# What `billed` lists, as kubectl names them; pods only when nothing owns them (owned ones go with their owner).
KINDS: dict[str, str] = {
    "Namespace": "namespaces",
    "Deployment": "deployments.apps",
    "Job": "jobs.batch",
    "Service": "services",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "NetworkPolicy": "networkpolicies.networking.k8s.io",
    "ServiceAccount": "serviceaccounts",
    "Role": "roles.rbac.authorization.k8s.io",
    "RoleBinding": "rolebindings.rbac.authorization.k8s.io",
    "Pod": "pods",
}
# CRDs a stack may use; a cluster without them simply has none.
OPTIONAL_KINDS: dict[str, str] = {
    "NodePool": "nodepools.karpenter.sh",
    "LeaderWorkerSet": "leaderworkersets.leaderworkerset.x-k8s.io",
}
# Kept between runs with the weight cache (keepCache): the PVC and the namespace that holds it.
CACHE_KINDS = ("PersistentVolumeClaim", "Namespace")


def billed_objects(kubectl: Kubectl, stack: str, keep_cache: bool, include_cache: bool) -> list[Billed]:
    """The stack's billed objects; those kept with the cache (keepCache) only when `include_cache`."""
    selector = f"app.kubernetes.io/part-of={PART_OF},app.kubernetes.io/instance={stack}"
    items = list(kubectl.json("get", ",".join(KINDS.values()), "-A", "-l", selector).get("items") or [])
    for kind in OPTIONAL_KINDS.values():
        with contextlib.suppress(ProviderError):
            items += kubectl.json("get", kind, "-A", "-l", selector).get("items") or []
    found = []
    for item in items:
        meta = item["metadata"]
        labels = meta.get("labels") or {}
        if labels.get("app.kubernetes.io/managed-by") not in (MANAGED_BY, None):
            continue
        if item["kind"] == "Pod" and labels.get(LWS_NAME_LABEL):
            # A group's pod holds a GPU node until it is gone, deleting or not. It is billed under its
            # LeaderWorkerSet, which the state records: left over once that is destroyed.
            owner = f"{meta['namespace']}/{labels[LWS_NAME_LABEL]}"
            found.append(Billed("Pod", owner, str(meta["name"])))
            continue
        if (item["kind"] == "Pod" and meta.get("ownerReferences")) or meta.get("deletionTimestamp"):
            continue  # goes with its owner, or is already on its way out
        namespace = meta.get("namespace")
        rid = f"{namespace}/{meta['name']}" if namespace else str(meta["name"])
        cache = item["kind"] in CACHE_KINDS and keep_cache
        if include_cache or not cache:
            found.append(Billed(item["kind"], rid, str(meta["name"]), cache=cache))
    return found


def remove_object(kubectl: Kubectl, item: Billed) -> None:
    """Delete one billed object without waiting; one already gone counts as removed."""
    kind = KINDS.get(item.kind) or OPTIONAL_KINDS.get(item.kind) or item.kind
    # The id names the namespace; the name is the object's own (a group's pod is billed under its LWS).
    namespace = item.id.rpartition("/")[0]
    where = ["-n", namespace] if namespace else []
    kubectl("delete", kind, item.name, *where, "--ignore-not-found", "--wait=false")
