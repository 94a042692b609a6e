"""The account's billing: pods bill in simulated time while they hold GPUs, volumes per GB-month."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import runpod
from recording_runtime import wait_for
from runpod.error import QueryError
from sdk_pods import H200, IMAGE, VOLUMES, h200_pod, volume_body
from stopped_clock import StoppedClock
from v2_client import V2

from infra.emulator import Emulator, Faults, Timing
from infra.emulator.account import RESUME_NO_GPUS, Account
from infra.emulator.errors import NoCapacity, NotFound
from infra.emulator.resources import PodRequest


def test_billing_follows_simulated_time_and_stops_at_terminate(
    make_emulator: Callable[..., Emulator],
) -> None:
    # One real second is ten hours here: amounts are asserted in simulated units only.
    emulator = make_emulator(time_scale=36000.0)
    with V2(emulator) as v2:
        assert v2.post(VOLUMES, volume_body("weights", 1000, "EU-RO-1")).status_code == 201
    pod_id = h200_pod()["id"]
    wait_for(lambda: emulator.inventory()["pods"][0]["gpu_seconds"] >= 2 * 3600)
    live = emulator.inventory()["pods"][0]
    assert live["gpu_seconds"] == pytest.approx(2 * live["seconds"], rel=1e-3)
    assert live["usd"] == pytest.approx(live["seconds"] / 3600 * 2 * 3.59, rel=1e-3)

    runpod.terminate_pod(pod_id)
    final = emulator.inventory()["history"][0]
    wait_for(lambda: emulator.inventory()["now"] > final["terminatedAt"] + 3600)
    later = emulator.inventory()
    assert later["history"][0]["usd"] == final["usd"] >= live["usd"]
    assert later["totals"]["gpu_seconds"] == final["gpu_seconds"]
    volume = later["volumes"][0]
    # 1000 GB bills at the large-volume rate, $0.05/GB/month, from its creation to now.
    age = later["now"] - volume["createdAt"]
    assert volume["usd"] == pytest.approx(1000 * 0.05 * age / (30 * 24 * 3600), rel=1e-3)
    assert later["totals"]["usd"] == pytest.approx(final["usd"] + volume["usd"], rel=1e-6)


def test_stopped_pod_stops_billing(make_emulator: Callable[..., Emulator]) -> None:
    emulator = make_emulator(time_scale=36000.0)
    pod_id = h200_pod()["id"]
    runpod.stop_pod(pod_id)
    stopped = emulator.inventory()["pods"][0]
    wait_for(lambda: emulator.inventory()["now"] > stopped["seconds"] + 3600)
    assert emulator.inventory()["pods"][0]["usd"] == stopped["usd"]


def test_error_after_create_leaves_a_billed_pod(emulator: Emulator) -> None:
    httpx.post(f"{emulator.url}/_emulator/faults", json={"error_after_create": 1}).raise_for_status()
    with pytest.raises(QueryError, match="Something went wrong"):
        h200_pod(name="v4-run-7")
    pods = emulator.inventory()["pods"]
    assert [(pod["name"], pod["desiredStatus"]) for pod in pods] == [("v4-run-7", "RUNNING")]
    assert [pod["name"] for pod in runpod.get_pods()] == ["v4-run-7"]  # the client can find it by name


# ---- the account itself, without HTTP ---------------------------------------------------------------


def h200_request(**kwargs: Any) -> PodRequest:
    return PodRequest(name="p", image_name=IMAGE, gpu_type_id=H200, gpu_count=2, **kwargs)


def test_a_pod_takes_gpus_from_the_first_place_with_enough_and_bills_until_stopped(tmp_path: Path) -> None:
    clock = StoppedClock()
    account = Account(clock, Timing(), Faults(), tmp_path)
    account.set_stock({"EU-RO-1": {H200: 1}, "US-TX-3": {H200: 8}})
    pod = account.create_pod(h200_request(data_center_ids=["EU-RO-1", "US-TX-3"]))
    assert pod.data_center_id == "US-TX-3" and account.stock["US-TX-3"][H200] == 6
    clock.at = 3600.0
    account.stop_pod(pod.id)
    assert account.stock["US-TX-3"][H200] == 8, "a stopped pod gives its GPUs back"
    assert pod.billed_seconds == 3600.0 and pod.usd == pytest.approx(2 * 3.59)
    clock.at = 7200.0
    account.accrue_all()
    assert pod.usd == pytest.approx(2 * 3.59), "and bills no more"


def test_a_resume_without_free_gpus_is_refused_in_runpods_words(tmp_path: Path) -> None:
    account = Account(StoppedClock(), Timing(), Faults(), tmp_path)
    account.set_stock({"EU-RO-1": {H200: 2}})
    pod = account.create_pod(h200_request())
    account.stop_pod(pod.id)
    account.set_stock({"EU-RO-1": {H200: 0}})
    with pytest.raises(NoCapacity) as refused:
        account.resume_pod(pod.id, None)
    assert refused.value.message == RESUME_NO_GPUS


def test_a_terminated_pod_is_kept_as_it_ended_and_no_pod_is_found_twice(tmp_path: Path) -> None:
    clock = StoppedClock()
    account = Account(clock, Timing(), Faults(), tmp_path)
    pod = account.create_pod(h200_request())
    clock.at = 60.0
    account.terminate_pod(pod.id)
    assert account.pods == {} and account.history == [pod]
    assert (pod.status, pod.terminated_at, pod.billed_seconds) == ("TERMINATED", 60.0, 60.0)
    with pytest.raises(NotFound):
        account.terminate_pod(pod.id)
