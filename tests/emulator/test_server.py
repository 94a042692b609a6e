"""The HTTP server: injected 429/502s at the edge, REST v1 retired with a 410, the pod proxy."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import runpod
from recording_runtime import PodHttp
from sdk_pods import H200, IMAGE, VOLUMES, graphql, h200_pod, running_runtime
from v2_client import V2

from infra.emulator import Emulator, Faults


def test_rate_limit_and_bad_gateway_are_injected(emulator: Emulator) -> None:
    httpx.post(
        f"{emulator.url}/_emulator/faults", json={"rate_limit": 1, "server_errors": 1}
    ).raise_for_status()
    limited = graphql(emulator, "{ gpuTypes { id } }")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    with V2(emulator) as v2:
        bad = v2.get(VOLUMES)
        assert bad.status_code == 502 and "502 Bad Gateway" in bad.text
        assert v2.get(VOLUMES).status_code == 200
    assert graphql(emulator, "{ gpuTypes { id } }").status_code == 200
    unknown = httpx.post(f"{emulator.url}/_emulator/faults", json={"rate_limits": 1})
    assert unknown.status_code == 400 and "rate_limits" in unknown.json()["error"]
    mistyped = httpx.post(f"{emulator.url}/_emulator/faults", json={"capacity_errors": "2"})
    assert mistyped.status_code == 400 and "capacity_errors" in mistyped.json()["error"]


def test_retired_rest_v1_answers_410_naming_v2_and_touches_nothing(emulator: Emulator) -> None:
    # RunPod retired REST v1 on 2026-11-15; every v1 call has failed since (shared/reference/runpod.md).
    emulator.set_faults(Faults(rate_limit=1))
    headers = {"Authorization": f"Bearer {emulator.api_key}"}
    calls = [
        ("GET", "/v1/networkvolumes", None),
        ("POST", "/v1/networkvolumes", {"name": "w", "size": 10, "dataCenterId": "EU-RO-1"}),
        ("POST", "/v1/pods", {"name": "p", "imageName": IMAGE, "gpuTypeIds": [H200], "gpuCount": 1}),
        ("DELETE", "/v1/pods/abc", None),
        ("GET", "/v1", None),
    ]
    for method, path, body in calls:
        answer = httpx.request(method, emulator.url + path, json=body, headers=headers)
        assert answer.status_code == 410, (method, path)
        message = answer.json()["error"]
        assert "\n" not in message and "retired on 2026-11-15" in message
        assert "https://api.runpod.io/v2" in message
    inventory = emulator.inventory()
    assert inventory["pods"] == [] and inventory["volumes"] == []
    assert emulator.faults.rate_limit == 1  # a retired API is not rate limited: nothing was counted


def test_proxy_forwards_and_streams(make_emulator: Callable[..., Emulator]) -> None:
    emulator = make_emulator(start_seconds=100.0)
    pod_id = h200_pod()["id"]
    base = emulator.proxy_url_template.format(pod_id=pod_id, port=8000)
    assert httpx.get(base + "/v1/models").status_code == 502  # not running yet
    running_runtime(pod_id)

    echo = httpx.post(
        base + "/v1/chat/completions?x=1", content=b'{"a":1}', headers={"Authorization": "Bearer k"}
    )
    assert echo.json() == {
        "method": "POST",
        "path": "/v1/chat/completions?x=1",
        "auth": "Bearer k",
        "body": '{"a":1}',
    }

    PodHttp.first_event_seen.clear()
    with httpx.stream("GET", base + "/stream", timeout=20) as response:
        assert response.headers["content-type"] == "text/event-stream"
        events = []
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
                PodHttp.first_event_seen.set()
    assert events == ["one", "two"]

    closed = emulator.proxy_url_template.format(pod_id=pod_id, port=22)
    assert httpx.get(closed + "/").status_code == 502  # mapped, but nothing listens
    assert httpx.get(emulator.proxy_url_template.format(pod_id="nosuchpod", port=8000)).status_code == 404
    runpod.stop_pod(pod_id)
    assert httpx.get(base + "/v1/models").status_code == 502
