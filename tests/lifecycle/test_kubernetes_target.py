"""The Kubernetes lifecycle target against a real kube-apiserver (the local control plane, kwok GPU nodes).

The GPU preflight reads what the scheduler and the node say; `billed` finds this project's objects of one
stack by label and nothing else; `remove` counts an object already gone as removed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube import delete_namespace, wait_for

from infra.config import load_stack
from infra.emulator.local_cluster import LocalCluster
from infra.planner import plan
from infra.targets.base import Billed, Credentials, TargetContext
from infra.targets.kubernetes.target import KubernetesTarget

pytestmark = pytest.mark.kube
STACK = "k8s-flash-4xh200"


def labels(stack: str, component: str = "server") -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "deepseek-v4",
        "app.kubernetes.io/instance": stack,
        "app.kubernetes.io/part-of": "deepseek-v4-infra",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "v4infra",
    }


def engine_pod(namespace: str, stack: str, gpus: int, product: str = "NVIDIA-H200") -> dict[str, Any]:
    """A pod shaped like the rendered engine: GPU limit, product node selector, GPU taint toleration."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "vllm-0", "namespace": namespace, "labels": labels(stack)},
        "spec": {
            "nodeSelector": {"nvidia.com/gpu.product": product},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [
                {
                    "name": "vllm",
                    "image": "vllm/vllm-openai:v0.25.0",
                    "resources": {"limits": {"nvidia.com/gpu": gpus}},
                }
            ],
        },
    }


@pytest.fixture
def namespace(kube_cluster: LocalCluster) -> Iterator[str]:
    name = f"v4i-test-{secrets.token_hex(3)}"
    kube_cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        delete_namespace(kube_cluster, name)


def target_for(
    cluster: LocalCluster, namespace: str, stack: str = STACK, tmp: Path | None = None
) -> KubernetesTarget:
    spec = dataclasses.replace(load_stack(stack), namespace=namespace)
    context = TargetContext(
        spec=spec,
        plan=plan(spec.plan_request(), spec.catalog),
        env={**os.environ, **cluster.env()},
        credentials=Credentials(),
        state_dir=tmp or Path("/nonexistent"),
    )
    return KubernetesTarget(context)


def test_gpu_preflight_reads_the_engine_nodes_gpu_label_and_allocatable_gpus(
    kube_cluster: LocalCluster, namespace: str
) -> None:
    kube_cluster.apply([engine_pod(namespace, STACK, gpus=4)])
    target = target_for(kube_cluster, namespace)
    result = target.gpu_preflight(None, {})  # type: ignore[arg-type]
    assert result.passed, result.reason
    assert result.details["node"] == "kwok-h200-0"
    assert result.details["allocatable_gpus"] == 8 and result.details["pod_gpus"] == 4
    assert "4x NVIDIA-H200" in result.reason


def test_gpu_preflight_fails_when_the_pod_got_fewer_gpus_than_the_plan(
    kube_cluster: LocalCluster, namespace: str
) -> None:
    kube_cluster.apply([engine_pod(namespace, STACK, gpus=2)])
    result = target_for(kube_cluster, namespace).gpu_preflight(None, {})  # type: ignore[arg-type]
    assert not result.passed
    assert "2" in result.reason and "4" in result.reason, result.reason


def test_gpu_preflight_names_the_schedulers_reason_when_no_node_fits(
    kube_cluster: LocalCluster, namespace: str
) -> None:
    # 16 GPUs: no fake node has more than 8.
    kube_cluster.apply([engine_pod(namespace, STACK, gpus=16)])
    target = target_for(kube_cluster, namespace)
    target.schedule_wait_seconds = 20
    wait_for(
        "the scheduler's FailedScheduling event",
        lambda: bool(
            kube_cluster.get_json("events", "-n", namespace, "--field-selector", "reason=FailedScheduling")[
                "items"
            ]
        ),
    )
    result = target.gpu_preflight(None, {})  # type: ignore[arg-type]
    assert not result.passed
    assert "FailedScheduling" in result.reason and "nvidia.com/gpu" in result.reason, result.reason


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


def test_cleanup_removes_the_stacks_labelled_objects_no_state_owns(
    kube_cluster: LocalCluster, namespace: str, tmp_path: Path
) -> None:
    import subprocess
    import sys

    meta = {"name": "left-by-a-lost-state", "namespace": namespace, "labels": labels(STACK, "weights")}
    other = {**meta, "name": "another-stacks", "labels": labels("k8s-pro-8xh200", "weights")}
    kube_cluster.apply(
        [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": m, "data": {}} for m in (meta, other)]
    )
    (tmp_path / "backend").mkdir()
    env = {
        **os.environ,
        **kube_cluster.env(),
        "V4INFRA_STATE_DIR": str(tmp_path / "state"),
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": "kube-cleanup-tests",
    }

    def cleanup(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "infra", "cleanup", STACK, *args],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
        return done.stdout

    listed = cleanup()
    assert f"found ConfigMap left-by-a-lost-state ({namespace}/left-by-a-lost-state)" in listed, listed
    assert "another-stacks" not in listed
    cleanup("--yes")
    names = {c["metadata"]["name"] for c in kube_cluster.get_json("configmaps", "-n", namespace)["items"]}
    assert "left-by-a-lost-state" not in names and "another-stacks" in names


# --- a two-node stack: one LeaderWorkerSet group (the stand-in controller makes its pods) ---------------

GROUP_STACK = "k8s-pro-2x8xh100"


@pytest.fixture
def group(kube_cluster: LocalCluster, namespace: str) -> Iterator[KubernetesTarget]:
    """The rendered two-node stack applied to the session's control plane, with the stand-in LWS
    controller, two fake H100 nodes and a shared volume; its leader and worker Running."""
    from infra.emulator import lws_controller
    from infra.targets.kubernetes.manifests import render_manifests
    from infra.targets.kubernetes.rehearsal_cluster import (
        RWX_CLASS,
        add_gpu_nodes,
        add_rwx_volume,
        lws_crd,
    )

    lws_controller.start(kube_cluster, lws_crd())
    add_gpu_nodes(kube_cluster, "H100-SXM", 2)
    add_rwx_volume(kube_cluster)
    spec = dataclasses.replace(
        load_stack(GROUP_STACK), namespace=namespace, storage_class=RWX_CLASS, node_pool="existing"
    )
    p = plan(spec.plan_request(), spec.catalog)
    kube_cluster.apply([m.obj for m in render_manifests(spec, p) if m.kind != "Namespace"])
    target = KubernetesTarget(
        TargetContext(
            spec=spec,
            plan=p,
            env={**os.environ, **kube_cluster.env()},
            credentials=Credentials(),
            state_dir=Path("/nonexistent"),
        )
    )
    wait_for("the group's two pods Running", lambda: group_running(target))
    try:
        yield target
    finally:
        kube_cluster.kubectl("delete", "leaderworkerset", "--all", "-n", namespace, "--ignore-not-found")
        kube_cluster.kubectl("delete", "storageclass", RWX_CLASS, "--ignore-not-found")
        for pv in kube_cluster.get_json("persistentvolumes").get("items") or []:
            if pv["spec"].get("storageClassName") == RWX_CLASS:
                kube_cluster.kubectl("delete", "pv", pv["metadata"]["name"], "--wait=false")


def group_running(target: KubernetesTarget) -> bool:
    members = target.engine_group()
    return members.complete and all(p.phase == "Running" and p.node for p in members.live)


def test_the_gpu_preflight_judges_every_node_of_the_group(group: KubernetesTarget) -> None:
    result = group.gpu_preflight(None, {})  # type: ignore[arg-type]
    assert result.passed, result.reason
    nodes = result.details["nodes"]
    assert isinstance(nodes, list)
    assert [(n["role"], n["pod"]) for n in nodes] == [
        ("leader", "vllm-group-0"),
        ("worker 1", "vllm-group-0-1"),
    ]
    assert len({n["node"] for n in nodes}) == 2 and all(n["pod_gpus"] == 8 for n in nodes)
    assert result.reason.startswith("2 nodes, one pod each: leader vllm-group-0 on kwok-h100-sxm-")
    # The engine's Service, and so the API checks, reach the leader.
    assert group.engine_pod() is not None and group.engine_pod().name == "vllm-group-0"  # type: ignore[union-attr]


def test_a_dead_worker_fails_the_run_as_a_dead_pod_does(
    group: KubernetesTarget, kube_cluster: LocalCluster
) -> None:
    assert group.gpu_preflight(None, {}).passed  # type: ignore[arg-type]
    assert group.alive({})
    logs = group.logs(None, {})  # type: ignore[arg-type]
    logs.read_new()
    crashed = {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "vllm", "image": "vllm/vllm-openai:v0.25.0", "imageID": "", "ready": False, "restartCount": 1,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
            }
        ],
    }  # fmt: skip
    kube_cluster.kubectl(
        "patch", "pod", "vllm-group-0-1", "-n", group.namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": crashed}),
    )  # fmt: skip
    # Dead, or already replaced with the rest of its group (RecreateGroupOnPodRestart): either way the
    # engine the checks were talking to is gone.
    wait_for("the run to see the group broken", lambda: not group.alive({}), timeout_s=60)
    lines: list[str] = []
    wait_for("a line saying why", lambda: bool(lines.extend(logs.read_new()) or _said(lines)), timeout_s=60)
    # Once the controller has made a new group, it is still not the engine that was judged.
    wait_for(
        "the group recreated",
        lambda: group_running(group) and group.engine_group().uids() != group.judged_members,
    )
    assert not group.alive({})


def _said(lines: list[str]) -> bool:
    return any(
        "MemberStopped: worker 1 pod vllm-group-0-1" in line or "GroupRecreated" in line for line in lines
    )


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
