"""The RunPod client's verbs against the RunPod emulator over REST v2: real HTTP, real faults.

Settings and requests are in test_types.py, retries and error mapping in test_transport.py, failover
in test_failover.py."""

from __future__ import annotations

import pytest
from clients import H100, H200, live_pods, make_client, pod_request, wait_for_ssh

from infra.emulator import Emulator, Faults
from infra.errors import (
    ConfigError,
    NotFoundError,
    ProviderError,
)
from infra.targets.runpod import naming
from infra.targets.runpod.failover import Placement, create_with_failover
from infra.targets.runpod.start_script import json_start_command

# The emulator fixture's key is a canary too (tests/runpod/conftest.py).


# ---- settings and naming ----------------------------------------------------------------------


# ---- GPU types ----------------------------------------------------------------------------------


def test_gpu_types_and_prices(emulator: Emulator) -> None:
    client, _ = make_client()
    types = {gpu.id: gpu for gpu in client.gpu_types()}
    assert types[H200].memory_gb == 141
    assert types[H200].secure_price == pytest.approx(3.59)
    assert client.gpu_type(H200).name == types[H200].name
    stocked = {offer.id: offer for offer in client.gpu_catalog(4)}
    assert stocked[H200].availability in ("LOW", "MEDIUM", "HIGH")
    assert stocked[H200].in_stock("US-TX-3")
    emulator.state.set_stock({"EU-RO-1": {H200: 8}})
    moved = {offer.id: offer for offer in client.gpu_catalog(4)}
    assert not moved[H200].in_stock("US-TX-3") and moved[H200].in_stock("EU-RO-1")
    tiers = {dc.id: dc.volume_types for dc in client.data_centers()}
    assert "STANDARD" in tiers["US-TX-3"]


def test_unknown_gpu_type_lists_the_valid_ones_and_creates_nothing(emulator: Emulator) -> None:
    client, sleeps = make_client()
    with pytest.raises(NotFoundError) as caught:
        client.gpu_type("NVIDIA H9000")
    assert "NVIDIA H9000" in str(caught.value) and H200 in str(caught.value)
    with pytest.raises(NotFoundError) as caught:
        client.create_gpu_pod(pod_request(gpu_type_id="NVIDIA H9000"))
    assert H100 in str(caught.value)
    assert sleeps.delays == []
    assert live_pods(emulator) == []


# ---- pods ---------------------------------------------------------------------------------------


def test_gpu_pod_create_get_list_terminate(emulator: Emulator) -> None:
    client, _ = make_client()
    volume = client.create_volume(
        naming.resource_name(naming.for_stack("flash", backend=""), "cache", "abc123"), 200, "US-TX-3"
    )
    # Quotes, backslashes and newlines must reach RunPod intact.
    start = json_start_command('echo "weights at \\"/workspace\\""\nexec sleep 600')
    request = pod_request(
        network_volume_id=volume.id,
        data_center_id="US-TX-3",
        args=start,
        env={"HF_TOKEN": "hf_not_for_logs", "NOTE": 'say "hi"'},
    )
    pod = client.create_gpu_pod(request)
    assert (pod.name, pod.gpu_type_id, pod.gpu_count, pod.data_center_id) == (
        request.name,
        H200,
        4,
        "US-TX-3",
    )
    assert pod.network_volume_id == volume.id
    assert pod.cost_per_hr == pytest.approx(4 * 3.59)
    assert pod.env_keys == ("HF_TOKEN", "NOTE")
    assert pod.http_ports == {8000: client.endpoint_url(pod.id)}
    assert client.endpoint_url(pod.id, 8000) == emulator.proxy_url_template.format(pod_id=pod.id, port=8000)
    held = emulator.state.get_pod(pod.id)
    assert held is not None and held.request.docker_args == start
    assert held.request.env["NOTE"] == 'say "hi"'

    running = wait_for_ssh(client, pod.id)
    assert running.ssh is not None and running.ssh[0] == "127.0.0.1" and running.ssh[1] > 0
    assert [p.id for p in client.list_pods(naming.PREFIX)] == [pod.id]
    assert [p.id for p in client.pods_named(request.name)] == [pod.id]
    assert client.list_pods("someone-else-") == []

    client.stop_pod(pod.id)
    stopped = client.get_pod(pod.id)
    assert stopped is not None and stopped.status == "EXITED" and stopped.ssh is None
    assert stopped.actions == ("start", "terminate") and not stopped.billed

    client.terminate_pod(pod.id)
    client.terminate_pod(pod.id)  # gone already: still success
    assert client.get_pod(pod.id) is None
    assert client.list_pods() == []
    assert live_pods(emulator) == []


def test_cpu_pod_for_the_prefill(emulator: Emulator) -> None:
    client, _ = make_client()
    volume = client.create_volume("v4i-flash-cache-abc123", 100, "EU-RO-1")
    request = pod_request(
        "prefill", gpu_type_id=None, gpu_count=0, network_volume_id=volume.id, ports=("22/tcp",)
    )
    pod = client.create_cpu_pod(request)
    assert pod.gpu_type_id is None and pod.gpu_count == 0
    assert pod.data_center_id == "EU-RO-1"  # a pod that mounts a volume runs where the volume is
    [record] = live_pods(emulator)
    assert record["kind"] == "cpu" and record["gpu_seconds"] == 0
    assert wait_for_ssh(client, pod.id).ssh is not None
    client.terminate_pod(pod.id)
    assert live_pods(emulator) == []
    with pytest.raises(ConfigError):
        client.create_cpu_pod(pod_request())
    with pytest.raises(ConfigError):
        client.create_gpu_pod(request)


# ---- network volumes ------------------------------------------------------------------------------


def test_volume_create_get_resize_delete(emulator: Emulator) -> None:
    client, _ = make_client()
    name = naming.resource_name(naming.for_stack("flash-4xh200", backend=""), "cache", naming.new_run_id())
    volume = client.create_volume(name, 190, "US-TX-3")
    assert (volume.name, volume.size_gb, volume.data_center_id) == (name, 190, "US-TX-3")
    assert client.get_volume(volume.id) == volume
    assert [v.id for v in client.list_volumes()] == [volume.id]
    assert client.resize_volume(volume.id, 250).size_gb == 250
    fetched = client.get_volume(volume.id)
    assert fetched is not None and fetched.size_gb == 250
    with pytest.raises(ProviderError, match="only grow"):
        client.resize_volume(volume.id, 10)
    client.delete_volume(volume.id)
    client.delete_volume(volume.id)  # gone already: still success
    assert client.get_volume(volume.id) is None
    assert emulator.inventory()["volumes"] == []
    with pytest.raises(ProviderError, match="data center"):
        client.create_volume(name, 10, "MOON-1")


def test_a_wrong_api_url_is_not_taken_for_a_deleted_volume(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = make_client()
    volume = client.create_volume("v4i-flash-cache-v1", 50, "US-TX-3")
    monkeypatch.setenv("RUNPOD_API_BASE_URL", emulator.url + "/elsewhere")
    misdirected, _ = make_client()
    with pytest.raises(NotFoundError):
        misdirected.delete_volume(volume.id)
    with pytest.raises(NotFoundError):
        misdirected.get_volume(volume.id)
    assert [v["id"] for v in emulator.inventory()["volumes"]] == [volume.id]


def test_volume_create_retried_after_502_makes_one_volume(emulator: Emulator) -> None:
    client, sleeps = make_client()
    emulator.set_faults(Faults(server_errors=2))
    volume = client.create_volume("v4i-flash-cache-abc123", 50, "US-TX-3")
    assert [v["id"] for v in emulator.inventory()["volumes"]] == [volume.id]
    assert len(sleeps.delays) == 2


# ---- errors and retries -------------------------------------------------------------------------


# ---- failover and orphans -----------------------------------------------------------------------


def test_500_after_create_adopts_the_pod_instead_of_renting_twice(emulator: Emulator) -> None:
    client, _ = make_client()
    emulator.set_faults(Faults(error_after_create=1))
    request = pod_request()
    result = create_with_failover(client, request, [Placement(H200, "US-TX-3")])
    assert [p["id"] for p in live_pods(emulator)] == [result.pod.id]
    assert result.pod.name == request.name
    assert emulator.inventory()["history"] == []  # no second pod was made and thrown away


# ---- property: random fault schedules never leave a pod behind -----------------------------------
