"""The objects a LeaderWorkerSet implies: its leader and worker pods, as the leader and worker StatefulSets
and LWS's pod webhook make them (names, labels, group key, LWS_* environment, hostname and subdomain), and
the headless Service behind LWS_LEADER_ADDRESS. Pure: no API server. The [tags] cite LWS v0.8.0's sources
as listed in lws_controller.py."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from infra.emulator.lws_group import GroupSpec, owner_reference
from infra.emulator.lws_names import (
    GROUP_INDEX_LABEL,
    GROUP_KEY_LABEL,
    GROUP_SIZE_ENV,
    LEADER_ADDRESS_ENV,
    LEADER_NAME_ANNOTATION,
    NAME_LABEL,
    REVISION_LABEL,
    SIZE_ANNOTATION,
    STS_POD_INDEX_LABEL,
    STS_POD_NAME_LABEL,
    WORKER_INDEX_ENV,
    WORKER_INDEX_LABEL,
    group_key,
    leader_name,
    worker_name,
)


def leader_pod(group: GroupSpec, index: int) -> dict[str, Any]:
    """The leader of group `index`, as the leader StatefulSet and the pod webhook make it."""
    name = leader_name(group.name, index)
    labels = {
        # [lws] constructLeaderStatefulSetApplyConfiguration
        WORKER_INDEX_LABEL: "0",
        NAME_LABEL: group.name,
        REVISION_LABEL: group.revision,
        # [hook] Default: group index from the pod's ordinal, group key from its name
        GROUP_INDEX_LABEL: str(index),
        GROUP_KEY_LABEL: group_key(group.namespace, name),
    }
    annotations = {SIZE_ANNOTATION: str(group.size)}
    return _pod(group, group.leader_template, name, index, labels, annotations, group.owner())


def worker_pod(group: GroupSpec, leader: Mapping[str, Any], worker: int) -> dict[str, Any]:
    """Worker `worker` (1..size-1) of the leader's group, as its worker StatefulSet and the webhook make it."""
    leader_labels = leader["metadata"]["labels"]
    labels = {
        # [pod] constructWorkerStatefulSetApplyConfiguration: the leader's group index, key and revision
        GROUP_INDEX_LABEL: leader_labels[GROUP_INDEX_LABEL],
        NAME_LABEL: group.name,
        GROUP_KEY_LABEL: leader_labels[GROUP_KEY_LABEL],
        REVISION_LABEL: leader_labels[REVISION_LABEL],
        WORKER_INDEX_LABEL: str(worker),  # [hook] Default: the worker index is the pod's ordinal
    }
    leader_meta = leader["metadata"]
    annotations = {SIZE_ANNOTATION: str(group.size), LEADER_NAME_ANNOTATION: str(leader_meta["name"])}
    # [pod] the worker StatefulSet is owned by the leader pod: deleting the leader deletes its workers.
    owner = owner_reference("v1", "Pod", str(leader_meta["name"]), str(leader_meta["uid"]))
    name = worker_name(str(leader_meta["name"]), worker)
    return _pod(group, group.worker_template, name, worker, labels, annotations, owner)


def _pod(
    group: GroupSpec,
    template: Mapping[str, Any],
    name: str,
    ordinal: int,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    owner: Mapping[str, Any],
) -> dict[str, Any]:
    meta = template.get("metadata") or {}
    spec = copy.deepcopy(dict(template.get("spec") or {}))
    # A StatefulSet pod's hostname is its name and its subdomain the StatefulSet's Service: [pod] with
    # subdomainPolicy Shared (the default) both StatefulSets use the headless Service named after the LWS.
    spec["hostname"] = name
    spec["subdomain"] = group.name
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": group.namespace,
            "labels": {
                **(meta.get("labels") or {}),
                **labels,
                STS_POD_NAME_LABEL: name,
                STS_POD_INDEX_LABEL: str(ordinal),
            },
            "annotations": {**(meta.get("annotations") or {}), **annotations},
            "ownerReferences": [dict(owner)],
        },
        "spec": spec,
    }
    add_lws_env(pod)
    return pod


def add_lws_env(pod: dict[str, Any]) -> None:
    """[env] AddLWSVariables: LWS_LEADER_ADDRESS, LWS_GROUP_SIZE and LWS_WORKER_INDEX first in every
    container and init container; a container's own variable of the same name gives way to them."""
    labels, spec = pod["metadata"]["labels"], pod["spec"]
    address = (
        f"{labels[NAME_LABEL]}-{labels[GROUP_INDEX_LABEL]}.{spec['subdomain']}.{pod['metadata']['namespace']}"
    )
    injected = [
        {"name": LEADER_ADDRESS_ENV, "value": address},
        {"name": GROUP_SIZE_ENV, "value": pod["metadata"]["annotations"][SIZE_ANNOTATION]},
        {"name": WORKER_INDEX_ENV, "value": labels[WORKER_INDEX_LABEL]},
    ]
    names = {e["name"] for e in injected}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        container["env"] = [*injected, *(e for e in container.get("env") or [] if e["name"] not in names)]


def headless_service(group: GroupSpec) -> dict[str, Any]:
    """[lws] reconcileHeadlessServices (controller_utils CreateHeadlessServiceIfNotExists): the DNS name
    behind LWS_LEADER_ADDRESS, listing pods before they are ready so that workers find the leader."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": group.name,
            "namespace": group.namespace,
            "labels": {NAME_LABEL: group.name},
            "ownerReferences": [group.owner()],
        },
        "spec": {"clusterIP": "None", "selector": {NAME_LABEL: group.name}, "publishNotReadyAddresses": True},
    }
