"""The RunPod client's verbs against a strict fake judged by RunPod's OpenAPI schema, in milliseconds.

Adoption after a 500, gone-is-done deletes, volume tiers and SSE logs; tests/runpod/test_client.py runs
the same client against the emulator (retries are in test_transport.py, failover in test_failover.py).
"""

from __future__ import annotations

from clients import client_for, gpu_request
from v2_fake import FakeRunPod, pod_view, problem


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
