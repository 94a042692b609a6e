"""The rendered LeaderWorkerSet stack against a real kube-apiserver that has LWS's own CRD installed.

No LWS controller runs here (there is no controller binary in the tools cache), so no leader or worker pod
is ever created: this judges what the API server accepts and stores, not scheduling. The pods' scheduling
facts (GPUs, selectors, anti-affinity) are checked on the rendered objects in test_leaderworkerset.py.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from kube import delete_namespace, stack_copy, wait_for

from infra.cli import main
from infra.emulator.local_cluster import LocalCluster

pytestmark = [pytest.mark.kube, pytest.mark.timeout(1200)]
STACK = "k8s-pro-2x8xh100"
LWS_CRD = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "crds"
    / "leaderworkerset.x-k8s.io_leaderworkersets.yaml"
)
# A file-storage class as a cluster with csi-driver-nfs has it; nothing provisions it here, so the claim
# stays Pending, which is what the API server does with any claim whose provisioner is absent.
NFS_CLASS = {
    "apiVersion": "storage.k8s.io/v1",
    "kind": "StorageClass",
    "metadata": {"name": "nfs-csi"},
    "provisioner": "nfs.csi.k8s.io",
}


def holds(stored: object, rendered: object) -> bool:
    """Every rendered field is stored with its value (the CRD's defaults may add fields, never drop one)."""
    if isinstance(rendered, dict):
        return isinstance(stored, dict) and all(
            k in stored and holds(stored[k], v) for k, v in rendered.items()
        )
    if isinstance(rendered, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(rendered)
            and all(holds(a, b) for a, b in zip(stored, rendered, strict=True))
        )
    return stored == rendered


def crd_established(kube_cluster: LocalCluster) -> bool:
    done = kube_cluster.kubectl(
        "get", "crd", "leaderworkersets.leaderworkerset.x-k8s.io", "-o", "json", check=False
    )
    if done.returncode != 0:
        return False
    conditions = json.loads(done.stdout).get("status", {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def test_the_rendered_two_node_stack_is_accepted_server_side_by_an_api_server_with_the_lws_crd(
    kube_cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = "render-lws"
    stack_copy(
        tmp_path,
        monkeypatch,
        STACK,
        {"storageClass": "nfs-csi", "namespace": namespace, "nodePool": "existing"},
    )
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    out = tmp_path / "rendered"
    kube_cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(NFS_CLASS))
    # Server-side: the CRD is 1.3 MB, past the client-side last-applied annotation's 256 KiB limit.
    kube_cluster.kubectl("apply", "--server-side", "-f", str(LWS_CRD))
    wait_for("the LeaderWorkerSet CRD", lambda: crd_established(kube_cluster))
    try:
        assert main(["render", STACK, "--out", str(out), "--check-cluster"]) == 0
        applied = kube_cluster.kubectl("apply", "--server-side", "-k", str(out))
        assert "leaderworkerset.leaderworkerset.x-k8s.io/vllm-group serverside-applied" in applied.stdout
        stored = kube_cluster.get_json("leaderworkerset", "vllm-group", "-n", namespace)
        rendered = next(
            d for d in yaml.safe_load_all((out / "40-leaderworkerset-engine.yaml").read_text()) if d
        )
        # Stored as rendered: no field was pruned as unknown by the CRD's structural schema.
        assert stored["spec"]["leaderWorkerTemplate"]["size"] == 2
        assert holds(stored["spec"], rendered["spec"])
        service = kube_cluster.get_json("service", "vllm", "-n", namespace)
        assert service["spec"]["selector"]["leaderworkerset.sigs.k8s.io/worker-index"] == "0"
        pvc = kube_cluster.get_json("pvc", "model-cache", "-n", namespace)
        assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]

        # The API server, not only our schema check, refuses what LWS's CRD forbids or does not know.
        for key, value in (("restartPolicy", "Always"), ("sizee", 2)):
            broken = copy.deepcopy(rendered)
            broken["spec"]["leaderWorkerTemplate"][key] = value
            refused = kube_cluster.kubectl(
                "apply", "--server-side", "--dry-run=server", "-f", "-", input=json.dumps(broken), check=False
            )
            assert refused.returncode != 0 and key in refused.stderr, refused.stderr
    finally:
        delete_namespace(kube_cluster, namespace)
        kube_cluster.kubectl("delete", "storageclass", "nfs-csi", "--ignore-not-found")
