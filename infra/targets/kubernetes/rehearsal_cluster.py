"""The local control plane fitted to one stack: what the cloud cluster the stack is written for would have.

    fit_cluster(cluster, plan)       for a two-node stack: LWS's CRD and the stand-in LeaderWorkerSet
                                     controller (infra.emulator.lws_controller), a fake GPU node for each
                                     node of the plan, and a ReadWriteMany class with an NFS volume that
                                     nothing mounts (kwok runs no container, so nothing reads it)
    fit_stack_copy(project, stack)   the rehearsal's copy of the stack: that class (or the control plane's
                                     own), and `existing` nodes, since no Karpenter, GKE or EKS runs here

Each returns one line per change, for the rehearsal's log.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import yaml

from infra.config import PROJECT, project_root
from infra.emulator.local_cluster import STORAGE_CLASS, LocalCluster, fake_nodes, gpu_node_name
from infra.errors import ConfigError
from infra.plan import Plan
from infra.targets.kubernetes.shared_storage import STATIC_PROVISIONER

# Vendored verbatim from sigs.k8s.io/lws v0.8.0 (config/crd/bases); the tests judge the render with it too.
LWS_CRD = Path("tests/fixtures/crds/leaderworkerset.x-k8s.io_leaderworkersets.yaml")
RWX_CLASS = "rehearsal-nfs"
# Larger than any cache the plans size: a claim binds to a volume at least as large as it asks.
RWX_CAPACITY = "64Ti"
NODE_POOL_KEY = f"{PROJECT}:nodePool"
STORAGE_CLASS_KEY = f"{PROJECT}:storageClass"


def lws_crd() -> Path:
    """LWS's own CRD in the source checkout; a clear line where it is missing."""
    path = project_root() / LWS_CRD
    if not path.is_file():
        raise ConfigError(
            f"a two-node rehearsal needs LeaderWorkerSet's CRD at {path}: run it from a source checkout "
            "of deepseek-v4-infra (the wheel does not ship the tests' fixtures)"
        )
    return path


def fit_cluster(cluster: LocalCluster, plan: Plan) -> list[str]:
    """Give the control plane what `plan` needs beyond its defaults; does nothing twice."""
    if plan.nodes < 2:
        return []
    from infra.emulator import lws_controller

    lines = []
    if lws_controller.PROCESS_NAME not in cluster.processes:
        lws_controller.start(cluster, lws_crd())
        lines.append(
            "runs under a stand-in LeaderWorkerSet controller (LWS v0.8.0's CRD installed; the real "
            "controller cannot be built here)"
        )
    added = add_gpu_nodes(cluster, plan.gpu, plan.nodes)
    if added:
        lines.append(f"gets fake GPU node(s) {', '.join(added)}: one {plan.gpu} node per pod of the group")
    volume = add_rwx_volume(cluster)
    if volume:
        lines.append(
            f"gets StorageClass {RWX_CLASS} with ReadWriteMany NFS volume {volume} for the weight cache "
            "(nothing serves or mounts it: kwok runs no container)"
        )
    return lines


def add_gpu_nodes(cluster: LocalCluster, gpu: str, count: int) -> list[str]:
    """Fake 8-GPU nodes of `gpu` until there are `count`, shaped like the control plane's first one."""
    first = next((n for n in fake_nodes() if n["metadata"]["name"] == gpu_node_name(gpu)), None)
    if first is None:
        raise ConfigError(f"the local control plane has no fake {gpu} node to copy")
    existing = {n["metadata"]["name"] for n in cluster.get_json("nodes").get("items") or []}
    added = []
    for index in range(count):
        name = gpu_node_name(gpu).removesuffix("-0") + f"-{index}"
        if name in existing:
            continue
        node = copy.deepcopy(first)
        node["metadata"]["name"] = name
        node["metadata"]["labels"]["kubernetes.io/hostname"] = name
        added.append(name)
        cluster.apply([node])
    if added:
        _wait_ready(cluster, added)
    return added


def _wait_ready(cluster: LocalCluster, names: list[str], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        nodes = {n["metadata"]["name"]: n for n in cluster.get_json("nodes").get("items") or []}
        if all(
            any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in nodes.get(n, {}).get("status", {}).get("conditions", [])
            )
            for n in names
        ):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"fake GPU node(s) {', '.join(names)} not Ready within {timeout_s:.0f}s")
        time.sleep(0.5)


def add_rwx_volume(cluster: LocalCluster) -> str | None:
    """The ReadWriteMany class and one Available volume of it (a new one once the last is bound)."""
    volumes = cluster.get_json("persistentvolumes").get("items") or []
    ours = [v for v in volumes if v["spec"].get("storageClassName") == RWX_CLASS]
    if any((v.get("status") or {}).get("phase") == "Available" for v in ours):
        return None
    name = f"{RWX_CLASS}-{len(ours)}"
    cluster.apply([rwx_class(), rwx_volume(name)])
    return name


def rwx_class() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": RWX_CLASS},
        "provisioner": STATIC_PROVISIONER,
        "reclaimPolicy": "Retain",
        "volumeBindingMode": "Immediate",
    }


def rwx_volume(name: str) -> dict[str, Any]:
    """An NFS volume: file storage every node may mount at once, as EFS or Filestore would be."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "storageClassName": RWX_CLASS,
            "capacity": {"storage": RWX_CAPACITY},
            "accessModes": ["ReadWriteMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "nfs": {"server": "127.0.0.1", "path": f"/{name}"},
        },
    }


def fit_stack_copy(project: Path, stack: str, plan: Plan) -> list[str]:
    """Point the rehearsal's copy of the stack at what the control plane has; one line per change."""
    path = project / "stacks" / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    config: dict[str, Any] = doc["config"]
    lines = []
    want = RWX_CLASS if plan.nodes > 1 else STORAGE_CLASS
    was = config.get(STORAGE_CLASS_KEY)
    if was != want:
        config[STORAGE_CLASS_KEY] = want
        what = "a ReadWriteMany class" if plan.nodes > 1 else "the local control plane's class"
        lines.append(f"storageClass {was or '(default)'} -> {want}, {what}")
    pool = config.get(NODE_POOL_KEY)
    if pool not in (None, "existing"):
        config[NODE_POOL_KEY] = "existing"
        lines.append(
            f"nodePool {pool} -> existing: no {pool} controller runs here; kwok's fake GPU nodes serve"
        )
    if lines:
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return lines
