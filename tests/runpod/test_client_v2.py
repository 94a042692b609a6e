"""The RunPod client's REST v2 logic against a strict fake judged by RunPod's OpenAPI schema.

Retries, Retry-After, adoption after a 500, problem mapping, SSE logs and failover ordering, in
milliseconds; tests/runpod/test_client.py runs the same client against the emulator.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from v2_fake import FakeRunPod, pod_view, problem

from infra.errors import AuthError, BalanceError, CapacityError, NotFoundError, RefusedError, TransientError
from infra.targets.runpod.client import PodRequest, RetryPolicy, RunPodClient, RunPodSettings
from infra.targets.runpod.failover import create_with_failover, placements_by_stock, stock_elsewhere

KEY = "rpa_CANARYv2key0123456789SECRET"
H200, H200_NVL, H100 = "NVIDIA H200", "NVIDIA H200 NVL", "NVIDIA H100 80GB HBM3"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_for(fake: FakeRunPod, attempts: int = 4) -> tuple[RunPodClient, Sleeps]:
    sleeps = Sleeps()
    settings = RunPodSettings(api_key=KEY, api_base_url="https://api.runpod.io")
    policy = RetryPolicy(attempts=attempts, base_delay=0.001, max_delay=0.004)
    return RunPodClient(settings, retry=policy, sleep=sleeps, transport=fake.transport()), sleeps


def gpu_request(**overrides: Any) -> PodRequest:
    fields: dict[str, Any] = {
        "name": "v4i-flash-4xh200-pod-abc123",
        "image": "vllm/vllm-openai:v0.25.0",
        "gpu_type_id": H200,
        "gpu_count": 4,
        "data_center_id": "US-TX-3",
        "network_volume_id": "vol123",
        "args": '{"entrypoint":["bash","-c"],"cmd":["echo hi"]}',
        "env": {"VLLM_API_KEY": "canary-vllm-key"},
    }
    fields.update(overrides)
    return PodRequest(**fields)


def offer(gpu: str, stock: dict[str, str]) -> dict[str, Any]:
    return {
        "id": gpu,
        "name": gpu,
        "pool": None,
        "manufacturer": "NVIDIA",
        "memory": 141,
        "secure": True,
        "community": False,
        "price": {"secure": 3.59, "community": 0.0},
        "maxCount": {"secure": 8, "community": 0},
        "availability": max(stock.values(), key=["NONE", "LOW", "MEDIUM", "HIGH"].index) if stock else "NONE",
        "dataCenters": [{"id": dc, "name": dc, "availability": level} for dc, level in stock.items()],
    }


def test_gpu_and_cpu_create_bodies_meet_the_published_schema() -> None:
    fake = FakeRunPod().on("POST", "/v2/pods", (201, pod_view("p1", "gpu-pod"), {}))
    client, _ = client_for(fake)
    pod = client.create_pod(gpu_request())
    client.create_pod(gpu_request(name="cpu-pod", gpu_type_id=None, args="bash -c 'sleep 1'"))
    assert fake.contract_violations == []
    gpu_body, cpu_body = fake.calls[0][2], fake.calls[1][2]
    assert gpu_body["gpu"] == {"id": H200, "count": 4} and "cpu" not in gpu_body
    assert gpu_body["mounts"] == {"network": [{"volumeId": "vol123", "path": "/workspace"}]}
    assert gpu_body["dataCenterIds"] == ["US-TX-3"]
    assert cpu_body["cpu"] == {"id": "cpu3c", "vcpuCount": 2} and "gpu" not in cpu_body
    assert pod.status == "RUNNING" and pod.ssh == ("203.0.113.7", 40022) and pod.uptime_seconds == 5
    assert pod.http_ports == {8000: "https://p1-8000.proxy.runpod.net"}
    assert pod.env_keys == ("PUBLIC_KEY",)


def test_a_429_waits_as_long_as_retry_after_says() -> None:
    fake = FakeRunPod().on(
        "GET",
        "/v2/pods",
        (429, problem(429, "rate limit exceeded for the minute window"), {"Retry-After": "12"}),
        (200, {"pods": []}, {}),
    )
    client, sleeps = client_for(fake)
    assert client.list_pods() == []
    assert sleeps and sleeps[0] >= 12.0
    assert fake.contract_violations == []


def test_a_create_that_answered_500_after_making_the_pod_is_adopted_not_rented_twice() -> None:
    made = pod_view("p9", "v4i-flash-4xh200-pod-abc123")
    fake = (
        FakeRunPod()
        .on("POST", "/v2/pods", (500, problem(500, "upstream timeout"), {}))
        .on("GET", "/v2/pods", (200, {"pods": [made]}, {}))
    )
    client, _ = client_for(fake)
    pod = client.create_pod(gpu_request())
    assert pod.id == "p9"
    assert [c[0] for c in fake.calls].count("POST") == 1
    assert fake.contract_violations == []


@pytest.mark.parametrize(
    ("status", "detail", "error"),
    [
        (
            400,
            "There are no longer any instances available with the requested specifications.",
            CapacityError,
        ),
        (402, "Your account balance is too low to rent a pod.", BalanceError),
        (401, "missing bearer token", AuthError),
        (422, "Request validation failed.", RefusedError),
        (404, "gpu type not found", NotFoundError),
    ],
)
def test_problem_answers_map_to_errors_a_user_can_act_on(status: int, detail: str, error: type) -> None:
    fake = FakeRunPod().on("POST", "/v2/pods", (status, problem(status, detail + " " + KEY), {}))
    if status == 404:
        fake.on("GET", "/v2/catalog/gpus", (200, {"gpus": [offer(H200, {})]}, {}))
    client, sleeps = client_for(fake)
    with pytest.raises(error) as caught:
        client.create_pod(gpu_request())
    assert KEY not in str(caught.value)
    assert sleeps == []  # none of these is retried
    if status == 404:
        assert "valid ids: NVIDIA H200" in str(caught.value)


def test_a_422_names_each_violation_and_is_never_retried() -> None:
    answer = problem(
        422, "Request validation failed.", errors=["$: additional properties 'bogus' not allowed"]
    )
    fake = FakeRunPod().on("POST", "/v2/pods", (422, answer, {}))
    client, sleeps = client_for(fake)
    with pytest.raises(RefusedError) as caught:
        client.create_pod(gpu_request())
    assert "'bogus' not allowed" in str(caught.value) and caught.value.status == 422
    assert len(fake.calls) == 1 and sleeps == []


def test_5xx_is_retried_then_reported_with_the_count() -> None:
    fake = FakeRunPod().on("GET", "/v2/network-volumes", (502, problem(502, "bad gateway"), {}))
    client, sleeps = client_for(fake, attempts=3)
    with pytest.raises(TransientError, match="gave up after 3 attempts"):
        client.list_volumes()
    assert len(sleeps) == 2


def test_terminate_and_delete_treat_gone_as_done() -> None:
    fake = (
        FakeRunPod()
        .on("DELETE", "/v2/pods/p1", (404, problem(404, "pod not found"), {}))
        .on("DELETE", "/v2/network-volumes/v1", (404, problem(404, "network volume not found"), {}))
        .on("GET", "/v2/network-volumes", (200, {"networkVolumes": []}, {}))
        .on("GET", "/v2/pods/p1", (404, problem(404, "pod not found"), {}))
    )
    client, _ = client_for(fake)
    client.terminate_pod("p1")
    client.delete_volume("v1")
    assert client.get_pod("p1") is None


def test_volumes_carry_their_tier() -> None:
    volume = {
        "id": "v1",
        "name": "v4i-cache",
        "size": 190,
        "dataCenter": "US-TX-3",
        "type": "HIGH_PERFORMANCE",
    }
    fake = FakeRunPod().on("POST", "/v2/network-volumes", (201, volume, {}))
    client, _ = client_for(fake)
    made = client.create_volume("v4i-cache", 190, "US-TX-3", "HIGH_PERFORMANCE")
    assert made.type == "HIGH_PERFORMANCE" and made.data_center_id == "US-TX-3"
    assert fake.calls[0][2] == {
        "name": "v4i-cache",
        "size": 190,
        "dataCenter": "US-TX-3",
        "type": "HIGH_PERFORMANCE",
    }
    assert fake.contract_violations == []


def test_pod_logs_are_read_from_server_sent_events() -> None:
    stream = (
        'id: 2026-11-30T05:00:01Z/1\ndata: {"ts":"2026-11-30T05:00:01Z","source":"container","line":"loading"}\n\n'
        'id: 2026-11-30T05:00:02Z/2\ndata: {"ts":"2026-11-30T05:00:02Z","source":"container","line":"CUDA out of memory"}\n\n'
    )
    fake = FakeRunPod().on("GET", "/v2/pods/p1/logs", (200, stream, {"Content-Type": "text/event-stream"}))
    client, _ = client_for(fake)
    lines = client.pod_logs("p1", tail=50)
    assert [entry.line for entry in lines] == ["loading", "CUDA out of memory"]
    request_url = fake.calls[0][1]
    assert request_url == "/v2/pods/p1/logs"


def test_catalog_stock_orders_placements_third_gpu_type_in_stock() -> None:
    catalog = [
        offer(H200, {"US-TX-3": "NONE"}),
        offer(H200_NVL, {"US-TX-3": "NONE"}),
        offer(H100, {"US-TX-3": "LOW"}),
    ]
    fake = FakeRunPod().on("GET", "/v2/catalog/gpus", (200, {"gpus": catalog}, {}))
    fake.on(
        "POST",
        "/v2/pods",
        lambda request, body: (201, pod_view("p3", body["name"], gpu=body["gpu"]["id"]), {}),
    )
    fake.on("GET", "/v2/pods", (200, {"pods": []}, {}))
    client, _ = client_for(fake)
    offers = client.gpu_catalog(4)
    placements = placements_by_stock(offers, [H200, H200_NVL, H100], ["US-TX-3"])
    assert placements[0].gpu_type_id == H100 and placements[0].stock == "LOW"
    result = create_with_failover(client, gpu_request(), placements)
    assert result.pod.gpu_type_id == H100 and len(result.attempts) == 1
    assert fake.contract_violations == []


def test_failover_walks_every_type_and_data_center_then_says_what_the_catalog_showed() -> None:
    fake = FakeRunPod()
    tried: list[tuple[str, str]] = []

    def create(request: httpx.Request, body: Any) -> tuple[int, Any, dict[str, str]]:
        place = (body["gpu"]["id"], body["dataCenterIds"][0])
        tried.append(place)
        if place == (H200, "EU-RO-1"):
            return 201, pod_view("p2", body["name"], data_center="EU-RO-1"), {}
        return (
            400,
            problem(400, "There are no longer any instances available with the requested specifications."),
            {},
        )

    catalog = [offer(H200, {"US-TX-3": "NONE", "EU-RO-1": "LOW"}), offer(H100, {"US-TX-3": "NONE"})]
    fake.on("POST", "/v2/pods", create).on("GET", "/v2/pods", (200, {"pods": []}, {}))
    fake.on("GET", "/v2/catalog/gpus", (200, {"gpus": catalog}, {}))
    client, _ = client_for(fake)
    catalog_offers = client.gpu_catalog(4)
    placements = placements_by_stock(catalog_offers, [H200, H100], ["US-TX-3", "EU-RO-1"])
    assert (placements[0].gpu_type_id, placements[0].data_center_id) == (H200, "EU-RO-1")
    assert create_with_failover(client, gpu_request(), placements).pod.data_center_id == "EU-RO-1"

    tried.clear()
    nowhere = [p for p in placements if p.data_center_id != "EU-RO-1"]
    elsewhere = stock_elsewhere(catalog_offers, [H200, H100], ["US-TX-3"])
    assert elsewhere == ["NVIDIA H200 in EU-RO-1 (LOW)"]
    with pytest.raises(CapacityError) as caught:
        create_with_failover(
            client, gpu_request(), nowhere, elsewhere="The catalog shows stock only elsewhere"
        )
    message = str(caught.value)
    assert tried == [(H200, "US-TX-3"), (H100, "US-TX-3")]
    assert "4x NVIDIA H200 in US-TX-3 (catalog: NONE)" in message and "NVIDIA H100 80GB HBM3" in message
    assert "stock only elsewhere" in message
    assert fake.contract_violations == []
