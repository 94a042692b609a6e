"""The rendered LeaderWorkerSet stack against a real kube-apiserver that has LWS's own CRD installed.

No LWS controller runs here (there is no controller binary in the tools cache), so no leader or worker pod
is ever created: this judges what the API server accepts and stores, not scheduling. The pods' scheduling
facts (GPUs, selectors, anti-affinity) are checked on the rendered objects in test_leaderworkerset.py.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube import delete_namespace, stack_copy, wait_for

from infra.cli import main
from infra.emulator import lws_controller
from infra.emulator.local_cluster import LocalCluster, gpu_node_name
from infra.targets.kubernetes.rehearsal_cluster import RWX_CLASS, add_gpu_nodes, add_rwx_volume

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


@pytest.fixture
def lws_cluster(kube_cluster: LocalCluster) -> Iterator[LocalCluster]:
    """The session's control plane with the stand-in LWS controller, two fake H100 nodes and a shared
    volume; the class and its volumes are removed after (other tests count the cluster's classes)."""
    lws_controller.start(kube_cluster, LWS_CRD)
    add_gpu_nodes(kube_cluster, "H100-SXM", 2)
    add_rwx_volume(kube_cluster)
    try:
        yield kube_cluster
    finally:
        remove_rwx(kube_cluster)


def remove_rwx(cluster: LocalCluster) -> None:
    cluster.kubectl("delete", "storageclass", RWX_CLASS, "--ignore-not-found")
    for pv in cluster.get_json("persistentvolumes").get("items") or []:
        if pv["spec"].get("storageClassName") == RWX_CLASS:
            cluster.kubectl(
                "delete", "persistentvolume", pv["metadata"]["name"], "--ignore-not-found", "--wait=false"
            )


def group_pods(cluster: LocalCluster, namespace: str) -> dict[str, dict[str, Any]]:
    found = cluster.get_json("pods", "-n", namespace, "-l", f"{lws_controller.NAME_LABEL}=vllm-group")
    return {p["metadata"]["name"]: p for p in found.get("items") or []}


def running(cluster: LocalCluster, namespace: str, names: set[str]) -> bool:
    pods = group_pods(cluster, namespace)
    return set(pods) == names and all(
        p.get("status", {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
        for p in pods.values()
    )


def test_the_stand_in_controller_runs_the_rendered_group_on_two_gpu_nodes_and_recreates_it_when_a_worker_fails(
    lws_cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = "lws-group"
    stack_copy(
        tmp_path,
        monkeypatch,
        STACK,
        {"storageClass": RWX_CLASS, "namespace": namespace, "nodePool": "existing"},
    )
    monkeypatch.setenv("KUBECONFIG", str(lws_cluster.kubeconfig))
    out = tmp_path / "rendered"
    try:
        assert main(["render", STACK, "--out", str(out), "--check-cluster"]) == 0
        lws_cluster.kubectl("apply", "--server-side", "-k", str(out))
        members = {"vllm-group-0", "vllm-group-0-1"}
        wait_for("the leader and its worker Running", lambda: running(lws_cluster, namespace, members))
        pods = group_pods(lws_cluster, namespace)
        leader, worker = pods["vllm-group-0"], pods["vllm-group-0-1"]
        # The real scheduler honoured the render's anti-affinity: one pod per H100 node.
        nodes = {leader["spec"]["nodeName"], worker["spec"]["nodeName"]}
        assert nodes == {gpu_node_name("H100-SXM"), gpu_node_name("H100-SXM").removesuffix("-0") + "-1"}
        env = {e["name"]: e.get("value") for e in worker["spec"]["containers"][0]["env"]}
        assert env["LWS_LEADER_ADDRESS"] == f"vllm-group-0.vllm-group.{namespace}"
        assert env["LWS_WORKER_INDEX"] == "1" and env["LWS_GROUP_SIZE"] == "2"
        assert (
            worker["metadata"]["labels"]["leaderworkerset.sigs.k8s.io/group-key"]
            == (leader["metadata"]["labels"]["leaderworkerset.sigs.k8s.io/group-key"])
        )
        headless = lws_cluster.get_json("service", "vllm-group", "-n", namespace)
        assert headless["spec"]["clusterIP"] == "None"

        def available() -> bool:
            status = (
                lws_cluster.get_json("leaderworkerset", "vllm-group", "-n", namespace).get("status") or {}
            )
            conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
            return conditions.get("Available") == "True" and status.get("readyReplicas") == 1

        # The status the controller writes is judged by LWS's CRD (status subresource) on its way in.
        wait_for("the LeaderWorkerSet Available", available)

        # The engine Service (the API's) selects the leader alone. (kwok gives these pods no IP, so the
        # endpoints controller lists none: the selector is asked directly, as that controller would.)
        service = lws_cluster.get_json("service", "vllm", "-n", namespace)
        selector = ",".join(f"{k}={v}" for k, v in service["spec"]["selector"].items())
        selected = lws_cluster.get_json("pods", "-n", namespace, "-l", selector)["items"]
        assert [p["metadata"]["name"] for p in selected] == ["vllm-group-0"]

        before = {n: p["metadata"]["uid"] for n, p in pods.items()}
        lws_cluster.kubectl(
            "patch", "pod", "vllm-group-0-1", "-n", namespace, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": {"phase": "Failed"}}),
        )  # fmt: skip

        def recreated() -> bool:
            now = group_pods(lws_cluster, namespace)
            return running(lws_cluster, namespace, members) and all(
                now[n]["metadata"]["uid"] != before[n] for n in members
            )

        # RecreateGroupOnPodRestart: the worker's failure replaced the leader too.
        wait_for("the group recreated after its worker failed", recreated)

        lws_cluster.kubectl("delete", "leaderworkerset", "vllm-group", "-n", namespace, "--wait=true")
        wait_for("no group pod left", lambda: not group_pods(lws_cluster, namespace))
    finally:
        delete_namespace(lws_cluster, namespace)
