"""The client's Instant Cluster calls: bodies against RunPod's published schema (strict fake), and the
same calls against the emulator's `/v2/clusters` as the integration judge."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from v2_fake import FakeRunPod, cluster_view, member_view, problem

from infra.emulator import Emulator
from infra.errors import CapacityError, ConfigError, ProviderError
from infra.targets.runpod.client import RetryPolicy, RunPodClient, RunPodSettings
from infra.targets.runpod.types import ClusterRequest

KEY = "rpa_CLUSTERCANARY0123456789"
H100 = "NVIDIA H100 80GB HBM3"
NAME = "v4i-pro-2x8xh100-0123456789-cluster-abc123"


def client_for(fake: FakeRunPod) -> RunPodClient:
    settings = RunPodSettings(api_key=KEY, api_base_url="https://api.runpod.io")
    policy = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.004)
    return RunPodClient(settings, retry=policy, sleep=lambda _s: None, transport=fake.transport())


def cluster_request(**overrides: Any) -> ClusterRequest:
    fields: dict[str, Any] = {
        "name": NAME,
        "image": "vllm/vllm-openai:v0.25.0",
        "gpu_type_id": H100,
        "gpu_count_per_pod": 8,
        "pod_count": 2,
        "data_center_id": "US-TX-3",
        "network_volume_id": "vol123",
        "args": '{"entrypoint":["bash","-c"],"cmd":["echo hi"]}',
        "env": {"VLLM_API_KEY": "canary-vllm-key", "PUBLIC_KEY": "ssh-ed25519 AAAA"},
    }
    fields.update(overrides)
    return ClusterRequest(**fields)


def wait_for(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


# ---- the strict fake: the published contract --------------------------------------------------


def test_the_create_body_meets_the_published_schema_and_the_answer_parses() -> None:
    fake = FakeRunPod().on("POST", "/v2/clusters", (201, cluster_view("c1", NAME), {}))
    cluster = client_for(fake).create_cluster(cluster_request())
    assert fake.contract_violations == []
    (_, _, body) = fake.calls[0]
    assert body["type"] == "APPLICATION"
    assert body["compute"] == {"gpuTypeId": H100, "gpuCountPerPod": 8, "podCount": 2}
    assert body["dataCenterIds"] == ["US-TX-3"]
    assert body["mounts"] == {"network": [{"volumeId": "vol123", "path": "/workspace"}]}
    assert (cluster.id, cluster.pod_count, cluster.gpu_count) == ("c1", 2, 16)
    assert cluster.primary_pod_id == "pod0" and cluster.primary_ssh == ("203.0.113.7", 40022)
    assert cluster.network_cidr == "10.65.0.0/16"


def test_a_create_that_answered_500_after_making_the_cluster_is_adopted_not_rented_twice() -> None:
    fake = (
        FakeRunPod()
        .on("POST", "/v2/clusters", (500, problem(500, "upstream timeout"), {}))
        .on("GET", "/v2/clusters", (200, {"clusters": [cluster_view("c9", NAME)]}, {}))
    )
    cluster = client_for(fake).create_cluster(cluster_request())
    assert cluster.id == "c9"
    assert [c[0] for c in fake.calls].count("POST") == 1
    assert fake.contract_violations == []


def test_no_single_data_center_with_sixteen_gpus_is_a_capacity_error_that_never_retries() -> None:
    detail = "There are no longer any instances available with the requested specifications."
    fake = FakeRunPod().on("POST", "/v2/clusters", (400, problem(400, detail), {}))
    with pytest.raises(CapacityError, match="no longer any instances"):
        client_for(fake).create_cluster(cluster_request())
    assert len(fake.calls) == 1


def test_members_come_back_by_rank_with_their_overlay_address() -> None:
    pods = [member_view("pod1", "c1", 1, ssh_port=40023), member_view("pod0", "c1", 0)]
    fake = FakeRunPod().on("GET", "/v2/clusters/c1/pods", (200, {"pods": pods}, {}))
    members = client_for(fake).cluster_pods("c1")
    assert fake.contract_violations == []
    assert [(m.rank, m.pod.id, m.ip) for m in members] == [(0, "pod0", "10.65.0.2"), (1, "pod1", "10.65.0.3")]
    assert members[1].pod.ssh == ("203.0.113.7", 40023) and members[0].role is None


def test_delete_and_get_treat_a_cluster_that_is_gone_as_gone() -> None:
    fake = (
        FakeRunPod()
        .on("DELETE", "/v2/clusters/c1", (404, problem(404, "cluster not found"), {}))
        .on("GET", "/v2/clusters/c1", (404, problem(404, "cluster not found"), {}))
        .on("GET", "/v2/clusters", (200, {"clusters": []}, {}))
    )
    client = client_for(fake)
    client.delete_cluster("c1")
    assert client.get_cluster("c1") is None


def test_a_404_for_a_cluster_the_list_still_shows_is_not_taken_for_gone() -> None:
    fake = (
        FakeRunPod()
        .on("DELETE", "/v2/clusters/c1", (404, problem(404, "not found"), {}))
        .on("GET", "/v2/clusters", (200, {"clusters": [cluster_view("c1", NAME)]}, {}))
    )
    with pytest.raises(ProviderError, match="answered 404 for cluster c1, yet lists it"):
        client_for(fake).delete_cluster("c1")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"pod_count": 1}, "pod_count 1 must be 2 to 250"),
        ({"gpu_count_per_pod": 0}, "gpu_count_per_pod 0 must be at least 1"),
        ({"type": "BATCH"}, "type 'BATCH' is not one of APPLICATION, TRAINING, SLURM, RAY"),
        ({"ports": ("8000",)}, "port '8000' is not NUMBER/http or NUMBER/tcp"),
    ],
)
def test_a_bad_cluster_request_is_refused_before_any_call(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cluster_request(**overrides)


def test_the_request_repr_shows_no_secret() -> None:
    shown = repr(cluster_request())
    assert "canary-vllm-key" not in shown and "echo hi" not in shown and "VLLM_API_KEY" in shown


# ---- the emulator: the integration judge ------------------------------------------------------


@pytest.fixture
def client(emulator: Emulator) -> RunPodClient:
    return RunPodClient(RunPodSettings.from_env())


def test_against_the_emulator_a_cluster_is_created_listed_read_and_deleted_with_its_members(
    client: RunPodClient, emulator: Emulator
) -> None:
    made = client.create_cluster(
        cluster_request(network_volume_id=None, args="", env={"PUBLIC_KEY": "ssh-ed25519 AAAA"})
    )
    assert made.name == NAME and made.pod_count == 2
    assert [c.id for c in client.clusters_named(NAME)] == [made.id]
    wait_for(lambda: [m.pod.status for m in client.cluster_pods(made.id)] == ["RUNNING", "RUNNING"])
    members = client.cluster_pods(made.id)
    assert [m.rank for m in members] == [0, 1]
    assert {m.pod.gpu_type_id for m in members} == {H100} and {m.pod.gpu_count for m in members} == {8}
    assert len({m.pod.data_center_id for m in members}) == 1, "a cluster is always in one data center"
    read = client.get_cluster(made.id)
    assert read is not None and read.primary_pod_id == members[0].pod.id
    # Members are not pods of the account's pod list (GET /v2/pods leaves them out by default).
    assert not {m.pod.id for m in members} & {p.id for p in client.list_pods()}
    client.delete_cluster(made.id)
    assert client.get_cluster(made.id) is None
    assert emulator.inventory()["pods"] == [] and emulator.inventory()["clusters"] == []
    client.delete_cluster(made.id)  # already gone counts as deleted
