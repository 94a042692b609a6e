"""The lifecycle's RunPod target on a cluster stack: what it counts as billed, removes, and calls alive."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from infra.config import load_stack
from infra.emulator import Emulator
from infra.planner import plan
from infra.targets import open_target
from infra.targets.base import Credentials, TargetContext
from infra.targets.runpod import naming
from infra.targets.runpod.client import RunPodClient, RunPodSettings
from infra.targets.runpod.cluster_target import RunPodClusterTarget
from infra.targets.runpod.props import ClusterStackOutputs
from infra.targets.runpod.types import ClusterRequest

STACK = "pro-2x8xh100"


def wait_for(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


@pytest.fixture
def target(emulator: Emulator, tmp_path: Path) -> RunPodClusterTarget:
    spec = load_stack(STACK)
    # The registry picks the cluster's lifecycle for a multi-node plan.
    target = open_target(
        TargetContext(
            spec=spec,
            plan=plan(spec.plan_request(), spec.catalog),
            env=dict(os.environ),
            credentials=Credentials(runpod_api_key=emulator.api_key),
            state_dir=tmp_path,
        )
    )
    assert isinstance(target, RunPodClusterTarget)
    return target


def rent(name: str) -> str:
    client = RunPodClient(RunPodSettings.from_env())
    request = ClusterRequest(
        name=name,
        image="vllm/vllm-openai:v0.25.0",
        gpu_type_id="NVIDIA H100 80GB HBM3",
        gpu_count_per_pod=8,
        pod_count=2,
        args='{"entrypoint":["bash","-c"],"cmd":["sleep infinity"]}',
    )
    return client.create_cluster(request).id


def test_billed_counts_this_stacks_cluster_only_and_remove_deletes_it_with_its_members(
    target: RunPodClusterTarget, emulator: Emulator
) -> None:
    ours = rent(naming.for_stack(STACK).name("cluster", "abc123"))
    # A stack whose name shares the slug but not the identity: never ours.
    theirs = rent(naming.for_stack(STACK + "-other").name("cluster", "abc123"))
    billed = target.billed(STACK, include_cache=False)
    assert [(b.kind, b.id) for b in billed] == [("cluster", ours)]
    assert "Instant Cluster of 2 GPU pods" in target.up_steps

    target.remove(billed[0])
    assert [c["id"] for c in emulator.inventory()["clusters"]] == [theirs]
    assert {p["clusterId"] for p in emulator.inventory()["pods"]} == {theirs}, "no member of ours is left"
    target.remove(billed[0])  # already gone counts as removed


def test_the_stack_is_alive_only_while_every_member_runs(
    target: RunPodClusterTarget, emulator: Emulator
) -> None:
    cluster_id = rent(naming.for_stack(STACK).name("cluster", "abc123"))
    outputs = ClusterStackOutputs(
        pod_id="unused",
        pod_name="unused",
        endpoint="unused",
        volume_id="unused",
        weights_skipped=False,
        weights_bytes_downloaded=0,
        vllm_api_key="unused",
        ssh_host=None,
        ssh_port=None,
        ssh_private_key="unused",
        cluster_id=cluster_id,
        member_pod_ids=[],
        member_ssh=[],
        usd_per_hour=None,
    ).to_props()
    client = RunPodClient(RunPodSettings.from_env())
    wait_for(lambda: [m.pod.status for m in client.cluster_pods(cluster_id)] == ["RUNNING", "RUNNING"])
    assert target.alive(outputs)
    worker = client.cluster_pods(cluster_id)[1].pod.id
    httpx.post(f"{emulator.url}/_emulator/pods/{worker}/terminate").raise_for_status()
    assert not target.alive(outputs), "a lost worker takes the distributed engine down"
