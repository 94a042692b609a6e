"""kill -9 of the providers' create and delete paths in a process of their own, then `v4infra cleanup --yes`.

A `python -c` runs what the engine's provider host runs for `up` (cache volume, CPU pre-fill, GPU pod
with failover and the runtime wait), then the deletes of `down`, against the emulator under seeded edge
faults; the schedule kills it with SIGKILL at one stage. Nothing of it reached a Pulumi state, so the
recovery is `cleanup --yes`, which removes what carries the stack's identity. After it: no pod, no
volume but the weight cache when it is kept on purpose (no `--purge-cache`), no lock. With tests/runpod/test_fault_schedules.py and tests/engine/test_engine_kill_schedules.py
these make more than 200 schedules.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from canary_record import seed_passing_canary
from lifecycle_env import PASSPHRASE, STACK

from infra.config import project_root
from infra.emulator import Emulator, Faults, Timing
from infra.emulator.hub import FakeHub
from infra.planner import PlanRequest, plan
from infra.ssh import generate_keypair
from infra.targets.runpod import naming
from infra.targets.runpod.start_script import cpu_start_script, gpu_start_script, json_start_command
from infra.workspace import copy_project

CANARY_KEY = "rpa_KILLSCHEDULECANARY8d2e61f0"
HF_TOKEN = "hf_KILLSCHEDULEcanary4b7e"
REPO = "deepseek-ai/DeepSeek-V4-Flash"
STAGES = ("volume", "pre-fill", "GPU pod create", "runtime wait", "delete")
SCHEDULES = 30

# What the engine's provider host does for `up`, then `down`'s deletes: the real providers, in order.
DRIVER = """
import json, os, sys
from infra.targets.runpod import providers
props = json.loads(os.environ["SCHEDULE_PROPS"])
say = lambda stage: (sys.stdout.write(stage + "\\n"), sys.stdout.flush())
volume = providers.NetworkVolumeProvider().create(props["volume"])
providers.WeightPrefillProvider().create({**props["prefill"], "volume_id": volume.id,
    "data_center_id": volume.outs["data_center_id"]})
pod = providers.PodProvider().create({**props["pod"], "volume_id": volume.id,
    "data_center_ids": [volume.outs["data_center_id"]]})
say("deleting")
providers.PodProvider().delete(pod.id, pod.outs)
providers.NetworkVolumeProvider().delete(volume.id, volume.outs)
say("deleted")
"""


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One emulator, hub, file backend and project copy; each schedule starts from an empty account."""
    if shutil.which("pulumi") is None:
        pytest.fail("no `pulumi` CLI on PATH: run `make tools`, then `. tools/pulumi-env.sh`", pytrace=False)
    tmp = tmp_path_factory.mktemp("kill-schedules")
    project = copy_project(project_root(), tmp / "project")
    (tmp / "backend").mkdir()
    # Pods take 0.3 s to start: every stage lasts long enough to be hit.
    timing = Timing(start_seconds=30.0, load_seconds=30.0)
    with (
        Emulator(api_key=CANARY_KEY, time_scale=100.0, timing=timing) as emulator,
        FakeHub(token=HF_TOKEN) as hub,
    ):
        hub.add_fake_checkpoint(REPO, shards=2, shard_bytes=2048)
        drop = ("PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_BACKEND_URL", "PULUMI_ACCESS_TOKEN", "CI")
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env.update(
            emulator.env(),
            V4INFRA_ROOT=str(project),
            V4INFRA_STATE_DIR=str(tmp / "state"),
            PULUMI_BACKEND_URL=f"file://{tmp / 'backend'}",
            PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
            PULUMI_SKIP_UPDATE_CHECK="true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        )
        seed_passing_canary(tmp / "state", CANARY_KEY)
        yield {"env": env, "emulator": emulator, "hub": hub, "backend": tmp / "backend", "project": project}


def schedule_props(world: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The providers' inputs as the program builds them, named for the stack's identity."""
    emulator: Emulator = world["emulator"]
    names = naming.for_stack(STACK, backend=world["env"]["PULUMI_BACKEND_URL"])
    run_id = naming.new_run_id()
    private, public = generate_keypair("kill-schedule")
    conn = {
        "api_key": CANARY_KEY,
        "api_base_url": emulator.url,
        "proxy_url_template": emulator.proxy_url_template,
    }
    p = plan(PlanRequest("flash", "H200", 4))
    pod_name = names.name("pod", run_id)
    return {
        "volume": {
            **conn,
            "name": names.name("cache", "v1"),
            "size_gb": 200,
            "data_center_ids": rng.sample(["US-TX-3", "EU-RO-1"], 2),
            "placement_gpu_type_ids": ["NVIDIA H200", "NVIDIA H100 80GB HBM3"],
            "placement_gpu_count": 4,
            "volume_type": "auto",
        },
        "prefill": {
            **conn,
            "name": names.name("prefill", run_id),
            "stack": STACK,
            "repo_id": REPO,
            "revision": "main",
            "cache_dir": "/workspace/hf",
            "image": "python:3.11-slim",
            "args": json_start_command(cpu_start_script(stack=STACK, ttl_seconds=None)),
            "hf_token": HF_TOKEN,
            "hf_endpoint": world["hub"].url,
            "private_key": private,
            "public_key": public,
        },
        "pod": {
            **conn,
            "name": pod_name,
            "image": p.engine.image,
            "gpu_type_ids": ["NVIDIA H200", "NVIDIA H100 80GB HBM3"],
            "gpu_count": 4,
            "args": json_start_command(gpu_start_script(p, stack=STACK, pod_name=pod_name, ttl_seconds=None)),
            "ports": ["8000/http", "22/tcp"],
            "container_disk_gb": 50,
            "cache_gb": 190,
            "ttl_seconds": None,
            "env": {"PUBLIC_KEY": public, "VLLM_API_KEY": "sk-kill-schedule"},
        },
    }


def reached(stage: str, emulator: Emulator, lines: list[str]) -> bool:
    inventory = emulator.inventory()
    gpu = [p for p in inventory["pods"] if p["kind"] != "cpu"]
    return {
        "volume": bool(inventory["volumes"]) or bool(inventory["pods"]),
        "pre-fill": any(p["kind"] == "cpu" for p in inventory["pods"]) or bool(gpu),
        "GPU pod create": bool(gpu),
        "runtime wait": any(p["status"] != "PROVISIONING" for p in gpu),
        "delete": "deleting" in lines,
    }[stage]


@pytest.mark.parametrize("seed", range(SCHEDULES))
def test_provider_killed_at_a_random_stage_then_cleanup_leaves_nothing(
    world: dict[str, Any], seed: int
) -> None:
    rng = random.Random(seed)
    stage = STAGES[seed % len(STAGES)]
    emulator: Emulator = world["emulator"]
    emulator.state.reset()
    edge = rng.randint(0, 3)  # in a row at most: the client's 4 attempts outlast them
    rate_limit = rng.randint(0, edge)
    faults = Faults(
        rate_limit=rate_limit,
        server_errors=edge - rate_limit,
        # No H200 where the cache lands: the GPU pod fails over to the H100.
        capacity_gpu_types=["NVIDIA H200"] if rng.random() < 0.5 else [],
        error_after_create=rng.randint(0, 1),
    )
    # A kill before anything is rented, once the process runs, or only when the stage is reached.
    early = stage == "volume" and rng.random() < 0.5
    context = f"seed {seed}: stage {stage}{' (before any request)' if early else ''}, {faults}"
    emulator.set_faults(faults)
    lines: list[str] = []
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER],
        env={**world["env"], "SCHEDULE_PROPS": json.dumps(schedule_props(world, rng))},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)

    def at_stage() -> bool:
        lines.extend(line.strip() for line in proc.stdout.readlines())  # type: ignore[union-attr]
        return early or reached(stage, emulator, lines) or proc.poll() is not None

    try:
        wait_until(at_stage, context)
        ended = proc.poll()
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert ended is None, f"{context}: the create path ended (exit {ended}) before the stage\n{err}"

    purge = rng.random() < 0.5
    cleanup = subprocess.run(
        [sys.executable, "-m", "infra", "cleanup", STACK, "--yes", *(["--purge-cache"] if purge else [])],
        capture_output=True,
        text=True,
        cwd=world["project"],
        env=world["env"],
        timeout=600,
    )
    output = cleanup.stdout + cleanup.stderr
    assert cleanup.returncode == 0 and "Traceback" not in output, f"{context}\n{output}"
    after = emulator.inventory()
    assert after["pods"] == [], f"{context}: still billed after cleanup: {after['pods']}\n{output}"
    # The weight cache is kept on purpose unless purged; nothing else is.
    cache = naming.for_stack(STACK, backend=world["env"]["PULUMI_BACKEND_URL"]).name("cache", "v1")
    kept = {v["name"] for v in after["volumes"]}
    assert (kept == set()) if purge else (kept <= {cache}), (
        f"{context}: purge={purge}, {after['volumes']}\n{output}"
    )
    assert list((world["backend"] / ".pulumi" / "locks").rglob("*.json")) == [], context
