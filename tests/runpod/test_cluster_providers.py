"""The Instant Cluster provider against the emulator, as the Pulumi engine would call it.

Real components: REST v2 over HTTP, members that run the rendered cluster start script in a sandbox
(sshd greeting on every member), and the emulator's cluster rules (one data center, members hidden
from the pod list, a member that exits takes its peers down).
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from paths import REPO_ROOT

from infra.emulator import Emulator, Faults
from infra.errors import CarriedError, PodFailedError, rebuilt
from infra.planner import PlanRequest, plan
from infra.ssh import generate_keypair
from infra.targets.runpod import runtime
from infra.targets.runpod.cluster_providers import ClusterProvider
from infra.targets.runpod.start_script import cluster_start_script, json_start_command

NAME = "v4i-test-0123456789-cluster-abc123"
H100 = "NVIDIA H100 80GB HBM3"


def wait_for(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def props(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("V4INFRA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(runtime, "POLL_SECONDS", 0.05)
    p = plan(PlanRequest("pro", "H100-SXM", 8, nodes=2))
    _, public = generate_keypair("test")
    return {
        "api_key": emulator.api_key,
        "api_base_url": emulator.url,
        "proxy_url_template": emulator.proxy_url_template,
        "name": NAME,
        "image": p.engine.image,
        "gpu_type_ids": [H100],
        "gpu_count": 8,
        "pod_count": 2,
        "data_center_ids": ["US-TX-3"],
        "volume_id": None,
        "args": json_start_command(cluster_start_script(p, stack="test", cluster_name=NAME)),
        "ports": ["8000/http", "22/tcp"],
        "container_disk_gb": 50,
        "ttl_seconds": 3600,
        "env": {"PUBLIC_KEY": public, "VLLM_API_KEY": "sk-test"},
    }


def nothing_billed(emulator: Emulator) -> bool:
    inventory = emulator.inventory()
    return inventory["pods"] == [] and inventory["clusters"] == []


def test_create_waits_for_every_member_read_follows_it_and_delete_leaves_nothing(
    emulator: Emulator, props: dict[str, Any]
) -> None:
    provider = ClusterProvider()
    made = provider.create(props)
    outs = made.outs
    (cluster,) = emulator.inventory()["clusters"]
    assert made.id == outs["cluster_id"] == cluster["id"]
    assert outs["member_pod_ids"] == cluster["podIds"] and outs["leader_pod_id"] == cluster["podIds"][0]
    assert all(address and address[1] for address in outs["member_ssh"]), "every member publishes SSH"
    assert (outs["ssh_host"], outs["ssh_port"]) == tuple(outs["member_ssh"][0])
    assert outs["endpoint"] == emulator.proxy_url_template.format(pod_id=outs["leader_pod_id"], port=8000)
    assert outs["usd_per_hour"] == pytest.approx(2 * 8 * 2.69)
    assert outs["data_center_id"] == "US-TX-3"

    assert provider.read(made.id, outs).id == made.id
    provider.delete(made.id, outs)
    assert nothing_billed(emulator)
    assert provider.read(made.id, outs).id is None, "refresh sees the cluster gone"
    provider.delete(made.id, outs)  # already gone counts as deleted


def test_an_interrupted_up_adopts_the_cluster_it_left_instead_of_renting_a_second(
    emulator: Emulator, props: dict[str, Any]
) -> None:
    provider = ClusterProvider()
    first = provider.create(props)
    again = provider.create(props)
    assert again.id == first.id
    assert [c["id"] for c in emulator.inventory()["clusters"]] == [first.id]
    provider.delete(first.id, first.outs)


def test_a_cluster_deleted_out_of_band_reads_as_gone(emulator: Emulator, props: dict[str, Any]) -> None:
    provider = ClusterProvider()
    made = provider.create(props)
    httpx.delete(
        f"{emulator.url}/v2/clusters/{made.id}", headers={"Authorization": f"Bearer {emulator.api_key}"}
    ).raise_for_status()
    assert provider.read(made.id, made.outs).id is None


def test_one_member_that_fails_to_start_tears_the_whole_cluster_down(
    emulator: Emulator, props: dict[str, Any]
) -> None:
    # Members take a while to start; meanwhile rank 1 is terminated behind the provider's back.
    emulator.set_faults(Faults(slow_start_seconds=600.0))

    def kill_rank_one() -> None:
        wait_for(lambda: bool(emulator.inventory()["clusters"]) and len(emulator.inventory()["pods"]) == 2)
        member = emulator.inventory()["clusters"][0]["podIds"][1]
        httpx.post(f"{emulator.url}/_emulator/pods/{member}/terminate").raise_for_status()

    killer = threading.Thread(target=kill_rank_one)
    killer.start()
    with pytest.raises(CarriedError, match="disappeared while starting") as caught:
        ClusterProvider().create(props)
    assert isinstance(rebuilt(str(caught.value)), PodFailedError)
    killer.join()
    assert nothing_billed(emulator), "the surviving member must not be left billing"


def test_members_that_crash_loop_are_deleted_with_their_cluster(
    emulator: Emulator, props: dict[str, Any]
) -> None:
    # Every container dies right after it starts; RunPod restarts them and would bill forever.
    emulator.set_faults(Faults(die_after_seconds=0.5))
    with pytest.raises(CarriedError, match="crash-looping") as caught:
        ClusterProvider().create(props)
    assert isinstance(rebuilt(str(caught.value)), PodFailedError)
    assert nothing_billed(emulator)


def test_an_image_that_cannot_be_pulled_fails_at_once_and_leaves_no_member(
    emulator: Emulator, props: dict[str, Any]
) -> None:
    emulator.set_faults(Faults(unpullable_images=[props["image"]]))
    with pytest.raises(CarriedError, match="is ERROR while starting") as caught:
        ClusterProvider().create(props)
    assert isinstance(rebuilt(str(caught.value)), PodFailedError)
    assert nothing_billed(emulator)


def test_a_changed_start_command_replaces_the_cluster_and_a_ttl_change_does_not(
    props: dict[str, Any],
) -> None:
    provider = ClusterProvider()
    replaced = provider.diff("c1", props, {**props, "args": props["args"] + " "})
    assert replaced.replaces == ["args"] and replaced.delete_before_replace
    updated = provider.diff("c1", props, {**props, "ttl_seconds": 7200})
    assert updated.changes and not updated.replaces


def test_a_cluster_of_two_gpu_types_is_refused_before_anything_is_rented(props: dict[str, Any]) -> None:
    checked = ClusterProvider().check({}, {**props, "gpu_type_ids": [H100, "NVIDIA H200"]})
    assert [f.property for f in checked.failures] == ["gpu_type_ids"]
    assert "exactly one GPU type" in checked.failures[0].reason


def test_the_policy_pack_judges_a_cluster_like_a_gpu_pod(props: dict[str, Any]) -> None:
    """The TTL and engine-image policies read the cluster's inputs (named like the GPU pod's)."""
    spec = importlib.util.spec_from_file_location("policy_checks", REPO_ROOT / "policy" / "policy_checks.py")
    assert spec is not None and spec.loader is not None
    policy_checks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(policy_checks)
    dynamic = "pulumi-python:dynamic:Resource"
    assert policy_checks.pod_ttl_violations(dynamic, props) == []
    no_ttl = {**props, "ttl_seconds": None, "permanent": False}
    assert policy_checks.pod_ttl_violations(dynamic, no_ttl), "a cluster without a TTL must be refused"
    assert policy_checks.engine_image_violations(dynamic, props) == []
    old = {**props, "image": "vllm/vllm-openai:v0.8.0"}
    assert policy_checks.engine_image_violations(dynamic, old), "an engine too old for V4 must be refused"
