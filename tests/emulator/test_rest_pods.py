"""REST v1 pods: the entrypoint override a vLLM image needs, and RunPod's REST error wording."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from infra.emulator import Emulator, Faults, Timing


def wait_for(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def post_pod(emulator: Emulator, **fields: object) -> httpx.Response:
    body = {
        "name": "v4i-test-pod-abc123",
        "imageName": "vllm/vllm-openai:v0.20.0",
        "gpuTypeIds": ["NVIDIA H200"],
        "gpuCount": 1,
        "cloudType": "SECURE",
        "ports": ["22/tcp"],
        **fields,
    }
    return httpx.post(
        f"{emulator.rest_base_url}/pods",
        json=body,
        headers={"Authorization": f"Bearer {emulator.api_key}"},
        timeout=30,
    )


def test_entrypoint_override_runs_the_script_instead_of_vllm_serve() -> None:
    with Emulator(time_scale=100.0, timing=Timing(start_seconds=10, load_seconds=10)) as emulator:
        answer = post_pod(
            emulator, dockerEntrypoint=["bash", "-c"], dockerStartCmd=["echo 'hello from bash'; sleep 30"]
        )
        assert answer.status_code == 201, answer.text
        pod_id = answer.json()["id"]
        logs = f"{emulator.url}/_emulator/pods/{pod_id}/logs"
        wait_for(
            lambda: any("hello from bash" in line for line in httpx.get(logs).json()["logs"]), timeout=30
        )
        headers = {"Authorization": f"Bearer {emulator.api_key}"}
        assert (
            httpx.get(f"{emulator.rest_base_url}/pods/{pod_id}", headers=headers).json()["desiredStatus"]
            == "RUNNING"
        )
        assert httpx.delete(f"{emulator.rest_base_url}/pods/{pod_id}", headers=headers).status_code == 204
        assert emulator.inventory()["pods"] == []


def test_without_the_override_the_image_entrypoint_gets_the_args() -> None:
    with Emulator(time_scale=100.0, timing=Timing(start_seconds=10, load_seconds=10)) as emulator:
        pod_id = post_pod(emulator, dockerStartCmd=["bash", "-c", "echo hi"]).json()["id"]
        logs = f"{emulator.url}/_emulator/pods/{pod_id}/logs"
        # `vllm serve bash -c ...` is what RunPod runs for an image with an ENTRYPOINT: it fails.
        wait_for(
            lambda: any("vllm serve: error" in line for line in httpx.get(logs).json()["logs"]), timeout=30
        )
        assert not any(line.strip() == "hi" for line in httpx.get(logs).json()["logs"])


def test_no_capacity_uses_the_rest_wording() -> None:
    with Emulator(faults=Faults(capacity_errors=1)) as emulator:
        answer = post_pod(emulator)
        assert answer.status_code == 500
        assert answer.json() == {
            "error": "create pod: There are no instances currently available",
            "status": 500,
        }
        assert emulator.inventory()["pods"] == []
