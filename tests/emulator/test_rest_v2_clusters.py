"""REST v2 Instant Clusters over httpx, every request and answer judged by RunPod's OpenAPI v2 file."""

from __future__ import annotations

from typing import Any

from recording_runtime import RecordingRuntime, wait_for
from v2_client import V2

from infra.emulator import Emulator, Faults

H100 = "NVIDIA H100 80GB HBM3"


def cluster_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "v4-pro",
        "type": "APPLICATION",
        "compute": {"gpuTypeId": H100, "gpuCountPerPod": 8, "podCount": 2},
        "image": "vllm/vllm-openai:v0.20.0",
        "args": "deepseek-ai/DeepSeek-V4-Pro --data-parallel-size 2",
        "ports": ["8000/http", "22/tcp"],
        "env": {"VLLM_API_KEY": "sk-test"},
        "dataCenterIds": ["EU-SE-1"],
    }
    body.update(overrides)
    return body


def test_a_cluster_is_member_pods_in_one_data_center_with_a_primary_and_a_network(
    emulator: Emulator, runtimes: list[RecordingRuntime]
) -> None:
    with V2(emulator) as v2:
        created = v2.post("/v2/clusters", cluster_body())
        assert created.status_code == 201, created.text
        cluster = created.json()
        assert cluster["compute"] == {"gpuTypeId": H100, "gpuCountPerPod": 8, "podCount": 2}
        assert cluster["dataCenterId"] == "EU-SE-1" and cluster["type"] == "APPLICATION"
        assert cluster["pods"] == {"total": 2, "byStatus": {"PROVISIONING": 2}}
        assert cluster["network"]["cidr"] == "10.65.0.0/16"
        assert emulator.inventory()["stock"]["EU-SE-1"][H100] == 0

        members = v2.get(f"/v2/clusters/{cluster['id']}/pods").json()["pods"]
        assert [(p["cluster"]["rank"], p["cluster"]["ip"]) for p in members] == [
            (0, "10.65.0.2"),
            (1, "10.65.0.3"),
        ]
        assert all("role" not in p["cluster"] for p in members)  # APPLICATION clusters assign no roles
        assert all(p["gpu"] == {"id": H100, "count": 8} and p["dataCenterId"] == "EU-SE-1" for p in members)
        primary = members[0]["id"]
        assert cluster["primary"] == {"podId": primary, "status": "PROVISIONING"}

        # Members stay out of the pod list unless asked for, and the pod endpoints may not touch them.
        assert v2.get("/v2/pods").json()["pods"] == []
        assert len(v2.get("/v2/pods", includeClusterPods="true").json()["pods"]) == 2
        assert v2.delete(f"/v2/pods/{primary}").status_code == 409
        assert v2.patch(f"/v2/pods/{primary}", {"name": "x"}).status_code == 409
        assert v2.post(f"/v2/pods/{primary}/action", {"action": "stop"}).status_code == 409

        wait_for(lambda: v2.get(f"/v2/clusters/{cluster['id']}").json()["pods"]["byStatus"] == {"RUNNING": 2})
        running = v2.get(f"/v2/clusters/{cluster['id']}").json()
        assert running["primary"]["sshEndpoint"].startswith("127.0.0.1:")
        launches = sorted((r.launch for r in runtimes), key=lambda launch: launch.name)
        assert [launch.env["NODE_RANK"] for launch in launches] == ["0", "1"]
        assert {launch.env["PRIMARY_ADDR"] for launch in launches} == {"10.65.0.2"}
        assert {launch.env["NUM_NODES"] for launch in launches} == {"2"}

        renamed = v2.patch(f"/v2/clusters/{cluster['id']}", {"name": "v4-pro-2"}).json()
        assert renamed["name"] == "v4-pro-2"
        assert v2.patch(f"/v2/clusters/{cluster['id']}", {"podCount": 3}, valid=False).status_code == 422
        assert [c["id"] for c in v2.get("/v2/clusters").json()["clusters"]] == [cluster["id"]]

        assert v2.delete(f"/v2/clusters/{cluster['id']}").status_code == 204
        assert v2.get(f"/v2/clusters/{cluster['id']}").status_code == 404
    inventory = emulator.inventory()
    assert inventory["pods"] == [] and inventory["clusters"] == []
    assert inventory["stock"]["EU-SE-1"][H100] == 16
    assert all(runtime.killed for runtime in runtimes)


def test_a_member_that_dies_takes_the_engine_down(
    emulator: Emulator, runtimes: list[RecordingRuntime]
) -> None:
    with V2(emulator) as v2:
        cluster = v2.post("/v2/clusters", cluster_body()).json()
        wait_for(lambda: len(runtimes) == 2 and all(r.alive for r in runtimes))
        primary = next(r for r in runtimes if r.launch.env["NODE_RANK"] == "0")
        worker = next(r for r in runtimes if r.launch.env["NODE_RANK"] == "1")
        worker.alive = False  # the worker's engine exits
        wait_for(lambda: primary.killed)  # the primary loses its peer: its engine goes down too
        pods = {p["id"]: p for p in emulator.inventory()["pods"]}
        assert all(pod["status"] == "RUNNING" for pod in pods.values())  # and both are restarted, billed
        wait_for(lambda: all(pod["restarts"] >= 1 for pod in emulator.inventory()["pods"]))
        assert v2.delete(f"/v2/clusters/{cluster['id']}").status_code == 204


def test_one_data_center_or_none(emulator: Emulator) -> None:
    # 16 H100s free in total, but no single data center has 16: a cluster is never split.
    emulator.set_stock({"EU-RO-1": {H100: 8}, "EU-SE-1": {H100: 8}})
    with V2(emulator) as v2:
        refused = v2.post("/v2/clusters", cluster_body(dataCenterIds=[]))
        assert refused.status_code == 400 and "no longer any instances" in refused.json()["detail"]
        for body, says in (
            (cluster_body(compute={"gpuTypeId": H100, "gpuCountPerPod": 8, "podCount": 1}), "podCount"),
            (cluster_body(type="KUBERNETES"), "KUBERNETES"),
            (cluster_body(registry="cred-1"), "registry"),
        ):
            answer = v2.post("/v2/clusters", body, valid=False)
            assert answer.status_code == 422 and says in answer.text
        emulator.set_stock({"US-TX-3": {H100: 16}})
        emulator.set_faults(Faults(capacity_errors=1))  # the market says no at create
        assert v2.post("/v2/clusters", cluster_body(dataCenterIds=["US-TX-3"])).status_code == 400
    inventory = emulator.inventory()
    assert inventory["pods"] == [] and inventory["clusters"] == []  # all or nothing
    assert inventory["stock"]["US-TX-3"][H100] == 16


def test_slurm_members_carry_roles(emulator: Emulator) -> None:
    with V2(emulator) as v2:
        cluster = v2.post("/v2/clusters", cluster_body(type="SLURM", dataCenterIds=["US-TX-3"])).json()
        members = v2.get(f"/v2/clusters/{cluster['id']}/pods").json()["pods"]
        assert [p["cluster"]["role"] for p in members] == ["SLURM_CONTROLLER", "SLURM_COMPUTE"]
