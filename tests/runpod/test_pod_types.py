"""RunPod pod values (infra/targets/runpod/pod_types.py): requests checked before any call, v2 bodies that
meet the published schema, answers read into pods."""

from __future__ import annotations

import pytest
from clients import H200, client_for, gpu_request, pod_request
from v2_fake import FakeRunPod, pod_view

from infra.emulator import Emulator
from infra.errors import ConfigError


def test_bad_requests_stop_before_any_call(emulator: Emulator) -> None:
    with pytest.raises(ConfigError, match="cloud"):
        pod_request(cloud="CHEAP")
    with pytest.raises(ConfigError, match="port"):
        pod_request(ports=("8000/web",))
    with pytest.raises(ConfigError, match="SECURE"):
        pod_request(network_volume_id="vol", cloud="COMMUNITY")
    with pytest.raises(ConfigError, match="power of two"):
        pod_request(gpu_type_id=None, vcpu_count=3)


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
