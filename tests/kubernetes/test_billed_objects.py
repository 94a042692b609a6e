"""What a Kubernetes stack bills, against a real kube-apiserver: `billed` finds this project's objects of
one stack by label and nothing else; `remove` counts an object already gone as removed."""

from __future__ import annotations

from typing import Any

import pytest
from kube import labels, wait_for
from kube_target import GROUP_STACK, STACK, engine_pod, target_for

from infra.emulator.local_cluster import LocalCluster
from infra.targets.base import Billed
from infra.targets.kubernetes.target import KubernetesTarget

pytestmark = pytest.mark.kube


def test_billed_lists_this_stacks_labelled_objects_only_and_remove_is_idempotent(
    kube_cluster: LocalCluster, namespace: str
) -> None:
    def configmap(name: str, stack: str) -> dict[str, Any]:
        meta = {"name": name, "namespace": namespace, "labels": labels(stack, "weights")}
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {}}

    owned_pod = engine_pod(namespace, STACK, gpus=1)
    owned_pod["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "ours",
            "uid": "00000000-0000-0000-0000-000000000001",
        }
    ]
    kube_cluster.apply([configmap("ours", STACK), configmap("theirs", "k8s-pro-8xh200"), owned_pod])
    kube_cluster.kubectl("create", "configmap", "unlabelled", "-n", namespace)
    target = target_for(kube_cluster, namespace)

    found = target.billed(STACK, include_cache=True)
    assert found == [Billed("ConfigMap", f"{namespace}/ours", "ours")], found

    target.remove(found[0])
    target.remove(found[0])  # already gone: removed, no error
    assert target.billed(STACK, include_cache=True) == []
    names = {c["metadata"]["name"] for c in kube_cluster.get_json("configmaps", "-n", namespace)["items"]}
    assert {"theirs", "unlabelled"} <= names


def test_group_pods_are_billed_under_their_leaderworkerset_and_removing_it_leaves_none(
    group: KubernetesTarget,
) -> None:
    stack, ns = GROUP_STACK, group.namespace
    billed = group.billed(stack, include_cache=True)
    lws = Billed("LeaderWorkerSet", f"{ns}/vllm-group", "vllm-group")
    assert lws in billed
    pods = sorted(b.name for b in billed if b.kind == "Pod")
    assert pods == ["vllm-group-0", "vllm-group-0-1"]
    # Owned with the LeaderWorkerSet the state records: no stray while it lives.
    assert {b.id for b in billed if b.kind == "Pod"} == {lws.id}
    group.remove(lws)
    wait_for(
        "no group pod left",
        lambda: not [b for b in group.billed(stack, True) if b.kind in ("Pod", "LeaderWorkerSet")],
    )
