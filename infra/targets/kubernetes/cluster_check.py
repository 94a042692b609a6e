"""What a stack needs from a live cluster, checked through kubectl before anything is applied.

A PVC naming a StorageClass the cluster lacks stays Pending forever, and so do the download Job and the
engine behind it; the API server accepts it without a word. So the class is looked up first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from infra.config import PROJECT, StackSpec
from infra.errors import ConfigError
from infra.targets.kubernetes.shared_storage import check_class_provisioner

DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",  # older clusters still set the beta name
)


@dataclass(frozen=True)
class StorageClass:
    name: str
    provisioner: str
    default: bool


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


def storage_classes(kubeconfig: Path | None = None, context: str | None = None) -> list[StorageClass]:
    """The cluster's StorageClasses, read with the caller's kubeconfig (KUBECONFIG or ~/.kube/config)."""
    argv = [kubectl_binary(), "get", "storageclasses.storage.k8s.io", "-o", "json"]
    if kubeconfig is not None:
        argv.insert(1, f"--kubeconfig={kubeconfig}")
    if context:
        argv.insert(1, f"--context={context}")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ConfigError(f"cannot list the cluster's StorageClasses with kubectl: {first}")
    items = json.loads(done.stdout).get("items", [])
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


def check_storage_class(spec: StackSpec, classes: list[StorageClass]) -> StorageClass:
    """The class the weight cache will get; ConfigError naming the classes the cluster has, if none."""
    have = ", ".join(f"{c.name}{' (default)' if c.default else ''}" for c in classes) or "none"
    key = f"'{PROJECT}:storageClass'"
    if spec.storage_class:
        for c in classes:
            if c.name == spec.storage_class:
                check_class_provisioner(spec, spec.nodes, c.name, c.provisioner)
                return c
        raise ConfigError(
            f"{spec.source}: StorageClass '{spec.storage_class}' does not exist in the cluster, so the weight "
            f"cache would stay Pending; the cluster has: {have}. Set {key} to one of them, or create it."
        )
    defaults = [c for c in classes if c.default]
    if not defaults:
        raise ConfigError(
            f"{spec.source}: {key} is not set and the cluster has no default StorageClass, so the weight "
            f"cache would stay Pending; the cluster has: {have}. Set {key} to one of them."
        )
    return defaults[0]
