"""Pods and volumes made through the real `runpod` SDK and REST v2, for the emulator's tests."""

from __future__ import annotations

from typing import Any

import httpx
import runpod
from recording_runtime import wait_for

from infra.emulator import Emulator

NO_CAPACITY = (
    "There are no longer any instances available with the requested specifications. "
    "Please refresh and try again."
)
H200 = "NVIDIA H200"
IMAGE = "vllm/vllm-openai:v0.20.0"
VOLUMES = "/v2/network-volumes"


def volume_body(name: str, size: int, data_center: str) -> dict[str, Any]:
    return {"name": name, "size": size, "dataCenter": data_center}


def graphql(emulator: Emulator, query: str, key: str | None = None) -> httpx.Response:
    return httpx.post(
        emulator.graphql_base_url + "/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {key or emulator.api_key}"},
    )


def h200_pod(name: str = "v4-flash", **kwargs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "name": name, "image_name": IMAGE, "gpu_type_id": H200, "cloud_type": "SECURE",
        "data_center_id": "EU-RO-1", "gpu_count": 2, "ports": "8000/http,22/tcp",
        "docker_args": "bash -c 'sleep 30'", "volume_mount_path": "/workspace",
        "env": {"VLLM_API_KEY": "sk-test"},
    }  # fmt: skip
    args.update(kwargs)
    return runpod.create_pod(**args)


def running_runtime(pod_id: str) -> dict[str, Any]:
    return wait_for(lambda: (runpod.get_pod(pod_id) or {}).get("runtime"))
