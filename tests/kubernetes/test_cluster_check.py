"""What `up` refuses before creating anything, judged on a cluster described by hand (pure, milliseconds).

The same checks against the real API server, through `v4infra up`, are in test_live_cluster_check.py.
"""

from __future__ import annotations

import dataclasses

import pytest

from infra import config
from infra.errors import ConfigError
from infra.planner import plan
from infra.targets.kubernetes.cluster_check import (
    LWS_CRD,
    Cluster,
    Node,
    StorageClass,
    Volume,
    quantity_bytes,
    refusals,
    require_cluster_serves,
    required_secrets,
)
from infra.targets.kubernetes.manifests import render_manifests

UP_CREATES = frozenset({"vllm-api-key"})
H200 = "NVIDIA-H200"
H100 = "NVIDIA-H100-80GB-HBM3"


def stack(name: str, **overrides: object) -> tuple[config.StackSpec, object]:
    spec = config.load_stack(name)
    spec = dataclasses.replace(spec, **overrides)  # type: ignore[arg-type]
    return spec, plan(spec.plan_request(), spec.catalog)


def cluster(
    classes: tuple[StorageClass, ...] = (StorageClass("efs-sc", "efs.csi.aws.com", False),),
    nodes: tuple[Node, ...] = (Node("gpu-0", H200, 8),),
    crds: frozenset[str] = frozenset(),
    volumes: tuple[Volume, ...] = (),
    secrets: frozenset[str] = frozenset(),
) -> Cluster:
    return Cluster(classes, volumes, nodes, crds, secrets)


def test_a_cluster_that_has_everything_is_not_refused() -> None:
    spec, p = stack("k8s-flash-4xh200")
    assert refusals(spec, p, cluster(), UP_CREATES) == []  # type: ignore[arg-type]


def test_a_missing_storage_class_is_refused_naming_the_classes_and_the_command() -> None:
    spec, p = stack("k8s-flash-4xh200")
    gp3 = StorageClass("gp3", "ebs.csi.aws.com", True)
    (line,) = refusals(spec, p, cluster(classes=(gp3,)), UP_CREATES)  # type: ignore[arg-type]
    assert "StorageClass 'efs-sc' does not exist in the cluster" in line
    assert "the cluster has: gp3 (default)" in line
    assert f"pulumi config set -s {spec.stack} deepseek-v4-infra:storageClass CLASS" in line
    with pytest.raises(ConfigError, match="nothing was created"):
        require_cluster_serves(spec, p, cluster(classes=(gp3,)), UP_CREATES)  # type: ignore[arg-type]


@pytest.mark.parametrize("provisioner", ["ebs.csi.aws.com", "kubernetes.io/host-path"])
def test_a_two_node_cache_on_a_single_node_provisioner_is_refused(provisioner: str) -> None:
    spec, p = stack("k8s-pro-2x8xh100", node_pool="existing")
    nodes = (Node("a", H100, 8), Node("b", H100, 8))
    found = refusals(  # type: ignore[arg-type]
        spec,
        p,
        cluster((StorageClass("efs-sc", provisioner, False),), nodes, frozenset({LWS_CRD})),
        UP_CREATES,
    )
    assert len(found) == 1 and provisioner in found[0] and "ReadWriteOnce only" in found[0], found


def test_a_class_that_provisions_nothing_needs_a_volume_that_fits() -> None:
    spec, p = stack("k8s-pro-2x8xh100", node_pool="existing", storage_class="shared")
    nodes = (Node("a", H100, 8), Node("b", H100, 8))
    static = (StorageClass("shared", "kubernetes.io/no-provisioner", False),)
    crds = frozenset({LWS_CRD})
    rwo = Volume("pv-rwo", "shared", ("ReadWriteOnce",), quantity_bytes("64Ti"), "Available", None)
    small = Volume("pv-small", "shared", ("ReadWriteMany",), quantity_bytes("10Gi"), "Available", None)
    (line,) = refusals(spec, p, cluster(static, nodes, crds, (rwo, small)), UP_CREATES)  # type: ignore[arg-type]
    assert "provisions nothing" in line and "ReadWriteMany" in line and "PersistentVolume" in line
    good = Volume("pv-nfs", "shared", ("ReadWriteMany",), quantity_bytes("64Ti"), "Available", None)
    assert refusals(spec, p, cluster(static, nodes, crds, (good,)), UP_CREATES) == []  # type: ignore[arg-type]
    # One bound to another claim is no use; one bound to this stack's cache claim (a later up) is.
    taken = dataclasses.replace(good, phase="Bound", claim="other/model-cache")
    assert refusals(spec, p, cluster(static, nodes, crds, (taken,)), UP_CREATES)  # type: ignore[arg-type]
    ours = dataclasses.replace(good, phase="Bound", claim=f"{spec.namespace}/model-cache")
    assert refusals(spec, p, cluster(static, nodes, crds, (ours,)), UP_CREATES) == []  # type: ignore[arg-type]


def test_existing_nodes_without_the_gpu_label_are_refused_with_what_the_cluster_has() -> None:
    spec, p = stack("k8s-flash-4xh200")
    (line,) = refusals(spec, p, cluster(nodes=(Node("gpu-0", H100, 8),)), UP_CREATES)  # type: ignore[arg-type]
    assert f"nvidia.com/gpu.product={H200}" in line and f"{H100} (8 GPUs)" in line
    assert "gpu-feature-discovery" in line and "deepseek-v4-infra:nodePool karpenter|gke|eks" in line
    # A labelled node with too few allocatable GPUs is no node for the plan either.
    (few,) = refusals(spec, p, cluster(nodes=(Node("gpu-0", H200, 2),)), UP_CREATES)  # type: ignore[arg-type]
    assert "1 labelled, 0 with 4 allocatable" in few


def test_two_nodes_need_two_labelled_nodes() -> None:
    spec, p = stack("k8s-pro-2x8xh100", node_pool="existing")
    found = refusals(spec, p, cluster(nodes=(Node("a", H100, 8),), crds=frozenset({LWS_CRD})), UP_CREATES)  # type: ignore[arg-type]
    assert len(found) == 1 and "needs 2 nodes labelled" in found[0], found


def test_karpenter_without_karpenter_is_refused_and_cloud_pools_make_their_own_nodes() -> None:
    spec, p = stack("k8s-pro-8xh200")
    assert spec.node_pool == "karpenter"
    (line,) = refusals(spec, p, cluster(nodes=()), UP_CREATES)  # type: ignore[arg-type]
    assert "no Karpenter" in line and "nodepools.karpenter.sh" in line and "nodePool existing" in line
    with_karpenter = cluster(nodes=(), crds=frozenset({"nodepools.karpenter.sh"}))
    assert refusals(spec, p, with_karpenter, UP_CREATES) == []  # type: ignore[arg-type]
    gke = dataclasses.replace(spec, node_pool="gke", gke_cluster="c", gke_location="us-central1")
    assert refusals(gke, p, cluster(nodes=()), UP_CREATES) == []  # type: ignore[arg-type]


def test_a_two_node_stack_without_the_leaderworkerset_crd_is_refused_with_its_install_command() -> None:
    spec, p = stack("k8s-pro-2x8xh100", node_pool="existing")
    nodes = (Node("a", H100, 8), Node("b", H100, 8))
    (line,) = refusals(spec, p, cluster(nodes=nodes), UP_CREATES)  # type: ignore[arg-type]
    assert LWS_CRD in line
    assert (
        "kubectl apply --server-side -f https://github.com/kubernetes-sigs/lws/releases/download/v0.8.0/"
        in line
    )


def test_secrets_the_pods_cannot_start_without_are_required_unless_the_caller_creates_them() -> None:
    spec, p = stack("k8s-flash-4xh200")
    referenced = set().union(*(required_secrets(m.obj) for m in render_manifests(spec, p)))  # type: ignore[arg-type]
    # The engine needs its API key; the download Job's HF token is optional (public checkpoints).
    assert referenced == {"vllm-api-key"}
    # `up` creates the key itself; a rendered directory applied by hand needs `v4infra secrets`.
    assert refusals(spec, p, cluster(), UP_CREATES) == []  # type: ignore[arg-type]
    (line,) = refusals(spec, p, cluster(), frozenset())  # type: ignore[arg-type]
    assert "Secret 'vllm-api-key'" in line and f"v4infra secrets {spec.stack} | kubectl apply -f -" in line
    applied = cluster(secrets=frozenset({"vllm-api-key"}))
    assert refusals(spec, p, applied, frozenset()) == []  # type: ignore[arg-type]


def test_several_refusals_name_the_first_and_count_the_rest() -> None:
    spec, p = stack("k8s-pro-2x8xh100", node_pool="existing")
    with pytest.raises(ConfigError) as err:
        require_cluster_serves(spec, p, cluster(classes=(), nodes=()), UP_CREATES)  # type: ignore[arg-type]
    text = str(err.value)
    assert text.count("\n") == 0 and "(+2 more:" in text and "StorageClass 'efs-sc'" in text


@pytest.mark.parametrize(
    ("text", "expected"), [("100Gi", 100 * 2**30), ("1T", 10**12), ("64Ti", 64 * 2**40), ("5e9", 5 * 10**9)]
)
def test_quantities(text: str, expected: int) -> None:
    assert quantity_bytes(text) == expected
