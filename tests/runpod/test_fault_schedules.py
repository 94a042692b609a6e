"""Random fault schedules through the real create and delete paths: no schedule may leave a pod billed.

Each schedule is one seeded draw of what RunPod gets wrong (429 with Retry-After, 502s from the edge,
no capacity per GPU type and data center, a 500 after the pod was made, a low balance, containers that
die and crash-loop, images that never pull, scarce stock) and of how far the stack's `up` gets. It runs
the providers' own create paths (cache volume, CPU pre-fill, GPU pod with failover and the runtime wait)
over real HTTP against the emulator, then the teardown the product runs: Pulumi's deletes for what a
create returned, then `cleanup`'s stray removal by the stack's identity. After every schedule the
emulator holds no pod, and no volume unless the stack kept its weight cache on purpose.

A failing schedule prints its seed and draw; its batch is seed // 10:
`pytest "tests/runpod/test_fault_schedules.py::test_random_fault_schedules_leave_no_pod_billed[<batch>]"`.
The kill -9 schedules, against the real engine, are in tests/engine/test_engine_kill_schedules.py.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra import config
from infra.emulator import Emulator, Faults, Timing
from infra.emulator.hub import FakeHub
from infra.errors import CarriedError, ProviderError, WeightCacheError, rebuilt
from infra.planner import PlanRequest, plan
from infra.ssh import generate_keypair
from infra.targets.base import Credentials, TargetContext
from infra.targets.runpod import naming, providers, runtime
from infra.targets.runpod.client import RetryPolicy, RunPodClient, RunPodSettings
from infra.targets.runpod.start_script import cpu_start_script, gpu_start_script, json_start_command
from infra.targets.runpod.target import RunPodTarget

STACK = "flash-4xh200"
REPO = "deepseek-ai/DeepSeek-V4-Flash"
HF_TOKEN = "hf_CANARYscheduleTOKEN"
CANARY_KEY = "rpa_SCHEDULECANARY5e1f0a9c3b7d"
H200, H200_NVL, H100 = "NVIDIA H200", "NVIDIA H200 NVL", "NVIDIA H100 80GB HBM3"
GPUS = (H200, H200_NVL, H100)
DATA_CENTERS = ("US-TX-3", "EU-RO-1", "US-KS-2")
BATCHES, PER_BATCH = 16, 10  # 160 schedules here; the engine's kill -9 schedules add the rest of the 200+


class NoWait:
    """The client's injected sleep: a 429's Retry-After and every backoff are recorded, not waited out."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@dataclass
class Schedule:
    """One seeded draw: the faults, the stock, and which stages of `up` run."""

    seed: int
    faults: Faults
    stock: dict[str, dict[str, int]] | None
    data_centers: list[str]
    gpu_types: list[str]
    prefill: bool
    keep_cache: bool
    image: str

    @classmethod
    def draw(cls, seed: int) -> Schedule:
        rng = random.Random(seed)
        # At most 3 edge faults in a row: the client's 4 attempts outlast them (more has its own test,
        # tests/lifecycle/test_teardown_outlasts.py, where the lifecycle's deadline does the outlasting).
        edge = rng.randint(0, 3)
        rate_limit = rng.randint(0, edge)
        death = rng.random()
        faults = Faults(
            capacity_errors=rng.choice([0, 0, 1, 2]),
            capacity_gpu_types=[rng.choice(GPUS)] if rng.random() < 0.2 else [],
            capacity_data_centers=[rng.choice(DATA_CENTERS)] if rng.random() < 0.2 else [],
            error_after_create=rng.randint(0, 2),
            rate_limit=rate_limit,
            server_errors=edge - rate_limit,
            retry_after_seconds=rng.choice([1, 5, 30]),
            balance_too_low=rng.random() < 0.05,
            # A container that dies soon after starting: RunPod restarts it, so the pod crash-loops.
            die_after_seconds=rng.choice([0.5, 5.0]) if death < 0.08 else None,
            slow_start_seconds=rng.choice([0.0, 0.0, 30.0]),
        )
        stock = None
        if rng.random() < 0.4:
            stock = {
                dc: {gpu: rng.choice([0, 4, 8]) for gpu in rng.sample(GPUS, rng.randint(0, 3))}
                for dc in rng.sample(DATA_CENTERS, rng.randint(1, 3))
            }
        image = "registry.invalid/vllm:never" if 0.08 <= death < 0.12 else ""
        return cls(
            seed=seed,
            faults=faults,
            stock=stock,
            data_centers=rng.sample(DATA_CENTERS, rng.randint(1, 3)),
            gpu_types=rng.sample(GPUS, rng.randint(1, 3)),
            prefill=rng.random() < 0.25,
            keep_cache=rng.random() < 0.5,
            image=image,
        )


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """One emulator for the module, reset per schedule; pods start in about 10 ms, engines load in 5 ms."""
    with Emulator(
        api_key=CANARY_KEY, time_scale=200.0, timing=Timing(start_seconds=1.0, load_seconds=1.0)
    ) as emu:
        yield emu


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    with FakeHub(token=HF_TOKEN) as h:
        h.add_fake_checkpoint(REPO, shards=2, shard_bytes=2048)
        yield h


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_keypair("fault-schedules")


@pytest.fixture
def fast_edge(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> NoWait:
    """Providers build the real client, with the backoff's sleep injected (no real waiting)."""
    waits = NoWait()
    # One plain-HTTP transport for every client: loopback needs no TLS context (70 ms to build each time).
    transport = httpx.HTTPTransport()

    def client(settings: RunPodSettings[str]) -> RunPodClient:
        return RunPodClient(settings, retry=RetryPolicy(), sleep=waits, transport=transport)

    monkeypatch.setattr(runtime, "runpod_client", client)
    monkeypatch.setattr(runtime, "POLL_SECONDS", 0.05)
    monkeypatch.setenv("V4INFRA_STATE_DIR", str(tmp_path / "state"))
    return waits


def target_for(emulator: Emulator, tmp_path: Path) -> RunPodTarget:
    """The lifecycle's view of the stack: what `cleanup` lists as billed and removes."""
    spec = config.load_stack(STACK)
    context = TargetContext(
        spec=spec,
        plan=plan(spec.plan_request(), spec.catalog),
        env=emulator.env(),
        credentials=Credentials(runpod_api_key=emulator.api_key),
        state_dir=tmp_path / "state" / STACK,
    )
    target = RunPodTarget(context)
    target.client = RunPodClient(RunPodSettings.from_env(env=emulator.env()), sleep=NoWait())
    return target


def run_schedule(
    schedule: Schedule, emulator: Emulator, hub: FakeHub, keys: tuple[str, str], target: RunPodTarget
) -> str:
    """Run `up`'s creates under the schedule; returns how far it got. Raises only on a test failure."""
    identity = target.names
    run_id = naming.new_run_id()
    conn = {
        "api_key": emulator.api_key,
        "api_base_url": emulator.url,
        "proxy_url_template": emulator.proxy_url_template,
    }
    context = f"seed {schedule.seed}: {schedule}"
    recorded: list[tuple[Any, str, dict[str, Any]]] = []  # what Pulumi would hold in the state

    volume_props = {
        **conn,
        "name": identity.name("cache", "v1"),
        "size_gb": 200,
        "data_center_ids": schedule.data_centers,
        "placement_gpu_type_ids": schedule.gpu_types,
        "placement_gpu_count": 4,
        "volume_type": "auto",
    }
    reached = "volume"
    try:
        volume = providers.NetworkVolumeProvider().create(volume_props)
        recorded.append((providers.NetworkVolumeProvider(), volume.id, volume.outs))
        if schedule.prefill:
            reached = "prefill"
            prefill = {
                **conn,
                "name": identity.name("prefill", run_id),
                "stack": STACK,
                "volume_id": volume.id,
                "data_center_id": volume.outs["data_center_id"],
                "repo_id": REPO,
                "revision": "main",
                "cache_dir": "/workspace/hf",
                "image": "python:3.11-slim",
                "args": json_start_command(cpu_start_script(stack=STACK, ttl_seconds=None)),
                "hf_token": HF_TOKEN,
                "hf_endpoint": hub.url,
                "private_key": keys[0],
                "public_key": keys[1],
            }
            providers.WeightPrefillProvider().create(prefill)
            assert emulator.inventory()["pods"] == [], f"{context}: the pre-fill's CPU pod outlived it"
        reached = "gpu pod"
        p = plan(PlanRequest("flash", "H200", 4))
        pod_name = identity.name("pod", run_id)
        pod_props = {
            **conn,
            "name": pod_name,
            "image": schedule.image or p.engine.image,
            "gpu_type_ids": schedule.gpu_types,
            "gpu_count": 4,
            "data_center_ids": [volume.outs["data_center_id"]],  # a warm cache pins the pod's data center
            "volume_id": volume.id,
            "args": json_start_command(gpu_start_script(p, stack=STACK, pod_name=pod_name, ttl_seconds=None)),
            "ports": ["8000/http", "22/tcp"],
            "container_disk_gb": 50,
            "cache_gb": 190,
            "ttl_seconds": None,
            "env": {"PUBLIC_KEY": keys[1], "VLLM_API_KEY": "sk-schedule"},
        }
        pod = providers.PodProvider().create(pod_props)
        recorded.append((providers.PodProvider(), pod.id, pod.outs))
        live = [p["id"] for p in emulator.inventory()["pods"]]
        assert live == [pod.id], f"{context}: up rented {live}, the state records {pod.id}"
        reached = "served"
    except CarriedError as err:
        # The provider's error, as the engine rebuilds it: one of the tree's, never a bare one.
        cause = rebuilt(str(err))
        assert isinstance(cause, ProviderError | WeightCacheError), f"{context}: {err}"
        # A failed create is not in the state: whatever it rented, it removed itself.
        assert emulator.inventory()["pods"] == [], f"{context}: failed at {reached} ({err}) and left a pod"

    # The product's teardown: `pulumi destroy` deletes what the state records (newest first), keeping
    # the weight cache unless purged; then `cleanup`'s stray removal by the stack's identity.
    emulator.set_faults(
        Faults(rate_limit=emulator.faults.rate_limit, server_errors=emulator.faults.server_errors)
    )
    for provider, rid, outs in reversed(recorded):
        if isinstance(provider, providers.NetworkVolumeProvider) and schedule.keep_cache:
            continue
        provider.delete(rid, outs)
    for stray in target.billed(STACK, include_cache=not schedule.keep_cache):
        target.remove(stray)
    after = emulator.inventory()
    assert after["pods"] == [], f"{context}: reached {reached}; still billed: {after['pods']}"
    kept = [v["name"] for v in after["volumes"]]
    assert kept == ([volume_props["name"]] if schedule.keep_cache and recorded else []), f"{context}: {kept}"
    return reached


@pytest.mark.parametrize("batch", range(BATCHES))
def test_random_fault_schedules_leave_no_pod_billed(
    emulator: Emulator, hub: FakeHub, keys: tuple[str, str], fast_edge: NoWait, tmp_path: Path, batch: int
) -> None:
    target = target_for(emulator, tmp_path)
    reached: list[str] = []
    for seed in range(batch * PER_BATCH, (batch + 1) * PER_BATCH):
        schedule = Schedule.draw(seed)
        emulator.state.reset()
        if schedule.stock is not None:
            emulator.set_stock(schedule.stock)
        emulator.set_faults(schedule.faults)
        reached.append(run_schedule(schedule, emulator, hub, keys, target))


def test_the_schedules_draw_every_fault_and_every_stage() -> None:
    """The property is only as good as its draws: every fault kind and stage shows up, seeds are stable."""
    draws = [Schedule.draw(seed) for seed in range(BATCHES * PER_BATCH)]
    assert Schedule.draw(7) == Schedule.draw(7)
    counts = {
        "429": sum(d.faults.rate_limit > 0 for d in draws),
        "5xx": sum(d.faults.server_errors > 0 for d in draws),
        "capacity": sum(d.faults.capacity_errors > 0 for d in draws),
        "capacity per GPU type": sum(bool(d.faults.capacity_gpu_types) for d in draws),
        "capacity per data center": sum(bool(d.faults.capacity_data_centers) for d in draws),
        "500 after create": sum(d.faults.error_after_create > 0 for d in draws),
        "balance": sum(d.faults.balance_too_low for d in draws),
        "crash loop": sum(d.faults.die_after_seconds is not None for d in draws),
        "unpullable image": sum(bool(d.image) for d in draws),
        "scarce stock": sum(d.stock is not None for d in draws),
        "pre-fill": sum(d.prefill for d in draws),
        "cache kept": sum(d.keep_cache for d in draws),
        "cache purged": sum(not d.keep_cache for d in draws),
    }
    assert all(n >= 3 for n in counts.values()), counts
