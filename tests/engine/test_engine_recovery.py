"""A run killed hard recovers by itself; a wrong passphrase removes nothing the state owns; secrets set
only in the stack's config serve every verb. All on the real engine against the emulator.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.emulator import Emulator, Timing

pytestmark = pytest.mark.engine
STACK = "flash-4xh200"
# The engine takes 100 simulated minutes (10 s) to load and pods 10 minutes (1 s) to start.
SLOW = Timing(start_seconds=600, load_seconds=6000)


def v4infra(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra", *args], capture_output=True, text=True, env=env, timeout=600
    )


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)


def record_path(env: dict[str, str]) -> Path:
    return Path(env["V4INFRA_STATE_DIR"]) / STACK / "engine.json"


def lock_files(backend: Path) -> list[Path]:
    return [p for p in (backend / ".pulumi" / "locks").rglob("*.json")] if backend.exists() else []


def engine_processes(run_token: str) -> list[int]:
    """The run's CLI and plugins: everything whose environment carries its token (zombies excluded)."""
    marker = f"V4INFRA_ENGINE_RUN={run_token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            carries = marker in (entry / "environ").read_bytes().split(b"\0")
            zombie = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if carries and not zombie:
            found.append(int(entry.name))
    return found


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


def start_up_and_wait_for_a_pod(
    env: dict[str, str], emulator: Emulator
) -> tuple[subprocess.Popen[str], int, str]:
    """`v4infra up` mid-flight: the engine holds the lock and has rented the pre-fill's CPU pod."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra", "up", STACK],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    wait_until(lambda: record_path(env).is_file() and bool(emulator.inventory()["pods"]), "a pod mid-up")
    record = json.loads(record_path(env).read_text())
    assert record["pid"] == proc.pid
    return proc, int(record["engine_pgid"]), str(record["run_token"])


@pytest.mark.parametrize("timing", [SLOW])
def test_killed_up_leaves_no_engine_processes_and_down_cleans_up(
    emulator: Emulator, engine_env: dict[str, str], backend: Path
) -> None:
    proc, pgid, token = start_up_and_wait_for_a_pod(engine_env, emulator)
    assert engine_processes(token), "the record's token is in the engine's environment"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The CLI gets SIGINT from the kernel (parent-death signal), cancels, releases the lock and stops plugins.
    wait_until(
        lambda: not group_members(pgid) and not engine_processes(token),
        "the engine and its plugins exit after their parent died",
    )
    assert lock_files(backend) == []
    down = v4infra("down", STACK, env=engine_env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert emulator.inventory()["pods"] == []


@pytest.mark.parametrize("timing", [SLOW])
def test_a_stale_lock_from_a_run_killed_with_its_engine_is_healed_by_the_next_verb(
    emulator: Emulator, engine_env: dict[str, str], backend: Path
) -> None:
    proc, pgid, token = start_up_and_wait_for_a_pod(engine_env, emulator)
    # A crash that takes the engine with it (OOM killer, a lost machine): nothing could release the lock.
    os.killpg(pgid, signal.SIGKILL)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    wait_until(lambda: not group_members(pgid), "the killed engine is gone")
    assert lock_files(backend), "the kill left the stack locked"

    down = v4infra("down", STACK, env=engine_env)
    output = down.stdout + down.stderr
    assert down.returncode == 0, output
    assert "died" in output and f"recovered {STACK}: lock cancelled" in output, output
    assert "Traceback" not in output
    assert lock_files(backend) == []
    assert emulator.inventory()["pods"] == [], "a pod created by the killed run is still billed"
    assert not record_path(engine_env).exists()
    # Pulumi starts each plugin in a process group of its own: the killed run's plugins are found by token.
    assert engine_processes(token) == [], "plugins of the killed run are still running"


def test_wrong_passphrase_removes_nothing_the_state_owns(
    emulator: Emulator, engine_env: dict[str, str]
) -> None:
    up = v4infra("up", STACK, env=engine_env)
    assert up.returncode == 0, up.stdout + up.stderr
    (gpu_pod,) = [p["id"] for p in emulator.inventory()["pods"]]
    wrong = {**engine_env, "PULUMI_CONFIG_PASSPHRASE": "not-the-passphrase"}

    cleanup = v4infra("cleanup", STACK, "--yes", env=wrong)
    assert "Traceback" not in cleanup.stdout + cleanup.stderr
    assert [p["id"] for p in emulator.inventory()["pods"]] == [gpu_pod], cleanup.stdout + cleanup.stderr

    down = v4infra("down", STACK, env=wrong)
    assert down.returncode == 5, down.stdout + down.stderr
    assert gpu_pod in down.stderr and "Traceback" not in down.stdout + down.stderr
    assert [p["id"] for p in emulator.inventory()["pods"]] == [gpu_pod]

    assert v4infra("down", STACK, env=engine_env).returncode == 0
    assert emulator.inventory()["pods"] == []


def test_validate_with_secrets_only_in_the_stack_config(
    emulator: Emulator, engine_env: dict[str, str], canaries: tuple[str, str], project: Path
) -> None:
    runpod_key, hf_token = canaries
    env = {k: v for k, v in engine_env.items() if k not in ("RUNPOD_API_KEY", "HF_TOKEN")}
    commands = [["stack", "init", STACK]] + [
        ["config", "set", "--secret", "-s", STACK, f"deepseek-v4-infra:{key}", value]
        for key, value in (("runpodApiKey", runpod_key), ("hfToken", hf_token))
    ]
    for command in commands:
        done = subprocess.run(
            ["pulumi", "--non-interactive", *command], cwd=project, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    done = v4infra("validate", STACK, "--purge-cache", env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert emulator.inventory()["pods"] == [] and emulator.inventory()["volumes"] == []
    reports = list(Path.cwd().glob(f"reports/{STACK}/*/report.*"))
    assert len(reports) == 2
    for text in [output, *(p.read_text() for p in reports)]:
        assert runpod_key not in text and hf_token not in text
