"""Helpers for the RunPod client tests: a client on the emulator with its sleeps recorded, requests,
and a client on the schema-checked v2 fake (v2_fake.py)."""

from __future__ import annotations

import time
from typing import Any

from v2_fake import FakeRunPod

from infra.emulator import Emulator
from infra.targets.runpod import naming
from infra.targets.runpod.client import RunPodClient
from infra.targets.runpod.transport import RetryPolicy
from infra.targets.runpod.types import Pod, PodRequest, RunPodSettings

H200 = "NVIDIA H200"
H200_NVL = "NVIDIA H200 NVL"
H100 = "NVIDIA H100 80GB HBM3"


IMAGE = "runpod/base:0.6.2-cpu"


WRONG_KEY = "rpa_WRONGCANARY9876543210zyxw"


class Recorder:
    """A client's injected sleep: records every backoff instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_client(attempts: int = 4, api_key: str | None = None) -> tuple[RunPodClient, Recorder]:
    sleeps = Recorder()
    policy = RetryPolicy(attempts=attempts, base_delay=0.001, max_delay=0.004)
    return RunPodClient(RunPodSettings.from_env(api_key), retry=policy, sleep=sleeps), sleeps


def pod_request(kind: str = "pod", **overrides: object) -> PodRequest:
    fields: dict[str, object] = {
        "name": naming.resource_name(naming.for_stack("flash-4xh200", backend=""), kind, naming.new_run_id()),
        "image": IMAGE,
        "gpu_type_id": H200,
        "gpu_count": 4,
        "env": {"HF_TOKEN": "hf_not_for_logs"},
    }
    fields.update(overrides)
    return PodRequest(**fields)  # type: ignore[arg-type]


def live_pods(emulator: Emulator) -> list[dict[str, object]]:
    return list(emulator.inventory()["pods"])


def wait_for_ssh(client: RunPodClient, pod_id: str) -> Pod:
    deadline = time.monotonic() + 30
    while True:
        pod = client.get_pod(pod_id)
        assert pod is not None
        if pod.ssh is not None or time.monotonic() > deadline:
            return pod
        time.sleep(0.02)


class InterruptedAfterCreate(RunPodClient):
    """Ctrl-C lands after RunPod made the pod but before its id reached the caller."""

    def create_gpu_pod(self, request: PodRequest) -> Pod:
        super().create_gpu_pod(request)
        raise KeyboardInterrupt


V2_KEY = "rpa_CANARYv2key0123456789SECRET"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_for(fake: FakeRunPod, attempts: int = 4) -> tuple[RunPodClient, Sleeps]:
    sleeps = Sleeps()
    settings = RunPodSettings(api_key=V2_KEY, api_base_url="https://api.runpod.io")
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
