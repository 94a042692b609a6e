"""What a stack needs from a live cluster, checked through kubectl before anything is applied.

The API server accepts a stack the cluster cannot serve without a word: a PVC naming a StorageClass the
cluster lacks stays Pending forever, and so do the download Job and the engine behind it; a pod whose GPU
node does not exist waits unscheduled; a LeaderWorkerSet without its CRD is refused only after the
namespace, the cache and the download Job exist. So `up` reads the cluster first and refuses, creating
nothing, with one line naming what is missing and the command that fixes it:

    read_cluster(spec)                      StorageClasses, PersistentVolumes, nodes, CRDs, the Secrets' names
    refusals(spec, plan, cluster, creates)  what is missing, one line each (pure)
    require_cluster_serves(...)             both, raising ConfigError with the first

Secret values are never read: only the names of the namespace's Secrets (`kubectl get -o name`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config import PROJECT, StackSpec
from infra.errors import ConfigError
from infra.plan import Plan
from infra.targets.kubernetes.manifests import CACHE_PVC, cache_access_mode, cache_size_gi, render_manifests
from infra.targets.kubernetes.shared_storage import STATIC_PROVISIONER, check_class_provisioner

DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",  # older clusters still set the beta name
)
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_RESOURCE = "nvidia.com/gpu"
LWS_CRD = "leaderworkersets.leaderworkerset.x-k8s.io"
KARPENTER_CRD = "nodepools.karpenter.sh"
# How each is installed, from its own docs (read 2026-12-02): lws.sigs.k8s.io/docs/installation (v0.8.0,
# the version the render is validated against), karpenter.sh/docs/getting-started, and NVIDIA's GPU
# feature discovery (github.com/NVIDIA/k8s-device-plugin, "Deploying GPU Feature Discovery").
LWS_INSTALL = "kubectl apply --server-side -f https://github.com/kubernetes-sigs/lws/releases/download/v0.8.0/manifests.yaml"
KARPENTER_DOCS = "karpenter.sh/docs/getting-started"
GFD_INSTALL = "helm install gpu-feature-discovery nvdp/gpu-feature-discovery -n gpu-feature-discovery --create-namespace"
GIB = 2**30
_QUANTITY = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}  # fmt: skip


@dataclass(frozen=True)
class StorageClass:
    name: str
    provisioner: str
    default: bool


@dataclass(frozen=True)
class Volume:
    """A PersistentVolume: what a class with no provisioner can bind a claim to."""

    name: str
    storage_class: str
    access_modes: tuple[str, ...]
    capacity_bytes: int
    phase: str
    claim: str | None
    """`namespace/name` of the claim it is bound to (or reserved for)."""


@dataclass(frozen=True)
class Node:
    name: str
    product: str | None
    """GPU feature discovery's `nvidia.com/gpu.product` label."""
    gpus: int
    """Allocatable `nvidia.com/gpu` (the device plugin's count)."""


@dataclass(frozen=True)
class Cluster:
    """What the checks read of a cluster."""

    storage_classes: tuple[StorageClass, ...]
    volumes: tuple[Volume, ...]
    nodes: tuple[Node, ...]
    crds: frozenset[str]
    secrets: frozenset[str]
    """Names of the Secrets in the stack's namespace (none while it does not exist)."""


def kubectl_binary() -> str:
    """The kubectl `make tools` built (current API versions), else the one on PATH."""
    from infra.kube_tools import KubeTools, ToolsMissing

    try:
        return str(KubeTools.find().kubectl)
    except ToolsMissing:
        found = shutil.which("kubectl")
        if found is None:
            raise ConfigError("no kubectl: run `make tools` (it builds one) or install kubectl") from None
        return found


def _kubectl(args: list[str], kubeconfig: Path | None, context: str | None, what: str) -> str:
    argv = [kubectl_binary()]
    if kubeconfig is not None:
        argv.append(f"--kubeconfig={kubeconfig}")
    if context:
        argv.append(f"--context={context}")
    done = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=120, env=dict(os.environ))
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ConfigError(f"cannot list the cluster's {what} with kubectl: {first}")
    return done.stdout


def _items(args: list[str], kubeconfig: Path | None, context: str | None, what: str) -> list[dict[str, Any]]:
    return list(json.loads(_kubectl([*args, "-o", "json"], kubeconfig, context, what)).get("items") or [])


def storage_classes(kubeconfig: Path | None = None, context: str | None = None) -> list[StorageClass]:
    """The cluster's StorageClasses, read with the caller's kubeconfig (KUBECONFIG or ~/.kube/config)."""
    items = _items(["get", "storageclasses.storage.k8s.io"], kubeconfig, context, "StorageClasses")
    return [
        StorageClass(
            name=str(i["metadata"]["name"]),
            provisioner=str(i.get("provisioner", "")),
            default=any(
                (i["metadata"].get("annotations") or {}).get(a) == "true" for a in DEFAULT_CLASS_ANNOTATIONS
            ),
        )
        for i in items
    ]


def read_cluster(spec: StackSpec, kubeconfig: Path | None = None, context: str | None = None) -> Cluster:
    """Everything `refusals` judges, in a handful of reads."""
    volumes = []
    for item in _items(["get", "persistentvolumes"], kubeconfig, context, "PersistentVolumes"):
        pv = item.get("spec") or {}
        ref = pv.get("claimRef") or {}
        volumes.append(
            Volume(
                name=str(item["metadata"]["name"]),
                storage_class=str(pv.get("storageClassName") or ""),
                access_modes=tuple(pv.get("accessModes") or ()),
                capacity_bytes=quantity_bytes(str((pv.get("capacity") or {}).get("storage") or "0")),
                phase=str((item.get("status") or {}).get("phase") or ""),
                claim=f"{ref.get('namespace')}/{ref.get('name')}" if ref else None,
            )
        )
    nodes = [
        Node(
            name=str(n["metadata"]["name"]),
            product=(n["metadata"].get("labels") or {}).get(GPU_PRODUCT_LABEL),
            gpus=int(((n.get("status") or {}).get("allocatable") or {}).get(GPU_RESOURCE) or 0),
        )
        for n in _items(["get", "nodes"], kubeconfig, context, "nodes")
    ]
    crds = _kubectl(
        ["get", "customresourcedefinitions.apiextensions.k8s.io", "-o", "name"], kubeconfig, context, "CRDs"
    )
    # Names only: `-o name` never prints a Secret's data.
    secrets = _kubectl(
        ["get", "secrets", "-n", spec.namespace, "-o", "name", "--ignore-not-found"],
        kubeconfig,
        context,
        "Secrets",
    )
    return Cluster(
        storage_classes=tuple(storage_classes(kubeconfig, context)),
        volumes=tuple(volumes),
        nodes=tuple(nodes),
        crds=frozenset(line.rpartition("/")[2] for line in crds.split()),
        secrets=frozenset(line.rpartition("/")[2] for line in secrets.split()),
    )


def quantity_bytes(text: str) -> int:
    """A Kubernetes quantity (`100Gi`, `1T`, `5e9`) in bytes."""
    for suffix in sorted(_QUANTITY, key=len, reverse=True):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * _QUANTITY[suffix])
    return int(float(text or 0))


def check_storage_class(spec: StackSpec, classes: list[StorageClass]) -> StorageClass:
    """The class the weight cache will get; ConfigError naming the classes the cluster has, if none."""
    have = ", ".join(f"{c.name}{' (default)' if c.default else ''}" for c in classes) or "none"
    key = f"'{PROJECT}:storageClass'"
    fix = f"`pulumi config set -s {spec.stack} {PROJECT}:storageClass CLASS`"
    if spec.storage_class:
        for c in classes:
            if c.name == spec.storage_class:
                check_class_provisioner(spec, spec.nodes, c.name, c.provisioner)
                return c
        raise ConfigError(
            f"{spec.source}: StorageClass '{spec.storage_class}' does not exist in the cluster, so the weight "
            f"cache would stay Pending; the cluster has: {have}. Set {key} to one of them ({fix}), or create it."
        )
    defaults = [c for c in classes if c.default]
    if not defaults:
        raise ConfigError(
            f"{spec.source}: {key} is not set and the cluster has no default StorageClass, so the weight "
            f"cache would stay Pending; the cluster has: {have}. Set {key} to one of them ({fix})."
        )
    return defaults[0]


def refusals(spec: StackSpec, plan: Plan, cluster: Cluster, creates: frozenset[str]) -> list[str]:
    """Each reason the cluster cannot serve the render, one line each; [] when it can.

    `creates`: the Secrets the caller creates itself (`up` creates the API key, and the HF token when set)."""
    found: list[str] = []
    checks = (_storage, _gpu_nodes, _leaderworkerset, lambda s, p, c: _secrets(s, p, c, creates))
    for check in checks:
        try:
            found += check(spec, plan, cluster)
        except ConfigError as err:
            found.append(str(err))
    return found


def require_cluster_serves(spec: StackSpec, plan: Plan, cluster: Cluster, creates: frozenset[str]) -> None:
    """ConfigError with the first refusal (and how many more follow), before anything is created."""
    found = refusals(spec, plan, cluster, creates)
    if found:
        more = f" (+{len(found) - 1} more: {'; '.join(found[1:])})" if len(found) > 1 else ""
        raise ConfigError(f"the cluster cannot serve {spec.stack}, nothing was created: {found[0]}{more}")


def _storage(spec: StackSpec, plan: Plan, cluster: Cluster) -> list[str]:
    chosen = check_storage_class(spec, list(cluster.storage_classes))
    if chosen.provisioner != STATIC_PROVISIONER:
        return []
    # A class that provisions nothing binds a claim only to a volume made in advance.
    mode, size_gi = cache_access_mode(spec, plan), cache_size_gi(spec, plan)
    claim = f"{spec.namespace}/{CACHE_PVC}"
    fits = [
        v
        for v in cluster.volumes
        if v.storage_class == chosen.name
        and mode in v.access_modes
        and v.capacity_bytes >= size_gi * GIB
        and (v.claim == claim or (v.phase == "Available" and v.claim is None))
    ]
    if fits:
        return []
    return [
        f"StorageClass '{chosen.name}' provisions nothing ({STATIC_PROVISIONER}) and no Available "
        f"PersistentVolume of that class offers {mode} with {size_gi} Gi, so the weight cache would stay "
        f"Pending: create one (`kubectl apply -f` a PersistentVolume with storageClassName {chosen.name}), "
        f"or set `pulumi config set -s {spec.stack} {PROJECT}:storageClass CLASS` to a provisioning class"
    ]


def _gpu_nodes(spec: StackSpec, plan: Plan, cluster: Cluster) -> list[str]:
    if spec.node_pool in ("gke", "eks"):
        return []  # the stack creates the pool, whose nodes carry the product label
    product = spec.catalog.gpu(plan.gpu).k8s_product_label
    labelled = [n for n in cluster.nodes if n.product == product]
    fit = [n for n in labelled if n.gpus >= plan.gpu_count]
    if spec.node_pool == "karpenter":
        # The engine selects the stack's NodePool by its label: only Karpenter makes such nodes.
        if KARPENTER_CRD in cluster.crds:
            return []
        return [
            f"nodePool karpenter, but the cluster has no Karpenter (CRD {KARPENTER_CRD} absent) to launch "
            f"{GPU_PRODUCT_LABEL}={product} nodes: install it ({KARPENTER_DOCS}), or label your GPU nodes "
            f"and `pulumi config set -s {spec.stack} {PROJECT}:nodePool existing`"
        ]
    if len(fit) >= plan.nodes:
        return []
    others = sorted({f"{n.product} ({n.gpus} GPUs)" for n in cluster.nodes if n.product})
    seen = (
        f"; the cluster's GPU nodes: {', '.join(others)}"
        if others
        else "; the cluster has no labelled GPU node"
    )
    need = f"{plan.nodes} nodes" if plan.nodes > 1 else "a node"
    short = (
        f" ({len(labelled)} labelled, {len(fit)} with {plan.gpu_count} allocatable {GPU_RESOURCE})"
        if labelled
        else ""
    )
    return [
        f"nodePool existing needs {need} labelled {GPU_PRODUCT_LABEL}={product} with {plan.gpu_count} "
        f"allocatable {GPU_RESOURCE}{short}{seen}: run GPU feature discovery and the NVIDIA device plugin on "
        f"them ({GFD_INSTALL}), or let the stack make them: "
        f"`pulumi config set -s {spec.stack} {PROJECT}:nodePool karpenter|gke|eks`"
    ]


def _leaderworkerset(spec: StackSpec, plan: Plan, cluster: Cluster) -> list[str]:
    if plan.nodes < 2 or LWS_CRD in cluster.crds:
        return []
    return [
        f"the {plan.nodes}-node engine is a LeaderWorkerSet, but the cluster has no LeaderWorkerSet CRD "
        f"({LWS_CRD}) or controller: install LWS ({LWS_INSTALL})"
    ]


def _secrets(spec: StackSpec, plan: Plan, cluster: Cluster, creates: frozenset[str]) -> list[str]:
    needed = sorted(
        {name for m in render_manifests(spec, plan) for name in required_secrets(m.obj)}
        - creates
        - cluster.secrets
    )
    return [
        f"Secret '{name}' is not in namespace {spec.namespace}, and the engine cannot start without it: "
        f"`v4infra secrets {spec.stack} | kubectl apply -f -`"
        for name in needed
    ]


def required_secrets(obj: Mapping[str, Any]) -> set[str]:
    """Secrets an object's pods cannot start without (references marked optional are left out)."""
    names: set[str] = set()
    for pod in _pod_specs(obj):
        for container in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]:
            for env in container.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref and not ref.get("optional"):
                    names.add(str(ref["name"]))
            for source in container.get("envFrom") or []:
                ref = source.get("secretRef")
                if ref and not ref.get("optional"):
                    names.add(str(ref["name"]))
        for volume in pod.get("volumes") or []:
            ref = volume.get("secret")
            if ref and not ref.get("optional"):
                names.add(str(ref["secretName"]))
    return names


def _pod_specs(obj: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    spec = obj.get("spec") or {}
    if obj.get("kind") in ("Deployment", "Job", "DaemonSet", "StatefulSet"):
        yield (spec.get("template") or {}).get("spec") or {}
    elif obj.get("kind") == "LeaderWorkerSet":
        template = spec.get("leaderWorkerTemplate") or {}
        for role in ("leaderTemplate", "workerTemplate"):
            if template.get(role):
                yield template[role].get("spec") or {}
