"""kill -9 at every stage of `v4infra up` and `down`, under random RunPod faults: the next verb recovers.

Each schedule (one seed) draws the faults at the RunPod edge (429s, 502s, a 500 after a create; the
failover's capacity faults are drawn in-process), the stage at which the run is killed, and how: only the CLI
(`kill -9 <pid>`, the engine then gets its parent-death signal) or the CLI with its whole engine
process group (a crash that leaves the lock behind). The recovery is the one the product offers, the
next `v4infra down`: it must heal a stale lock, remove what the killed run rented by the stack's
identity, and leave no pod billed, no volume but the weight cache kept on purpose, no lock file, and
a stack that the following verb can lock again. The in-process fault schedules are in
tests/runpod/test_fault_schedules.py; together they make more than 200.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.emulator import Emulator, Faults, Timing
from infra.targets.runpod import naming

pytestmark = pytest.mark.engine
STACK = "flash-4xh200"
# Pods take 1 s to start and the engine 10 s to load (simulated minutes): every stage lasts long enough to hit.
SLOW = Timing(start_seconds=600, load_seconds=6000)
STAGES = (
    "engine started",  # the lock is taken; maybe nothing rented yet
    "volume made",  # the weight-cache volume exists
    "pre-fill",  # the CPU pod that fills the cache is live
    "GPU pod create",  # a GPU pod exists (after failover through capacity errors)
    "runtime wait",  # the GPU pod's container runs; up waits for sshd and the engine
    "destroy",  # `down` of a finished up, killed mid-destroy
)
MODES = ("cli", "group")
SCHEDULES = [(seed, STAGES[seed % len(STAGES)], MODES[(seed // len(STAGES)) % 2]) for seed in range(12)]


@dataclass(frozen=True)
class KillSchedule:
    seed: int
    stage: str
    mode: str
    faults: Faults

    @classmethod
    def draw(cls, seed: int, stage: str, mode: str) -> KillSchedule:
        rng = random.Random(seed)
        edge = rng.randint(0, 3)  # in a row at most: the providers' 4 attempts outlast them
        rate_limit = rng.randint(0, edge)
        faults = Faults(
            rate_limit=rate_limit,
            server_errors=edge - rate_limit,
            # The create makes the pod, then answers 500: the client must find it by name.
            error_after_create=rng.randint(0, 1),
        )
        return cls(seed, stage, mode, faults)


def v4infra(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra", *args], capture_output=True, text=True, env=env, timeout=600
    )


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)


def lock_files(backend: Path) -> list[Path]:
    return list((backend / ".pulumi" / "locks").rglob("*.json")) if backend.exists() else []


def group_members(pgid: int) -> list[int]:
    """Processes still in the process group (zombies excluded)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def reached(stage: str, emulator: Emulator) -> bool:
    inventory = emulator.inventory()
    pods: list[dict[str, Any]] = inventory["pods"]
    gpu = [p for p in pods if p["kind"] != "cpu"]
    return {
        "engine started": True,
        "volume made": bool(inventory["volumes"]),
        "pre-fill": any(p["kind"] == "cpu" for p in pods),
        "GPU pod create": bool(gpu),
        "runtime wait": any(p["status"] == "RUNNING" for p in gpu),
    }[stage]


@pytest.mark.parametrize("timing", [SLOW])
@pytest.mark.parametrize(("seed", "stage", "mode"), SCHEDULES)
def test_kill_9_at_a_random_stage_then_down_recovers(
    emulator: Emulator,
    engine_env: dict[str, str],
    backend: Path,
    tmp_path: Path,
    seed: int,
    stage: str,
    mode: str,
) -> None:
    schedule = KillSchedule.draw(seed, stage, mode)
    context = f"seed {seed}: {schedule}"
    log = tmp_path / f"{stage}.log"
    record = Path(engine_env["V4INFRA_STATE_DIR"]) / STACK / "engine.json"
    verb = "up"
    if stage == "destroy":
        done = v4infra("up", STACK, env=engine_env)
        assert done.returncode == 0, f"{context}\n{done.stdout}{done.stderr}"
        verb = "down"
    emulator.set_faults(schedule.faults)
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra", verb, STACK],
        env=engine_env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        # The kill comes once the engine runs (its record names the CLI's pid) and the stage is reached.
        wait_until(
            lambda: (
                (record.is_file() and (stage == "destroy" or reached(stage, emulator)))
                or proc.poll() is not None
            ),
            f"{context}: stage {stage}",
        )
        assert proc.poll() is None, (
            f"{context}: `{verb}` ended (exit {proc.returncode}) before {stage}\n{log.read_text()}"
        )
        pgid = int(json.loads(record.read_text())["engine_pgid"])
        if mode == "group":
            os.killpg(pgid, signal.SIGKILL)  # the engine and its plugins die with it: the lock stays
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wait_until(
        lambda: not group_members(pgid), f"{context}: the engine and its plugins exit after their parent"
    )
    at_kill = emulator.inventory()

    # The recovery the product offers: the next verb, under the same faults still pending.
    down = v4infra("down", STACK, env=engine_env)
    output = down.stdout + down.stderr
    assert down.returncode == 0, f"{context}\n{output}"
    assert "Traceback" not in output, f"{context}\n{output}"
    after = emulator.inventory()
    assert after["pods"] == [], f"{context}: still billed {after['pods']} (at the kill: {at_kill['pods']})"
    cache = naming.for_stack(STACK, backend=engine_env["PULUMI_BACKEND_URL"]).name("cache", "v1")
    assert {v["name"] for v in after["volumes"]} <= {cache}, f"{context}: {after['volumes']}"
    assert lock_files(backend) == [], f"{context}: the stack is still locked"
    assert not record.exists(), f"{context}: the dead run's record was not cleared"

    # Unlocked: the following verb takes the lock and finishes; the cache goes with it on purpose.
    purge = v4infra("down", STACK, "--purge-cache", env=engine_env)
    assert purge.returncode == 0, f"{context}\n{purge.stdout}{purge.stderr}"
    assert emulator.inventory()["pods"] == [] and emulator.inventory()["volumes"] == [], context
    assert lock_files(backend) == [], context


@contextlib.contextmanager
def down_holding_the_lock(
    emulator: Emulator, engine_env: dict[str, str], backend: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A finished `up`, then `v4infra down` yielded once its destroy's CLI holds the stack's lock;
    killed at the end if still running. 429s at the edge make the destroy last long enough to act in."""
    record = Path(engine_env["V4INFRA_STATE_DIR"]) / STACK / "engine.json"
    done = v4infra("up", STACK, env=engine_env)
    assert done.returncode == 0, done.stdout + done.stderr
    emulator.set_faults(Faults(rate_limit=3, retry_after_seconds=1))
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra", "down", STACK],
        env={**engine_env, "PYTHONUNBUFFERED": "1", "COLUMNS": "300"},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(
            lambda: (record.is_file() and bool(lock_files(backend))) or proc.poll() is not None,
            "the destroy's CLI holding the stack's lock",
        )
        assert proc.poll() is None, log.read_text()
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("timing", [SLOW])
def test_down_outlives_its_own_pulumi_killed_mid_destroy_and_releases_the_lock_it_left(
    emulator: Emulator, engine_env: dict[str, str], backend: Path, tmp_path: Path
) -> None:
    """The OOM killer (or a stray kill -9) takes the CLI, not v4infra: the next attempt must not find the
    stack locked by the dead CLI, and the run still ends with nothing billed."""
    record = Path(engine_env["V4INFRA_STATE_DIR"]) / STACK / "engine.json"
    log = tmp_path / "down.log"
    with down_holding_the_lock(emulator, engine_env, backend, log) as proc:
        os.kill(int(json.loads(record.read_text())["engine_pgid"]), signal.SIGKILL)  # the CLI alone
        proc.wait(timeout=600)
    output = log.read_text()
    assert proc.returncode == 0, output
    assert "destroy attempt 1 failed (pulumi killed by signal 9" in output, output
    assert "currently locked" not in output, output
    assert emulator.inventory()["pods"] == [], output
    assert lock_files(backend) == [], "the dead CLI's lock is still there"


@pytest.mark.parametrize("timing", [SLOW])
def test_two_ctrl_c_during_down_are_answered_and_down_still_removes_everything(
    emulator: Emulator, engine_env: dict[str, str], backend: Path, tmp_path: Path
) -> None:
    """`v4infra down` is shielded as validate's teardown is: a second Ctrl-C never abandons the GPU pod."""
    log = tmp_path / "down.log"
    with down_holding_the_lock(emulator, engine_env, backend, log) as proc:
        for press in (1, 2):
            proc.send_signal(signal.SIGINT)
            wait_until(
                lambda n=press: log.read_text().count("teardown carries on") >= n or proc.poll() is not None,
                f"press {press} answered",
            )
        proc.wait(timeout=600)
    output = log.read_text()
    assert output.count("teardown carries on, still removing") == 2, output
    assert "A third Ctrl-C stops it" in output, output
    assert proc.returncode == 0 and "Traceback" not in output, output
    assert emulator.inventory()["pods"] == [], output
    assert lock_files(backend) == [], output
