"""`v4infra render` output against a real kube-apiserver: applied as is, scheduled on the fake GPU node.

The local control plane (tests/kube.py) is the judge: its API server validates every object, its scheduler
places the pods, kwok plays the kubelet (Job pods finish at once, other pods go Running).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube import delete_namespace, stack_copy, wait_for

from infra.cli import main
from infra.emulator.local_cluster import (
    CPU_NODE,
    GPU_PRODUCT_LABEL,
    GPU_RESOURCE,
    STORAGE_CLASS,
    LocalCluster,
    gpu_node_name,
)

# Control-plane round trips on a busy 2-core machine: minutes, not the suite's default 300 s.
pytestmark = [pytest.mark.kube, pytest.mark.timeout(1200)]
CANARY_HF = "hf_LIVERENDERcanary0123456789"
CANARY_API = "sk-live-render-canary-0123456789"
KARPENTER_CRD = Path(__file__).resolve().parents[1] / "fixtures" / "crds" / "karpenter.sh_nodepools.yaml"


def test_the_local_cluster_has_fake_gpu_nodes_per_the_catalog_and_a_default_storage_class(
    kube_cluster: LocalCluster,
) -> None:
    nodes = {n["metadata"]["name"]: n for n in kube_cluster.get_json("nodes")["items"]}
    for name, product in (
        (gpu_node_name("H200"), "NVIDIA-H200"),
        (gpu_node_name("H100-SXM"), "NVIDIA-H100-80GB-HBM3"),
    ):
        node = nodes[name]
        assert node["metadata"]["labels"][GPU_PRODUCT_LABEL] == product
        assert node["status"]["allocatable"][GPU_RESOURCE] == "8"
        assert {"key": GPU_RESOURCE, "effect": "NoSchedule"} in node["spec"]["taints"]
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])
    assert GPU_RESOURCE not in nodes[CPU_NODE]["status"]["allocatable"]
    (sc,) = kube_cluster.get_json("storageclasses")["items"]
    assert sc["metadata"]["name"] == STORAGE_CLASS
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"


def render(stack: str, out: Path, *extra: str) -> int:
    return main(["render", stack, "--out", str(out), *extra])


def objects(kube_cluster: LocalCluster, namespace: str, kind: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kube_cluster.get_json(kind, "-n", namespace)["items"]
    return items


def job_complete(kube_cluster: LocalCluster, namespace: str, name: str) -> bool:
    status = kube_cluster.get_json("job", name, "-n", namespace).get("status", {})
    return any(c["type"] == "Complete" and c["status"] == "True" for c in status.get("conditions", []))


def deployment_available(kube_cluster: LocalCluster, namespace: str, name: str) -> bool:
    status = kube_cluster.get_json("deployment", name, "-n", namespace).get("status", {})
    return int(status.get("availableReplicas", 0)) >= 1


@pytest.mark.parametrize("stack", ["k8s-flash-4xh200", "k8s-pro-8xh200"])
def test_a_rendered_directory_applies_server_side_as_is_and_runs_once_the_secrets_exist(
    stack: str,
    kube_cluster: LocalCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    namespace = f"render-{stack}"
    # The local cluster's class and existing nodes: the pro preset's Karpenter would never launch a node here.
    stack_copy(tmp_path, monkeypatch, stack, {"storageClass": STORAGE_CLASS, "namespace": namespace})
    out = tmp_path / "rendered"
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    if stack == "k8s-pro-8xh200":
        # Karpenter's own CRD judges the rendered NodePool; no Karpenter controller runs, so its nodeSelector
        # would keep the engine Pending: the test's nodes are labelled as the pool's would be.
        kube_cluster.kubectl("apply", "--server-side", "-f", str(KARPENTER_CRD))
        wait_for(
            "the NodePool CRD", lambda: kube_cluster.kubectl("get", "nodepools", check=False).returncode == 0
        )
    try:
        assert render(stack, out, "--check-cluster") == 0
        applied = kube_cluster.kubectl("apply", "--server-side", "-k", str(out))
        assert "namespace/" + namespace in applied.stdout
        monkeypatch.setenv("HF_TOKEN", CANARY_HF)
        monkeypatch.setenv("VLLM_API_KEY", CANARY_API)
        capsys.readouterr()
        assert main(["secrets", stack]) == 0
        secrets_yaml = capsys.readouterr().out
        kube_cluster.kubectl("apply", "--server-side", "-f", "-", input=secrets_yaml)

        if stack == "k8s-pro-8xh200":
            pool = next(d for d in yaml.safe_load_all((out / "05-nodepool-gpu.yaml").read_text()) if d)
            kube_cluster.kubectl(
                "label", "node", gpu_node_name("H200"), f"karpenter.sh/nodepool={pool['metadata']['name']}"
            )
        wait_for("the download Job", lambda: job_complete(kube_cluster, namespace, "model-download"))
        wait_for("the engine", lambda: deployment_available(kube_cluster, namespace, "vllm"))
        (pod,) = [
            p
            for p in objects(kube_cluster, namespace, "pods")
            if p["metadata"]["labels"].get("app.kubernetes.io/component") == "server"
        ]
        # The scheduler put the engine on the H200 node (selector, toleration, 4 or 8 GPUs of its 8).
        assert pod["spec"]["nodeName"] == gpu_node_name("H200")
        refs = {
            (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
            for c in pod["spec"]["containers"]
            for e in c.get("env", [])
            if "valueFrom" in e
        }
        secrets = {s["metadata"]["name"]: s for s in objects(kube_cluster, namespace, "secrets")}
        for name, key in refs:
            assert key in secrets[name]["data"], (
                f"the engine reads {name}/{key}; `v4infra secrets` made {secrets}"
            )
        # The weight cache was provisioned by the cluster's class and bound.
        (pvc,) = objects(kube_cluster, namespace, "pvc")
        assert (pvc["spec"]["storageClassName"], pvc["status"]["phase"]) == (STORAGE_CLASS, "Bound")
        # No rendered file holds a secret value.
        for path in out.iterdir():
            text = path.read_text(encoding="utf-8")
            assert CANARY_HF not in text and CANARY_API not in text
    finally:
        if stack == "k8s-pro-8xh200":
            kube_cluster.kubectl(
                "label", "node", gpu_node_name("H200"), "karpenter.sh/nodepool-", check=False
            )
            kube_cluster.kubectl("delete", "nodepools.karpenter.sh", "--all", check=False)
        delete_namespace(kube_cluster, namespace)


def test_check_cluster_refuses_a_missing_storage_class_naming_the_classes_the_cluster_has(
    kube_cluster: LocalCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The preset as shipped names `efs-sc`, which this cluster (like most) does not have.
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    out = tmp_path / "rendered"
    assert render("k8s-flash-4xh200", out, "--check-cluster") == 2
    err = capsys.readouterr().err
    assert "StorageClass 'efs-sc' does not exist in the cluster" in err
    assert "the cluster has: standard (default)" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists(), "nothing is written when the check fails"


def test_secrets_prints_only_secrets_with_values_escaped_and_generates_a_key_when_none_is_given(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    kube_cluster: LocalCluster,
) -> None:
    namespace = "secrets-cmd"
    stack_copy(tmp_path, monkeypatch, "k8s-flash-4xh200", {"namespace": namespace})
    tricky = "hf_x'\"$(touch /tmp/pwned): #{}\nnext"
    monkeypatch.setenv("HF_TOKEN", tricky)
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    assert main(["secrets", "k8s-flash-4xh200"]) == 0
    captured = capsys.readouterr()
    docs = [d for d in yaml.safe_load_all(captured.out) if d]
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("Secret", "hf-token"),
        ("Secret", "vllm-api-key"),
    ]
    generated = docs[1]["stringData"]["VLLM_API_KEY"]
    assert len(generated) >= 32 and generated not in captured.err
    assert "new random key" in captured.err
    # The real API server stores exactly the value given, metacharacters and all.
    kube_cluster.kubectl("create", "namespace", namespace)
    try:
        kube_cluster.kubectl("apply", "--server-side", "-f", "-", input=captured.out)
        stored = kube_cluster.get_json("secret", "hf-token", "-n", namespace)["data"]["HF_TOKEN"]
        assert base64.b64decode(stored).decode() == tricky
    finally:
        delete_namespace(kube_cluster, namespace)
