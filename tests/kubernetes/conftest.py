"""Fixtures of the Kubernetes tests (the local control plane's is in tests/conftest.py)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_mocks import Recorder, install_recorder
from kube import wait_for
from kube_target import GROUP_STACK, group_running

from infra.config import load_stack
from infra.emulator.local_cluster import LocalCluster
from infra.planner import plan
from infra.targets.base import Credentials, TargetContext
from infra.targets.kubernetes.target import KubernetesTarget


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Mocks that also keep each registration's parent, dependencies and raw (secret-marked) inputs."""
    return install_recorder(monkeypatch)


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
