"""The local Kubernetes control plane for tests (infra/emulator/local_cluster.py).

One control plane per test session; each test works in its own namespaces. Without the tools built, the
tests fail with the command that builds them (never skipped).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
import yaml

from infra.emulator.local_cluster import LocalCluster, ToolsMissing


def labels(stack: str, component: str = "server") -> dict[str, str]:
    """The labels the renderer puts on a stack's objects (infra/targets/kubernetes/labels)."""
    return {
        "app.kubernetes.io/name": "deepseek-v4",
        "app.kubernetes.io/instance": stack,
        "app.kubernetes.io/part-of": "deepseek-v4-infra",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "v4infra",
    }


def tools_missing(message: str) -> NoReturn:
    """A missing tool fails the test with what to run: `make test` builds every tool, so none is skipped."""
    pytest.fail(
        f"{message} (these tests are never skipped; `make tools` builds what they need)", pytrace=False
    )


def start_local_cluster(workdir: Path) -> Iterator[LocalCluster]:
    """Start a control plane under `workdir`, yield it, stop it."""
    try:
        cluster = LocalCluster(workdir).start()
    except ToolsMissing as err:
        tools_missing(str(err))
    try:
        yield cluster
    finally:
        cluster.stop()


def stack_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stack: str, overrides: dict[str, object]
) -> Path:
    """A copy of the project (V4INFRA_ROOT) whose stack file has `overrides` set, e.g. the local cluster's
    StorageClass and a namespace of the test's own."""
    from infra.config import PROJECT, project_root
    from infra.workspace import copy_project

    work = copy_project(project_root(), tmp_path / "project")
    path = work / "stacks" / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["config"].update({f"{PROJECT}:{k}": v for k, v in overrides.items()})
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("V4INFRA_ROOT", str(work))
    return work


def wait_for(what: str, ready: Callable[[], bool], timeout_s: float = 300.0) -> None:
    """Poll `ready` until it holds; generous deadline for a busy 2-core machine."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f}s")
        time.sleep(0.5)


def namespace_gone(cluster: LocalCluster, namespace: str) -> bool:
    return cluster.api(f"/api/v1/namespaces/{namespace}")[0] == 404


def delete_namespace(cluster: LocalCluster, namespace: str) -> None:
    """Remove a test's namespace and wait until the namespace controller has emptied and removed it."""
    cluster.kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=false")
    wait_for(f"namespace {namespace} deleted", lambda: namespace_gone(cluster, namespace))
