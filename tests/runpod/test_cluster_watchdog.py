"""A cluster's time-to-live: the CPU watchdog pod deletes the whole cluster through REST v2, then itself.

A member's pod-scoped key cannot delete its cluster (members answer 409 on the pod routes, and a pod
key is refused elsewhere), so the stack's key in a small CPU pod keeps the TTL, as in plain mode.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from infra.emulator import Emulator
from infra.targets.runpod.client import PodRequest, RunPodClient, RunPodSettings
from infra.targets.runpod.start_script import watchdog_command
from infra.targets.runpod.types import ClusterRequest

NAME = "v4i-test-0123456789-cluster-ttl001"


def wait_for(check: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_the_watchdog_pod_deletes_the_cluster_when_its_ttl_ends_then_itself(emulator: Emulator) -> None:
    client = RunPodClient(RunPodSettings.from_env())
    cluster = client.create_cluster(
        ClusterRequest(
            name=NAME,
            image="vllm/vllm-openai:v0.25.0",
            gpu_type_id="NVIDIA H100 80GB HBM3",
            gpu_count_per_pod=8,
            pod_count=2,
            args='{"entrypoint":["bash","-c"],"cmd":["sleep infinity"]}',
        )
    )
    members = {m.pod.id for m in client.cluster_pods(cluster.id)}
    client.create_cpu_pod(
        PodRequest(
            name="v4i-test-0123456789-watchdog-ttl001",
            image="python:3.11-slim",
            args=watchdog_command(),
            ports=(),
            env={
                "V4INFRA_TARGET_CLUSTER": cluster.id,
                "V4INFRA_TTL_SECONDS": "1",
                "V4INFRA_RUNPOD_KEY": emulator.api_key,
                "RUNPOD_API_BASE_URL": emulator.url,
            },
        )
    )
    wait_for(lambda: emulator.inventory()["clusters"] == [])
    assert client.get_cluster(cluster.id) is None
    # Then the watchdog terminates its own pod: nothing of the stack is left billing.
    wait_for(lambda: emulator.inventory()["pods"] == [])
    assert {p["id"] for p in emulator.inventory()["history"]} >= members
