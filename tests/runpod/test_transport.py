"""The one edge that calls RunPod (transport.py): only the retryable is retried, Retry-After is waited,
problem answers become errors a user can act on, and the key never appears in a message."""

from __future__ import annotations

import logging
import socket

import pytest
from clients import (
    H200,
    V2_KEY,
    WRONG_KEY,
    Recorder,
    client_for,
    gpu_request,
    live_pods,
    make_client,
    offer,
    pod_request,
)
from v2_fake import FakeRunPod, problem

from infra.emulator import Emulator, Faults
from infra.errors import (
    AuthError,
    BalanceError,
    CapacityError,
    NotFoundError,
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
)
from infra.targets.runpod.transport import RetryPolicy
from infra.targets.runpod.types import RunPodSettings


def test_wrong_key_is_an_auth_error_and_not_retried(emulator: Emulator) -> None:
    client, sleeps = make_client(api_key=WRONG_KEY)
    with pytest.raises(AuthError) as pods_error:
        client.list_pods()
    with pytest.raises(AuthError) as volumes_error:
        client.list_volumes()
    assert sleeps.delays == []
    for error in (pods_error.value, volumes_error.value):
        assert "RUNPOD_API_KEY" in str(error)
        assert WRONG_KEY not in str(error) and WRONG_KEY not in repr(error)


def test_rate_limits_and_bad_gateways_are_retried_then_succeed(emulator: Emulator) -> None:
    client, sleeps = make_client()
    emulator.set_faults(Faults(rate_limit=2, server_errors=2))
    result = create_with_failover(client, pod_request(), [Placement(H200, "US-TX-3")])
    assert result.attempts == [Attempt(H200, "US-TX-3", None)]
    assert [p["id"] for p in live_pods(emulator)] == [result.pod.id]
    assert (emulator.faults.rate_limit, emulator.faults.server_errors) == (0, 0)
    assert len(sleeps.delays) == 4  # one backoff per refused request


def test_an_unreachable_api_is_transient_and_bounded(emulator: Emulator) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    sleeps = Recorder()
    settings = RunPodSettings(emulator.api_key, api_base_url=closed)
    client = RunPodClient(settings, retry=RetryPolicy(3, 0.001, 0.002), sleep=sleeps)
    with pytest.raises(TransientError, match="gave up after 3 attempts"):
        client.list_pods()
    with pytest.raises(TransientError, match="gave up after 3 attempts"):
        client.list_volumes()
    assert len(sleeps.delays) == 4


def test_a_429_waits_for_the_emulators_retry_after(emulator: Emulator) -> None:
    client, sleeps = make_client()
    emulator.set_faults(Faults(rate_limit=1, retry_after_seconds=7))
    assert client.list_pods() == []
    assert sleeps.delays and sleeps.delays[0] >= 7


def test_persistent_bad_gateway_gives_up_after_the_bounded_attempts(emulator: Emulator) -> None:
    client, sleeps = make_client(attempts=4)
    emulator.set_faults(Faults(server_errors=1000))
    with pytest.raises(TransientError, match="gave up after 4 attempts"):
        client.list_pods()
    assert 1000 - emulator.faults.server_errors == 4
    assert len(sleeps.delays) == 3
    assert all(0 < delay <= 0.004 for delay in sleeps.delays)


def test_the_key_never_appears_in_errors_or_logs(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    scenarios = [
        Faults(server_errors=1000),
        Faults(capacity_gpu_types=[H200]),
        Faults(balance_too_low=True),
        Faults(rate_limit=1000),
    ]
    for faults in scenarios:
        emulator.set_faults(faults)
        client, _ = make_client(attempts=2)
        with pytest.raises((ProviderError, TeardownError)) as caught:
            create_with_failover(client, pod_request(), [Placement(H200, "US-TX-3")])
        errors.append(caught.value)
    emulator.set_faults(Faults())
    for call in (lambda c: c.list_volumes(), lambda c: c.list_pods()):
        with pytest.raises(AuthError) as caught:
            call(make_client(api_key=WRONG_KEY)[0])
        errors.append(caught.value)
    for error in errors:
        chain: BaseException | None = error
        while chain is not None:
            for secret in (emulator.api_key, WRONG_KEY, "hf_not_for_logs"):
                assert secret not in str(chain) and secret not in repr(chain)
            chain = chain.__cause__ or chain.__context__
    assert emulator.api_key not in caplog.text and WRONG_KEY not in caplog.text


def test_a_429_waits_as_long_as_retry_after_says() -> None:
    fake = FakeRunPod().on(
        "GET",
        "/v2/pods",
        (429, problem(429, "rate limit exceeded for the minute window"), {"Retry-After": "12"}),
        (200, {"pods": []}, {}),
    )
    client, sleeps = client_for(fake)
    assert client.list_pods() == []
    assert sleeps and sleeps[0] >= 12.0
    assert fake.contract_violations == []


@pytest.mark.parametrize(
    ("status", "detail", "error"),
    [
        (
            400,
            "There are no longer any instances available with the requested specifications.",
            CapacityError,
        ),
        (402, "Your account balance is too low to rent a pod.", BalanceError),
        (401, "missing bearer token", AuthError),
        (422, "Request validation failed.", RefusedError),
        (404, "gpu type not found", NotFoundError),
    ],
)
def test_problem_answers_map_to_errors_a_user_can_act_on(status: int, detail: str, error: type) -> None:
    fake = FakeRunPod().on("POST", "/v2/pods", (status, problem(status, detail + " " + V2_KEY), {}))
    if status == 404:
        fake.on("GET", "/v2/catalog/gpus", (200, {"gpus": [offer(H200, {})]}, {}))
    client, sleeps = client_for(fake)
    with pytest.raises(error) as caught:
        client.create_pod(gpu_request())
    assert V2_KEY not in str(caught.value)
    assert sleeps == []  # none of these is retried
    if status == 404:
        assert "valid ids: NVIDIA H200" in str(caught.value)


def test_a_422_names_each_violation_and_is_never_retried() -> None:
    answer = problem(
        422, "Request validation failed.", errors=["$: additional properties 'bogus' not allowed"]
    )
    fake = FakeRunPod().on("POST", "/v2/pods", (422, answer, {}))
    client, sleeps = client_for(fake)
    with pytest.raises(RefusedError) as caught:
        client.create_pod(gpu_request())
    assert "'bogus' not allowed" in str(caught.value) and caught.value.status == 422
    assert len(fake.calls) == 1 and sleeps == []


def test_5xx_is_retried_then_reported_with_the_count() -> None:
    fake = FakeRunPod().on("GET", "/v2/network-volumes", (502, problem(502, "bad gateway"), {}))
    client, sleeps = client_for(fake, attempts=3)
    with pytest.raises(TransientError, match="gave up after 3 attempts"):
        client.list_volumes()
    assert len(sleeps) == 2
