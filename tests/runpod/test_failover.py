"""Capacity failover (failover.py): placements in order, stock first, and no pod left that nobody
recorded; on the strict recording fake (fake_client.py) in milliseconds, then against the emulator
and the schema-checked v2 fake."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from clients import (
    H100,
    H200,
    H200_NVL,
    InterruptedAfterCreate,
    Recorder,
    client_for,
    gpu_request,
    live_pods,
    make_client,
    offer,
    pod_request,
)
from fake_client import ScriptedRunPod, UnscriptedCall
from fake_client import pod as fake_pod
from v2_fake import FakeRunPod, pod_view, problem

from infra.emulator import Emulator, Faults
from infra.errors import (
    AuthError,
    BalanceError,
    CapacityError,
    ConfigError,
    ProviderError,
    RefusedError,
    TeardownError,
    TransientError,
)
from infra.targets.runpod.client import RunPodClient
from infra.targets.runpod.failover import (
    Attempt,
    Placement,
    create_with_failover,
    placements_by_stock,
    stock_elsewhere,
)
from infra.targets.runpod.transport import RetryPolicy
from infra.targets.runpod.types import PodRequest, RunPodSettings


def test_api_down_during_failover_reports_the_possible_leftover(emulator: Emulator) -> None:
    client, _ = make_client(attempts=2)
    emulator.set_faults(Faults(server_errors=1000))
    request = pod_request()
    with pytest.raises(TeardownError) as caught:
        create_with_failover(client, request, [Placement(H200, "US-TX-3")])
    assert caught.value.leftover == [request.name]
    assert request.name in str(caught.value)
    assert live_pods(emulator) == []


def test_balance_too_low_is_not_retried_and_creates_nothing(emulator: Emulator) -> None:
    client, sleeps = make_client()
    emulator.set_faults(Faults(balance_too_low=True))
    with pytest.raises(BalanceError, match="balance is too low"):
        client.create_gpu_pod(pod_request())
    seen: list[Attempt] = []
    with pytest.raises(BalanceError):
        create_with_failover(
            client, pod_request(), [Placement(H200, "US-TX-3"), Placement(H100, "EU-RO-1")], seen.append
        )
    assert seen == []  # the second placement was not tried: money, not stock, is missing
    assert sleeps.delays == []
    assert live_pods(emulator) == []


def test_failover_moves_on_after_capacity_errors(emulator: Emulator) -> None:
    client, sleeps = make_client()
    emulator.set_faults(Faults(capacity_errors=2))
    seen: list[Attempt] = []
    options = [Placement(H200, "US-TX-3"), Placement(H200, "EU-RO-1"), Placement(H100, "EU-RO-1")]
    result = create_with_failover(client, pod_request(), options, on_attempt=seen.append)
    assert [(a.gpu_type_id, a.data_center_id) for a in result.attempts] == [
        (H200, "US-TX-3"),
        (H200, "EU-RO-1"),
        (H100, "EU-RO-1"),
    ]
    assert all("no longer any instances" in (a.error or "") for a in result.attempts[:2])
    assert result.attempts[2].error is None and seen == result.attempts
    assert (result.pod.gpu_type_id, result.pod.data_center_id) == (H100, "EU-RO-1")
    assert [p["id"] for p in live_pods(emulator)] == [result.pod.id]
    assert sleeps.delays == []  # capacity is not retried in place


def test_no_capacity_anywhere_names_every_option_and_leaves_nothing(emulator: Emulator) -> None:
    client, _ = make_client()
    emulator.set_faults(Faults(capacity_gpu_types=[H200]))
    options = [Placement(H200, "US-TX-3"), Placement(H200, "EU-RO-1"), Placement(H200_NVL, "US-TX-3")]
    with pytest.raises(CapacityError) as caught:
        create_with_failover(client, pod_request(), options)
    message = str(caught.value)
    assert "no capacity for 4x NVIDIA H200 in US-TX-3, EU-RO-1" in message
    assert "also tried 4x NVIDIA H200 NVL in US-TX-3" in message
    assert live_pods(emulator) == []
    assert emulator.inventory()["history"] == []


def test_500_after_create_without_retries_is_adopted_by_failover(emulator: Emulator) -> None:
    client, _ = make_client(attempts=1)
    emulator.set_faults(Faults(error_after_create=1))
    result = create_with_failover(client, pod_request(), [Placement(H200, "US-TX-3"), Placement(H100, None)])
    [attempt] = result.attempts
    assert attempt.adopted and "HTTP 500" in (attempt.error or "")
    assert [p["id"] for p in live_pods(emulator)] == [result.pod.id]


def test_ctrl_c_after_the_pod_was_made_leaves_no_pod(emulator: Emulator) -> None:
    client, _ = make_client()

    def interrupt(attempt: Attempt) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        create_with_failover(client, pod_request(), [Placement(H200, "US-TX-3")], on_attempt=interrupt)
    assert live_pods(emulator) == []
    assert len(emulator.inventory()["history"]) == 1


def test_ctrl_c_before_the_pod_id_came_back_leaves_no_pod(emulator: Emulator) -> None:
    client = InterruptedAfterCreate(RunPodSettings.from_env(), retry=RetryPolicy(4, 0.001, 0.002))
    with pytest.raises(KeyboardInterrupt):
        create_with_failover(client, pod_request(), [Placement(H200, "US-TX-3")])
    assert live_pods(emulator) == []


GPU_CHOICES = [H200, H100, H200, H100, H200_NVL]


DC_CHOICES = ["US-TX-3", "EU-RO-1", "EUR-IS-1", None]


@pytest.mark.parametrize("batch", range(4))
def test_random_fault_schedules_leave_nothing_behind(emulator: Emulator, batch: int) -> None:
    for seed in range(batch * 10, batch * 10 + 10):
        rng = random.Random(seed)
        emulator.state.reset()
        # Without retries, edge faults could make even the cleanup fail; that case has its own test.
        attempts = rng.choice([1, 4])
        edge = rng.randint(0, 3) if attempts == 4 else 0
        rate_limit = rng.randint(0, edge)
        faults = Faults(
            capacity_errors=rng.randint(0, 2),
            capacity_gpu_types=[rng.choice([H200, H100])] if rng.random() < 0.25 else [],
            capacity_data_centers=[rng.choice(["US-TX-3", "EU-RO-1"])] if rng.random() < 0.25 else [],
            error_after_create=rng.randint(0, 2),
            rate_limit=rate_limit,
            server_errors=edge - rate_limit,
            balance_too_low=rng.random() < 0.05,
        )
        emulator.set_faults(faults)
        options = [
            Placement(rng.choice(GPU_CHOICES), rng.choice(DC_CHOICES)) for _ in range(rng.randint(1, 4))
        ]
        interrupt = rng.choice(["none"] * 8 + ["on_attempt", "after_create"])
        policy = RetryPolicy(attempts, 0.001, 0.002)
        client_type = InterruptedAfterCreate if interrupt == "after_create" else RunPodClient
        client = client_type(RunPodSettings.from_env(), retry=policy, sleep=Recorder())

        def on_attempt(attempt: Attempt, interrupt: str = interrupt) -> None:
            if interrupt == "on_attempt":
                raise KeyboardInterrupt

        context = f"seed {seed}: {faults}, {options}, interrupt={interrupt}, attempts={attempts}"
        try:
            result = create_with_failover(client, pod_request(), options, on_attempt)
        except (CapacityError, BalanceError, KeyboardInterrupt):
            assert live_pods(emulator) == [], context
            continue
        assert [p["id"] for p in live_pods(emulator)] == [result.pod.id], context
        assert result.attempts[-1].error is None or result.attempts[-1].adopted, context
        assert emulator.inventory()["history"] == [], context  # nothing was rented twice
        emulator.set_faults(Faults())
        client.terminate_pod(result.pod.id)
        assert live_pods(emulator) == [], context


def test_catalog_stock_orders_placements_third_gpu_type_in_stock() -> None:
    catalog = [
        offer(H200, {"US-TX-3": "NONE"}),
        offer(H200_NVL, {"US-TX-3": "NONE"}),
        offer(H100, {"US-TX-3": "LOW"}),
    ]
    fake = FakeRunPod().on("GET", "/v2/catalog/gpus", (200, {"gpus": catalog}, {}))
    fake.on(
        "POST",
        "/v2/pods",
        lambda request, body: (201, pod_view("p3", body["name"], gpu=body["gpu"]["id"]), {}),
    )
    fake.on("GET", "/v2/pods", (200, {"pods": []}, {}))
    client, _ = client_for(fake)
    offers = client.gpu_catalog(4)
    placements = placements_by_stock(offers, [H200, H200_NVL, H100], ["US-TX-3"])
    assert placements[0].gpu_type_id == H100 and placements[0].stock == "LOW"
    result = create_with_failover(client, gpu_request(), placements)
    assert result.pod.gpu_type_id == H100 and len(result.attempts) == 1
    assert fake.contract_violations == []


def test_failover_walks_every_type_and_data_center_then_says_what_the_catalog_showed() -> None:
    fake = FakeRunPod()
    tried: list[tuple[str, str]] = []

    def create(request: httpx.Request, body: Any) -> tuple[int, Any, dict[str, str]]:
        place = (body["gpu"]["id"], body["dataCenterIds"][0])
        tried.append(place)
        if place == (H200, "EU-RO-1"):
            return 201, pod_view("p2", body["name"], data_center="EU-RO-1"), {}
        return (
            400,
            problem(400, "There are no longer any instances available with the requested specifications."),
            {},
        )

    catalog = [offer(H200, {"US-TX-3": "NONE", "EU-RO-1": "LOW"}), offer(H100, {"US-TX-3": "NONE"})]
    fake.on("POST", "/v2/pods", create).on("GET", "/v2/pods", (200, {"pods": []}, {}))
    fake.on("GET", "/v2/catalog/gpus", (200, {"gpus": catalog}, {}))
    client, _ = client_for(fake)
    catalog_offers = client.gpu_catalog(4)
    placements = placements_by_stock(catalog_offers, [H200, H100], ["US-TX-3", "EU-RO-1"])
    assert (placements[0].gpu_type_id, placements[0].data_center_id) == (H200, "EU-RO-1")
    assert create_with_failover(client, gpu_request(), placements).pod.data_center_id == "EU-RO-1"

    tried.clear()
    nowhere = [p for p in placements if p.data_center_id != "EU-RO-1"]
    elsewhere = stock_elsewhere(catalog_offers, [H200, H100], ["US-TX-3"])
    assert elsewhere == ["NVIDIA H200 in EU-RO-1 (LOW)"]
    with pytest.raises(CapacityError) as caught:
        create_with_failover(
            client, gpu_request(), nowhere, elsewhere="The catalog shows stock only elsewhere"
        )
    message = str(caught.value)
    assert tried == [(H200, "US-TX-3"), (H100, "US-TX-3")]
    assert "4x NVIDIA H200 in US-TX-3 (catalog: NONE)" in message and "NVIDIA H100 80GB HBM3" in message
    assert "stock only elsewhere" in message
    assert fake.contract_violations == []


# ---- on the strict recording fake: ordering, adoption and clean-up in milliseconds ---------------

NAME = "v4i-flash-4xh200-0123456789-pod-abc123"
TX, RO = Placement(H200, "US-TX-3", "NONE"), Placement(H200, "EU-RO-1", "LOW")


def request_at(gpu: str, data_center: str) -> Callable[[PodRequest], bool]:
    return lambda request: (request.gpu_type_id, request.data_center_id) == (gpu, data_center)


def no_capacity(where: str) -> CapacityError:
    return CapacityError(f"RunPod create pod in {where}: HTTP 400: no longer any instances available")


def test_the_first_placement_with_capacity_wins_and_nothing_else_is_touched() -> None:
    made = fake_pod("p2", NAME, data_center="EU-RO-1")
    client = (
        ScriptedRunPod()
        .expect("create_gpu_pod", no_capacity("US-TX-3"), check=request_at(H200, "US-TX-3"))
        .expect("create_gpu_pod", made, check=request_at(H200, "EU-RO-1"))
        .expect("pods_named", [made], check=lambda name: name == NAME)
    )
    result = create_with_failover(client, gpu_request(name=NAME), [TX, RO])
    client.done()
    assert result.pod is made
    assert [(a.data_center_id, a.error is None, a.stock) for a in result.attempts] == [
        ("US-TX-3", False, "NONE"),
        ("EU-RO-1", True, "LOW"),
    ]


def test_a_pod_an_earlier_attempt_left_is_terminated_once_one_is_kept() -> None:
    kept, stray = fake_pod("p2", NAME), fake_pod("p1", NAME)
    client = (
        ScriptedRunPod()
        .expect("create_gpu_pod", kept)
        .expect("pods_named", [stray, kept])
        .expect("terminate_pod", None, check=lambda pod_id: pod_id == "p1")
    )
    assert create_with_failover(client, gpu_request(name=NAME), [TX]).pod is kept
    client.done()


def test_a_500_after_the_pod_was_made_adopts_it_instead_of_renting_at_the_next_placement() -> None:
    made = fake_pod("p1", NAME)
    client = (
        ScriptedRunPod()
        .expect("create_gpu_pod", TransientError("RunPod create pod: HTTP 500: internal"))
        .expect("pods_named", [made])  # what did the failed create leave?
        .expect("pods_named", [made])  # nothing else under the name to clean up
    )
    result = create_with_failover(client, gpu_request(name=NAME), [TX, RO])
    client.done()
    assert (
        result.pod is made and result.attempts[0].adopted and "HTTP 500" in (result.attempts[0].error or "")
    )


def test_no_capacity_anywhere_checks_for_leftovers_and_names_each_placement_with_its_stock() -> None:
    client = (
        ScriptedRunPod()
        .expect("create_gpu_pod", no_capacity("US-TX-3"))
        .expect("create_gpu_pod", no_capacity("EU-RO-1"))
        .expect("pods_named", [])
    )
    with pytest.raises(CapacityError) as caught:
        create_with_failover(client, gpu_request(name=NAME), [TX, RO], elsewhere="Stock is in EUR-IS-1")
    client.done()
    message = str(caught.value)
    assert "no capacity for 4x NVIDIA H200 in US-TX-3 (catalog: NONE), EU-RO-1 (catalog: LOW)" in message
    assert message.endswith("Stock is in EUR-IS-1")


def test_refused_at_every_placement_is_a_problem_with_the_request_not_capacity() -> None:
    refused = RefusedError("RunPod create pod: HTTP 400: gpu.count exceeds the pool", status=400)
    client = (
        ScriptedRunPod()
        .expect("create_gpu_pod", refused)
        .expect("create_gpu_pod", refused)
        .expect("pods_named", [])
    )
    with pytest.raises(RefusedError, match=r"refused pod .* at every placement tried"):
        create_with_failover(client, gpu_request(name=NAME), [TX, RO])
    client.done()


@pytest.mark.parametrize(
    "error",
    [
        RefusedError("RunPod create pod: HTTP 422: $.gpu: bad", status=422),
        AuthError("RunPod rejected the API key (401)"),
        BalanceError("RunPod create pod: HTTP 402: balance is too low"),
    ],
)
def test_what_every_placement_would_answer_alike_stops_at_the_first(error: ProviderError) -> None:
    client = ScriptedRunPod().expect("create_gpu_pod", error).expect("pods_named", [])
    with pytest.raises(type(error)):
        create_with_failover(client, gpu_request(name=NAME), [TX, RO])
    client.done()  # the second placement was never tried


def test_ctrl_c_after_the_pod_was_made_terminates_it_before_the_interrupt_goes_on() -> None:
    made = fake_pod("p1", NAME)
    client = (
        ScriptedRunPod()
        .expect("create_gpu_pod", made)
        .expect("pods_named", [made])
        .expect("terminate_pod", None, check=lambda pod_id: pod_id == "p1")
    )

    def interrupt(attempt: Attempt) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        create_with_failover(client, gpu_request(name=NAME), [TX], on_attempt=interrupt)
    client.done()


def test_a_second_ctrl_c_during_the_terminate_still_terminates() -> None:
    made = fake_pod("p1", NAME)
    client = (
        ScriptedRunPod()
        .expect("create_gpu_pod", KeyboardInterrupt())
        .expect("pods_named", [made])
        .expect("terminate_pod", KeyboardInterrupt())
        .expect("terminate_pod", None)
    )
    with pytest.raises(KeyboardInterrupt):
        create_with_failover(client, gpu_request(name=NAME), [TX])
    client.done()


def test_a_clean_up_that_cannot_reach_runpod_says_what_may_still_bill() -> None:
    client = (
        ScriptedRunPod()
        .expect("create_gpu_pod", no_capacity("US-TX-3"))
        .expect("pods_named", TransientError("RunPod list pods: HTTP 502 (gave up after 4 attempts)"))
    )
    with pytest.raises(TeardownError) as caught:
        create_with_failover(client, gpu_request(name=NAME), [TX])
    client.done()
    assert caught.value.leftover == [NAME] and "RunPod console" in str(caught.value)


def test_no_placement_is_a_config_error_before_any_call() -> None:
    client = ScriptedRunPod()
    with pytest.raises(ConfigError, match="no GPU type / data center to try"):
        create_with_failover(client, gpu_request(name=NAME), [])
    assert client.calls == []


def test_the_fake_refuses_any_call_it_was_not_told_about() -> None:
    client = ScriptedRunPod().expect("pods_named", [])
    with pytest.raises(UnscriptedCall, match="expected pods_named"):
        client.terminate_pod("p1")
    with pytest.raises(AttributeError):
        client.create_volume  # noqa: B018
