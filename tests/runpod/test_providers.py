"""The RunPod dynamic providers against the emulator, as the Pulumi engine would call them.

Real components throughout: REST v2 over HTTP, pods that run the rendered start scripts in a
sandbox, paramiko over SSH, and huggingface_hub against a local hub.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.emulator import Emulator
from infra.emulator.hub import FakeHub
from infra.errors import CapacityError, CarriedError, PodFailedError, WeightCacheError, rebuilt
from infra.planner import PlanRequest, plan
from infra.ssh import generate_keypair
from infra.targets.runpod import providers, runtime
from infra.targets.runpod.start_script import cpu_start_script, gpu_start_script, json_start_command

REPO = "deepseek-ai/DeepSeek-V4-Flash"
HF_CANARY = "hf_CANARYtokenNEVERshown"


def wait_for(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub(token=HF_CANARY) as h:
        h.add_fake_checkpoint(REPO, shards=3, shard_bytes=4096)
        yield h


@pytest.fixture
def conn(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("V4INFRA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(runtime, "POLL_SECONDS", 0.1)
    return {
        "api_key": emulator.api_key,
        "api_base_url": emulator.url,
        "proxy_url_template": emulator.proxy_url_template,
    }


@pytest.fixture
def keys() -> tuple[str, str]:
    return generate_keypair("test")


def volume_props(
    conn: dict[str, Any], size: int = 200, dcs: tuple[str, ...] = ("US-TX-3",)
) -> dict[str, Any]:
    return {
        **conn,
        "name": "v4i-test-cache-v1",
        "size_gb": size,
        "data_center_ids": list(dcs),
        "placement_gpu_type_ids": ["NVIDIA H200"],
        "placement_gpu_count": 4,
        "volume_type": "auto",
    }


def prefill_props(
    conn: dict[str, Any], volume_id: str, hub: FakeHub, keys: tuple[str, str]
) -> dict[str, Any]:
    return {
        **conn,
        "name": "v4i-test-prefill-abc123",
        "stack": "test",
        "volume_id": volume_id,
        "data_center_id": "US-TX-3",
        "repo_id": REPO,
        "revision": "main",
        "cache_dir": "/workspace/hf",
        "image": "python:3.11-slim",
        "args": json_start_command(cpu_start_script(stack="test", ttl_seconds=None)),
        "hf_token": HF_CANARY,
        "hf_endpoint": hub.url,
        "private_key": keys[0],
        "public_key": keys[1],
    }


def pod_props(
    conn: dict[str, Any], volume_id: str, keys: tuple[str, str], ttl: int | None = None
) -> dict[str, Any]:
    p = plan(PlanRequest("flash", "H200", 4))
    script = gpu_start_script(p, stack="test", pod_name="v4i-test-pod-abc123", ttl_seconds=ttl)
    return {
        **conn,
        "name": "v4i-test-pod-abc123",
        "image": p.engine.image,
        "gpu_type_ids": ["NVIDIA H200"],
        "gpu_count": 4,
        "data_center_ids": ["US-TX-3"],
        "volume_id": volume_id,
        "args": json_start_command(script),
        "ports": ["8000/http", "22/tcp"],
        "container_disk_gb": 50,
        "cache_gb": 190,
        "ttl_seconds": ttl,
        "env": {"PUBLIC_KEY": keys[1], "VLLM_API_KEY": "sk-test"},
    }


def test_volume_create_adopts_by_name_grows_and_deletes(emulator: Emulator, conn: dict[str, Any]) -> None:
    vp = providers.NetworkVolumeProvider()
    first = vp.create(volume_props(conn))
    again = vp.create(volume_props(conn, size=250))  # a retried or re-run `up` with the cache kept
    assert again.id == first.id and again.outs["adopted"] is True
    assert [v["size"] for v in emulator.inventory()["volumes"]] == [250]
    assert vp.diff(first.id, first.outs, volume_props(conn, size=100)).replaces == ["size_gb"]
    vp.delete(first.id, volume_props(conn))
    vp.delete(first.id, volume_props(conn))  # already gone is fine
    assert vp.read(first.id, volume_props(conn)).id is None
    assert emulator.inventory()["volumes"] == []


def test_prefill_fills_then_skips_and_redoes_an_incomplete_copy(
    emulator: Emulator, conn: dict[str, Any], hub: FakeHub, keys: tuple[str, str]
) -> None:
    volume_id = providers.NetworkVolumeProvider().create(volume_props(conn)).id
    pp = providers.WeightPrefillProvider()
    first = pp.create(prefill_props(conn, volume_id, hub, keys))
    assert first.outs["skipped"] is False and first.outs["bytes_downloaded"] > 0
    served = hub.bytes_served(REPO)
    second = pp.create(prefill_props(conn, volume_id, hub, keys))
    assert second.outs["skipped"] is True and hub.bytes_served(REPO) == served, (
        "a warm volume downloads nothing"
    )
    volume_dir = Path(emulator.state_dir) / "volumes"
    shard = next(volume_dir.rglob("*.safetensors"))
    shard.write_bytes(shard.read_bytes()[:100])  # a broken copy: the next fill must notice and redo it
    third = pp.create(prefill_props(conn, volume_id, hub, keys))
    assert third.outs["skipped"] is False and hub.bytes_served(REPO) > served
    pods = emulator.inventory()
    assert pods["pods"] == [], "every pre-fill pod is terminated"
    assert all(p["kind"] == "cpu" and p["gpu_seconds"] == 0 for p in pods["history"])


def test_prefill_without_a_token_fails_and_leaves_no_pod(
    emulator: Emulator, conn: dict[str, Any], hub: FakeHub, keys: tuple[str, str]
) -> None:
    volume_id = providers.NetworkVolumeProvider().create(volume_props(conn)).id
    props = {**prefill_props(conn, volume_id, hub, keys), "hf_token": None}
    with pytest.raises(CarriedError, match="token") as caught:
        providers.WeightPrefillProvider().create(props)
    assert isinstance(rebuilt(str(caught.value)), WeightCacheError), "the engine rebuilds its class"
    assert emulator.inventory()["pods"] == []


def test_gpu_pod_serves_from_the_volume_and_refresh_sees_an_out_of_band_terminate(
    emulator: Emulator, conn: dict[str, Any], hub: FakeHub, keys: tuple[str, str]
) -> None:
    volume_id = providers.NetworkVolumeProvider().create(volume_props(conn)).id
    providers.WeightPrefillProvider().create(prefill_props(conn, volume_id, hub, keys))
    pod = providers.PodProvider()
    created = pod.create(pod_props(conn, volume_id, keys))
    outs = created.outs
    assert outs["ssh_port"] and outs["endpoint"].startswith(emulator.url)
    auth = {"Authorization": "Bearer sk-test"}
    wait_for(lambda: httpx.get(outs["endpoint"] + "/health", timeout=5).status_code == 200, timeout=60)
    models = httpx.get(outs["endpoint"] + "/v1/models", headers=auth, timeout=5).json()
    assert models["data"][0]["id"] == REPO
    assert pod.read(created.id, pod_props(conn, volume_id, keys)).id == created.id
    httpx.post(f"{emulator.url}/_emulator/pods/{created.id}/terminate", timeout=5)
    assert pod.read(created.id, pod_props(conn, volume_id, keys)).id is None
    pod.delete(created.id, pod_props(conn, volume_id, keys))  # deleting what is gone succeeds


def test_a_changed_image_replaces_the_pod_and_a_ttl_change_does_not(conn: dict[str, Any], keys) -> None:
    old = pod_props(conn, "vol", keys)
    new_image = {**old, "image": "vllm/vllm-openai:v0.20.0"}
    assert providers.PodProvider().diff("id", old, new_image).replaces == ["image"]
    diff = providers.PodProvider().diff("id", old, {**old, "api_key": "other"})
    assert diff.changes and not diff.replaces


def test_the_pod_terminates_itself_after_its_ttl(
    emulator: Emulator, conn: dict[str, Any], hub: FakeHub, keys: tuple[str, str]
) -> None:
    from infra.targets.runpod.client import PodRequest

    volume_id = providers.NetworkVolumeProvider().create(volume_props(conn)).id
    props = pod_props(conn, volume_id, keys, ttl=2)
    # Created without waiting for sshd: a 2-second TTL may fire before anyone could log in.
    pod = _client_for(conn).create_pod(
        PodRequest(
            name=props["name"],
            image=props["image"],
            gpu_type_id="NVIDIA H200",
            gpu_count=4,
            data_center_id="US-TX-3",
            network_volume_id=volume_id,
            args=props["args"],
            ports=tuple(props["ports"]),
            env=props["env"],
        )
    )
    wait_for(lambda: not any(p["id"] == pod.id for p in emulator.inventory()["pods"]), timeout=120)
    [gone] = [p for p in emulator.inventory()["history"] if p["id"] == pod.id]
    assert gone["status"] == "TERMINATED"


def test_prefill_streams_progress_for_the_up_display(
    emulator: Emulator, conn: dict[str, Any], hub: FakeHub, keys: tuple[str, str]
) -> None:
    from infra.targets.runpod.prefill import PROGRESS_FILE, run_prefill
    from infra.targets.runpod.props import PrefillInputs

    volume_id = providers.NetworkVolumeProvider().create(volume_props(conn)).id
    events: list[dict[str, Any]] = []
    inputs = PrefillInputs.from_props(prefill_props(conn, volume_id, hub, keys))
    result = run_prefill(inputs, on_event=events.append)
    kinds = [e["event"] for e in events]
    assert "progress" in kinds and kinds[-1] == "done"
    last = [e for e in events if e["event"] == "progress"][-1]
    assert last["bytes"] == last["total"] == result.bytes_downloaded
    assert not (runtime.state_dir("test") / PROGRESS_FILE).exists(), "cleared once the pre-fill is over"


def test_the_cache_goes_where_the_gpus_are_and_then_pins_the_pod_there(
    emulator: Emulator, conn: dict[str, Any], keys: tuple[str, str]
) -> None:
    from infra.targets.runpod.client import PodRequest, RunPodClient, RunPodSettings

    client = RunPodClient(RunPodSettings.from_props(conn))
    # Someone else rents every H200 in US-TX-3.
    client.create_gpu_pod(
        PodRequest(
            name="other-tenant",
            image="ubuntu:24.04",
            gpu_type_id="NVIDIA H200",
            gpu_count=8,
            data_center_id="US-TX-3",
            ports=("22/tcp",),
        )
    )
    stock = {offer.id: offer for offer in client.gpu_catalog(4)}
    assert not stock["NVIDIA H200"].in_stock("US-TX-3")
    vp = providers.NetworkVolumeProvider()
    created = vp.create(volume_props(conn, dcs=("US-TX-3", "EU-RO-1")))
    assert created.outs["data_center_id"] == "EU-RO-1", "the first listed data center with H200s free"
    diff = vp.diff(created.id, created.outs, volume_props(conn, dcs=("EU-RO-1", "US-TX-3")))
    assert not diff.replaces, "reordering the list keeps the warm cache"
    assert vp.diff(created.id, created.outs, volume_props(conn, dcs=("US-TX-3",))).replaces == [
        "data_center_ids"
    ]


def test_up_leaves_no_pod_when_the_container_crash_loops(
    emulator: Emulator, conn: dict[str, Any], keys: tuple[str, str]
) -> None:
    from infra.emulator import Faults

    volume_id = providers.NetworkVolumeProvider().create(volume_props(conn)).id
    emulator.set_faults(Faults(die_after_seconds=0.5))
    with pytest.raises(CarriedError, match="crash-looping") as caught:
        providers.PodProvider().create(pod_props(conn, volume_id, keys))
    assert isinstance(rebuilt(str(caught.value)), PodFailedError)
    assert emulator.inventory()["pods"] == [], "a failed create is not in the state, so nothing may bill"


def test_an_image_that_cannot_be_pulled_fails_at_once_and_leaves_nothing(
    emulator: Emulator, conn: dict[str, Any], keys: tuple[str, str]
) -> None:
    from infra.emulator import Faults

    volume_id = providers.NetworkVolumeProvider().create(volume_props(conn)).id
    props = pod_props(conn, volume_id, keys)
    emulator.set_faults(Faults(unpullable_images=[props["image"]]))
    with pytest.raises(CarriedError, match="is ERROR") as caught:
        providers.PodProvider().create(props)
    assert isinstance(rebuilt(str(caught.value)), PodFailedError)
    assert emulator.inventory()["pods"] == []


def test_failover_finds_the_third_gpu_type_in_stock(
    emulator: Emulator, conn: dict[str, Any], keys: tuple[str, str]
) -> None:
    volume_id = providers.NetworkVolumeProvider().create(volume_props(conn)).id
    emulator.state.set_stock({"US-TX-3": {"NVIDIA H100 80GB HBM3": 8}})
    props = {
        **pod_props(conn, volume_id, keys),
        "gpu_type_ids": ["NVIDIA H200", "NVIDIA H200 NVL", "NVIDIA H100 80GB HBM3"],
    }
    created = providers.PodProvider().create(props)
    assert created.outs["gpu_type_id"] == "NVIDIA H100 80GB HBM3"
    assert [p["id"] for p in emulator.inventory()["pods"]] == [created.id]
    assert emulator.inventory()["history"] == [], "no pod was rented and thrown away on the way"
    providers.PodProvider().delete(created.id, props)


def test_no_stock_in_the_pinned_data_center_says_where_there_is_and_what_moving_costs(
    emulator: Emulator, conn: dict[str, Any], keys: tuple[str, str]
) -> None:
    volume_id = providers.NetworkVolumeProvider().create(volume_props(conn)).id
    emulator.state.set_stock({"EU-RO-1": {"NVIDIA H200": 8}})
    with pytest.raises(CarriedError, match="no capacity") as caught:
        providers.PodProvider().create(pod_props(conn, volume_id, keys))
    assert isinstance(rebuilt(str(caught.value)), CapacityError)
    message = str(caught.value)
    assert "US-TX-3 (catalog: NONE)" in message
    assert "NVIDIA H200 in EU-RO-1" in message and "cold start" in message and "190 GB" in message
    assert emulator.inventory()["pods"] == []


def test_the_cache_takes_the_fast_tier_where_offered_and_standard_when_asked(
    emulator: Emulator, conn: dict[str, Any]
) -> None:
    vp = providers.NetworkVolumeProvider()
    fast = vp.create(volume_props(conn, dcs=("US-TX-3",)))
    assert fast.outs["volume_type"] == "HIGH_PERFORMANCE"
    vp.delete(fast.id, fast.outs)
    plain = vp.create({**volume_props(conn, dcs=("US-KS-2",))})
    assert plain.outs["volume_type"] == "STANDARD", "US-KS-2 offers only the standard tier"
    vp.delete(plain.id, plain.outs)
    asked = vp.create({**volume_props(conn, dcs=("US-TX-3",)), "volume_type": "STANDARD"})
    assert asked.outs["volume_type"] == "STANDARD"
    assert [v["type"] for v in emulator.inventory()["volumes"]] == ["STANDARD"]


def _client_for(conn: dict[str, Any]) -> Any:
    from infra.targets.runpod.client import RunPodClient, RunPodSettings

    return RunPodClient(RunPodSettings.from_props(conn))


def test_prefill_caches_the_accuracy_datasets_beside_the_checkpoint(
    emulator: Emulator, conn: dict[str, Any], hub: FakeHub, keys: tuple[str, str]
) -> None:
    """The GSM8K the accuracy stage reads lands on the volume in the same CPU pod, so the GPU pod downloads nothing."""
    from infra.targets.runpod.prefill import run_prefill
    from infra.targets.runpod.props import PrefillInputs

    commit = hub.add_gsm8k(test_rows=12, train_rows=2)
    volume_id = providers.NetworkVolumeProvider().create(volume_props(conn)).id
    result = run_prefill(PrefillInputs.from_props(prefill_props(conn, volume_id, hub, keys)))

    volume_dir = Path(emulator.state_dir) / "volumes"
    (refs,) = volume_dir.rglob("datasets--openai--gsm8k/refs/main")
    assert refs.read_text() == commit and result.commit != commit, (
        "the checkpoint's commit is still the result"
    )
    assert next(refs.parents[1].rglob("main/test-00000-of-00001.parquet")).stat().st_size > 0
    history = emulator.inventory()["history"]
    assert [p["kind"] for p in history] == ["cpu"], "one CPU pod did both"
