"""`up` refuses, before creating anything, a cluster that cannot serve the render: against a real API server.

A control plane of this module's own (no CRD, class or node added by another test): `v4infra up` with the
real engine stops with one line and exit 2 when the StorageClass or the LeaderWorkerSet CRD is missing,
and creates nothing; the other refusals are read from the same API server by `read_cluster`.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kube import start_local_cluster, tools_missing

from infra import config
from infra.emulator.local_cluster import LocalCluster
from infra.planner import plan
from infra.targets.kubernetes.cluster_check import read_cluster, refusals
from infra.targets.kubernetes.rehearsal_cluster import RWX_CLASS, add_gpu_nodes, rwx_class, rwx_volume

pytestmark = [pytest.mark.kube, pytest.mark.timeout(1200)]
UP_CREATES = frozenset({"vllm-api-key"})
PASSPHRASE = "cluster-check-tests"


@pytest.fixture(scope="module")
def bare_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    yield from start_local_cluster(tmp_path_factory.mktemp("bare-kube"))


def project(tmp_path: Path, stack: str, overrides: dict[str, object]) -> Path:
    """A copy of the project whose stack file has `overrides` (the caller's V4INFRA_ROOT)."""
    from infra.workspace import copy_project

    work = copy_project(config.project_root(), tmp_path / "project")
    path = work / "stacks" / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["config"].update({f"{config.PROJECT}:{k}": v for k, v in overrides.items()})
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return work


def up(
    cluster: LocalCluster, tmp_path: Path, stack: str, overrides: dict[str, object]
) -> subprocess.CompletedProcess[str]:
    """`v4infra up STACK` as a user runs it, the real Pulumi engine against `cluster`."""
    if shutil.which("pulumi") is None:
        tools_missing("no `pulumi` CLI on PATH: run `make tools`, then `. tools/pulumi-env.sh`")
    backend = tmp_path / "backend"
    backend.mkdir()
    drop = ("PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_BACKEND_URL", "PULUMI_ACCESS_TOKEN", "CI", "HF_TOKEN")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        V4INFRA_ROOT=str(project(tmp_path, stack, overrides)),
        V4INFRA_STATE_DIR=str(tmp_path / "state"),
        KUBECONFIG=str(cluster.kubeconfig),
        PULUMI_BACKEND_URL=f"file://{backend}",
        PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        COLUMNS="300",
    )
    return subprocess.run(
        [sys.executable, "-m", "infra", "up", stack],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=900,
    )


def created_for(cluster: LocalCluster, stack: str) -> list[str]:
    """Every object labelled for the stack, and its namespace if it exists."""
    kinds = "namespaces,deployments,jobs,services,configmaps,secrets,persistentvolumeclaims,networkpolicies"
    found = cluster.get_json(kinds, "-A", "-l", f"app.kubernetes.io/instance={stack}")
    return [f"{i['kind']}/{i['metadata']['name']}" for i in found.get("items") or []]


def one_line_refusal(done: subprocess.CompletedProcess[str]) -> str:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output  # ConfigError: "nothing was created"
    assert "Traceback" not in output and "v4infra-error" not in output, output
    (line,) = [line for line in output.splitlines() if "the cluster cannot serve" in line]
    return line


@pytest.mark.engine
def test_up_on_a_cluster_without_the_stacks_storage_class_stops_with_one_line_and_creates_nothing(
    bare_cluster: LocalCluster, tmp_path: Path
) -> None:
    stack = "k8s-flash-4xh200"  # its class is efs-sc; the local control plane has `standard` only
    done = up(bare_cluster, tmp_path, stack, {"namespace": "check-no-class"})
    line = one_line_refusal(done)
    assert "StorageClass 'efs-sc' does not exist in the cluster" in line and "standard (default)" in line, (
        line
    )
    assert f"pulumi config set -s {stack} deepseek-v4-infra:storageClass CLASS" in line, line
    assert created_for(bare_cluster, stack) == []


@pytest.mark.engine
def test_up_of_a_two_node_stack_without_the_leaderworkerset_crd_stops_before_creating_anything(
    bare_cluster: LocalCluster, tmp_path: Path
) -> None:
    stack = "k8s-pro-2x8xh100"
    add_gpu_nodes(bare_cluster, "H100-SXM", 2)
    bare_cluster.apply([rwx_class(), rwx_volume(f"{RWX_CLASS}-check")])
    overrides = {"namespace": "check-no-lws", "storageClass": RWX_CLASS, "nodePool": "existing"}
    line = one_line_refusal(up(bare_cluster, tmp_path, stack, overrides))
    assert "leaderworkersets.leaderworkerset.x-k8s.io" in line and "lws/releases/download/v0.8.0" in line, (
        line
    )
    assert "(+" not in line, line  # the class, its volume and the two GPU nodes were all there
    assert created_for(bare_cluster, stack) == []


def spec_plan(stack: str, **overrides: object) -> tuple[config.StackSpec, object]:
    spec = dataclasses.replace(config.load_stack(stack), **overrides)  # type: ignore[arg-type]
    return spec, plan(spec.plan_request(), spec.catalog)


def test_the_other_refusals_as_read_from_the_api_server(
    bare_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(bare_cluster.kubeconfig))
    namespace = "check-live"

    def refused(spec: config.StackSpec, p: object, creates: frozenset[str] = UP_CREATES) -> list[str]:
        return refusals(spec, p, read_cluster(spec), creates)  # type: ignore[arg-type]

    # No GPU node of the plan's GPU (the fake nodes are H100 SXM and H200): the line names what there is.
    spec, p = spec_plan("k8s-flash-4xh200", namespace=namespace, storage_class="standard", gpu="H200-NVL")
    (line,) = refused(spec, p)
    assert "labelled nvidia.com/gpu.product=NVIDIA-H200-NVL" in line, line
    assert "NVIDIA-H200 (8 GPUs)" in line and "nodePool karpenter|gke|eks" in line, line
    # Karpenter's pool without Karpenter: nothing would make the NodePool's nodes.
    spec, p = spec_plan("k8s-pro-8xh200", namespace=namespace, storage_class="standard")
    (line,) = refused(spec, p)
    assert "no Karpenter" in line, line

    # A shared class that provisions nothing, and no volume of it yet; then one that fits.
    bare_cluster.apply([{**rwx_class(), "metadata": {"name": "static-only"}}])
    two = {"namespace": namespace, "storage_class": "static-only", "node_pool": "existing"}
    spec, p = spec_plan("k8s-pro-2x8xh100", **two)
    add_gpu_nodes(bare_cluster, "H100-SXM", 2)
    found = refused(spec, p)
    assert any("StorageClass 'static-only' provisions nothing" in f for f in found), found
    volume = rwx_volume("static-only-0")
    volume["spec"]["storageClassName"] = "static-only"
    bare_cluster.apply([volume])
    assert not any("static-only" in f for f in refused(spec, p))

    # One node's hostPath directory for a cache two nodes read.
    bare_cluster.apply(
        [
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": "node-local"},
                "provisioner": "kubernetes.io/host-path",
            }
        ]
    )
    spec, p = spec_plan("k8s-pro-2x8xh100", **{**two, "storage_class": "node-local"})
    assert any("one node's directory offering ReadWriteOnce only" in f for f in refused(spec, p))

    # A rendered directory applied by hand: the engine's API key Secret is missing until `v4infra secrets`.
    spec, p = spec_plan("k8s-flash-4xh200", namespace=namespace, storage_class="standard")
    bare_cluster.kubectl("create", "namespace", namespace)
    (line,) = refused(spec, p, creates=frozenset())
    assert "Secret 'vllm-api-key'" in line and "v4infra secrets k8s-flash-4xh200 | kubectl apply -f -" in line
    from infra.targets.kubernetes.secrets import secret_manifests

    text, _notes = secret_manifests(spec, None, "sk-cluster-check-0123456789")
    bare_cluster.kubectl("apply", "-f", "-", input=text)
    assert refused(spec, p, creates=frozenset()) == []
