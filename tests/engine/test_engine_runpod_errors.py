"""Errors raised inside the RunPod providers, through the real engine, reach the CLI with their class.

`v4infra up` runs the Pulumi engine, whose dynamic providers raise `CarriedError`; the lifecycle rebuilds
the error (infra/errors.py), so the CLI prints its one line and exits with its own code. Each run is a
subprocess, as a user's would be, against the emulator and the local hub.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from infra.emulator import Emulator
from infra.emulator.pod_log import PodLog
from infra.errors import CapacityError, exit_code
from infra.ssh import generate_keypair

pytestmark = pytest.mark.engine


def up(stack: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra", "up", stack],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )


def error_lines(out: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in out.stderr.splitlines() if line.startswith("error:")]


def test_no_capacity_for_any_acceptable_gpu_exits_7_with_the_capacity_line_and_rents_nothing(
    emulator: Emulator, engine_env: dict[str, str], project: Path
) -> None:
    emulator.set_stock({})  # no GPU of any type free in any data center
    out = up("flash-4xh200", engine_env, project)
    assert out.returncode == exit_code(CapacityError("x")) == 7, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    errors = error_lines(out)
    assert len(errors) == 1, out.stderr
    assert "no capacity for 4x NVIDIA H200" in errors[0] and "v4infra-error" not in errors[0]
    inventory = emulator.inventory()
    assert inventory["pods"] == [], "nothing is left billing"
    assert all(p["kind"] == "cpu" for p in inventory["history"]), "no GPU pod was ever rented"


def test_an_impostor_on_the_prefill_pod_fails_up_and_no_gpu_pod_is_rented(
    emulator: Emulator, engine_env: dict[str, str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # RunPod's log shows another key than the one the pod's sshd presents: what an impostor looks like.
    impostor = generate_keypair("impostor")[1]
    append = PodLog.append

    def shown(self: PodLog, source: str, line: str, at: float) -> None:
        append(self, source, re.sub(r"v4infra-hostkey:.*", f"v4infra-hostkey: {impostor}", line), at)

    monkeypatch.setattr(PodLog, "append", shown)
    out = up("flash-4xh200", engine_env, project)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    errors = error_lines(out)
    assert len(errors) == 1 and "refusing to connect" in errors[0], out.stderr
    inventory = emulator.inventory()
    assert inventory["pods"] == [], "the pre-fill's CPU pod is gone"
    assert [p["kind"] for p in inventory["history"]] == ["cpu"], "no GPU pod was rented after the refusal"
