"""The RunPod client, naming and failover against the RunPod emulator over REST v2: real HTTP, real faults."""

from __future__ import annotations

import logging
import pickle
import random
import socket
import time

import pytest

from infra.emulator import Emulator, Faults
from infra.errors import (
    AuthError,
    BalanceError,
    CapacityError,
    ConfigError,
    NotFoundError,
    ProviderError,
    TeardownError,
    TransientError,
)
from infra.targets.runpod import naming
from infra.targets.runpod.client import Pod, PodRequest, RetryPolicy, RunPodClient, RunPodSettings
from infra.targets.runpod.failover import Attempt, Placement, create_with_failover
from infra.targets.runpod.start_script import json_start_command

H200 = "NVIDIA H200"
H200_NVL = "NVIDIA H200 NVL"
H100 = "NVIDIA H100 80GB HBM3"
IMAGE = "runpod/base:0.6.2-cpu"
WRONG_KEY = "rpa_WRONGCANARY9876543210zyxw"
# The emulator fixture's key is a canary too (tests/runpod/conftest.py).


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


# ---- settings and naming ----------------------------------------------------------------------


def test_missing_key_says_how_to_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    with pytest.raises(AuthError) as caught:
        RunPodSettings.from_env()
    assert "pulumi config set --secret deepseek-v4-infra:runpodApiKey" in str(caught.value)
    assert "RUNPOD_API_KEY" in str(caught.value)


def test_settings_hide_the_key_and_survive_pickling(emulator: Emulator) -> None:
    settings = RunPodSettings.from_env()
    assert settings.api_base_url == emulator.url
    assert RunPodSettings.from_props(settings.to_props()) == settings
    assert emulator.api_key not in repr(settings)
    assert emulator.api_key not in repr(RunPodClient(settings))
    assert pickle.loads(pickle.dumps(settings)) == settings
    request = pod_request(env={"HF_TOKEN": "hf_CANARY_TOKEN"})
    assert "hf_CANARY_TOKEN" not in repr(request)
    assert "HF_TOKEN" in repr(request)


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


def test_bad_requests_stop_before_any_call(emulator: Emulator) -> None:
    with pytest.raises(ConfigError, match="cloud"):
        pod_request(cloud="CHEAP")
    with pytest.raises(ConfigError, match="port"):
        pod_request(ports=("8000/web",))
    with pytest.raises(ConfigError, match="SECURE"):
        pod_request(network_volume_id="vol", cloud="COMMUNITY")
    with pytest.raises(ConfigError, match="power of two"):
        pod_request(gpu_type_id=None, vcpu_count=3)


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


# ---- failover and orphans -----------------------------------------------------------------------


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


def test_500_after_create_adopts_the_pod_instead_of_renting_twice(emulator: Emulator) -> None:
    client, _ = make_client()
    emulator.set_faults(Faults(error_after_create=1))
    request = pod_request()
    result = create_with_failover(client, request, [Placement(H200, "US-TX-3")])
    assert [p["id"] for p in live_pods(emulator)] == [result.pod.id]
    assert result.pod.name == request.name
    assert emulator.inventory()["history"] == []  # no second pod was made and thrown away


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


class InterruptedAfterCreate(RunPodClient):
    """Ctrl-C lands after RunPod made the pod but before its id reached the caller."""

    def create_gpu_pod(self, request: PodRequest) -> Pod:
        super().create_gpu_pod(request)
        raise KeyboardInterrupt


def test_ctrl_c_before_the_pod_id_came_back_leaves_no_pod(emulator: Emulator) -> None:
    client = InterruptedAfterCreate(RunPodSettings.from_env(), retry=RetryPolicy(4, 0.001, 0.002))
    with pytest.raises(KeyboardInterrupt):
        create_with_failover(client, pod_request(), [Placement(H200, "US-TX-3")])
    assert live_pods(emulator) == []


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


# ---- property: random fault schedules never leave a pod behind -----------------------------------


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
