"""`validate` on the real engine when things go wrong: each run ends with no pod billed and one clear cause."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from infra.emulator import Emulator, Faults, Timing
from infra.lifecycle import Lifecycle
from infra.validate.report import ValidationReport

pytestmark = pytest.mark.engine
STACK = "flash-4xh200"
# The engine takes 100 simulated minutes (10 s) to load: long enough to be caught mid-load.
SLOW_LOAD = Timing(start_seconds=60, load_seconds=6000)
TEARDOWN_CONFIRMED = "teardown confirmed: no pod of this stack is left at RunPod"


def gpu_pods(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == "gpu"]


def failed_stage(report: ValidationReport) -> tuple[str, str]:
    failed = [s for s in report.stages if not s.passed]
    assert failed, "validation passed although a fault was injected"
    return failed[0].name, failed[0].reason


def validate(emulator: Emulator, faults: Faults) -> ValidationReport:
    emulator.set_faults(faults)
    with Lifecycle(STACK) as life:
        report, json_path, md_path = life.validate()
    assert json_path.is_file() and md_path.is_file()
    assert report.teardown is not None and report.teardown.ok, report.teardown
    assert emulator.inventory()["pods"] == [], "a pod is still billed after validate"
    return report


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        ("oom", "the GPUs ran out of memory"),
        ("arch", "vLLM too old for DeepSeek V4"),
        ("keyerror", "this vLLM build only partly knows the DeepSeek V4 config"),
        ("tp16", "the tensor-parallel size does not divide the weights evenly"),
        ("pp", "vLLM cannot run DeepSeek V4 with pipeline parallelism"),
        ("hub401", "the Hugging Face hub refused the download"),
    ],
)
def test_engine_failure_is_explained_in_one_line_and_torn_down(
    emulator: Emulator, engine_env: dict[str, str], fault: str, cause: str
) -> None:
    report = validate(emulator, Faults(engine_fault=fault))
    stage, reason = failed_stage(report)
    assert stage == "engine-health"
    assert reason.startswith(cause), reason
    assert "\n" not in reason and "Traceback" not in reason


def test_pod_created_despite_an_api_error_is_adopted_not_rented_twice(
    emulator: Emulator, engine_env: dict[str, str]
) -> None:
    # Both pod creates (the pre-fill's CPU pod, then the GPU pod) make the pod and answer HTTP 500.
    report = validate(emulator, Faults(error_after_create=2))
    assert report.passed, failed_stage(report)
    assert emulator.faults.error_after_create == 0, "the fault never reached the GPU pod's create"
    history = emulator.inventory()["history"]
    assert sorted(p["kind"] for p in history) == ["cpu", "gpu"], history


def test_no_capacity_anywhere_fails_up_with_what_was_tried_and_rents_nothing(
    emulator: Emulator, engine_env: dict[str, str]
) -> None:
    report = validate(emulator, Faults(capacity_gpu_types=["NVIDIA H200"]))
    stage, reason = failed_stage(report)
    assert stage == "up"
    assert "no capacity" in reason.lower() and "NVIDIA H200" in reason, reason
    assert gpu_pods(emulator.inventory()["history"]) == [], "no GPU pod was ever billed"


@pytest.mark.timeout(90)  # a dead pod must be noticed long before the 60-minute load budget
@pytest.mark.parametrize("timing", [SLOW_LOAD])
@pytest.mark.parametrize(
    ("die_after", "stages", "reason"),
    [
        # 30 simulated minutes (3 s) after it starts: about when the checks connect over SSH.
        # Under load `up` may still be finishing when it dies: then up itself fails, fast.
        (1800, ("up", "gpu-preflight", "engine-health"), ""),
        # 70 simulated minutes (7 s): while the engine loads (10 s).
        (4200, ("engine-health",), "the pod stopped while the engine was loading"),
    ],
    ids=["right-after-up", "mid-engine-load"],
)
def test_pod_dying_during_the_checks_fails_the_run_and_is_torn_down(
    emulator: Emulator, engine_env: dict[str, str], die_after: float, stages: tuple[str, ...], reason: str
) -> None:
    report = validate(emulator, Faults(die_after_seconds=die_after))
    stage, why = failed_stage(report)
    assert stage in stages, (stage, why)
    assert why and why.startswith(reason) and "\n" not in why, why
    assert len(gpu_pods(emulator.inventory()["history"])) == 1


class RunningCli:
    """`python -m infra validate` in a subprocess; its output lines collected as they arrive."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "infra", "validate", STACK],
            env={**env, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._seen:
                self.lines.append(line)
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    def wait_for(self, text: str, timeout: float) -> None:
        with self._seen:
            found = self._seen.wait_for(
                lambda: any(text in line for line in self.lines) or self.proc.poll() is not None, timeout
            )
        assert found and any(text in line for line in self.lines), f"never saw {text!r}:\n{self.output}"

    def finish(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code

    @property
    def output(self) -> str:
        with self._seen:
            return "".join(self.lines)


@pytest.mark.parametrize("timing", [SLOW_LOAD])
@pytest.mark.parametrize(
    ("sig", "after"),
    [
        (signal.SIGINT, "up flash-4xh200:"),
        (signal.SIGINT, "up done"),
        (signal.SIGINT, "PASS gpu-preflight"),
        (signal.SIGTERM, "up done"),
        (signal.SIGTERM, "PASS gpu-preflight"),
    ],
    ids=[
        "sigint-during-up",
        "sigint-after-up",
        "sigint-mid-engine-load",
        "sigterm-after-up",
        "sigterm-mid-engine-load",
    ],
)
def test_signal_mid_validate_tears_down_and_leaks_no_secret(
    emulator: Emulator,
    engine_env: dict[str, str],
    canaries: tuple[str, str],
    sig: signal.Signals,
    after: str,
) -> None:
    cli = RunningCli(engine_env, Path.cwd())
    try:
        cli.wait_for(after, timeout=120)
        if after == "up flash-4xh200:":
            # Mid-`pulumi up`: wait until the engine has started renting (the pre-fill's CPU pod).
            deadline = time.monotonic() + 60
            while not emulator.inventory()["pods"] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert emulator.inventory()["pods"], "pulumi up never created the pre-fill pod"
        else:
            assert [p["kind"] for p in emulator.inventory()["pods"]] == ["gpu"]
        cli.proc.send_signal(sig)
        code = cli.finish(timeout=120)
    finally:
        if cli.proc.poll() is None:
            cli.proc.kill()
            cli.proc.wait()
    output = cli.output
    assert code == 128 + sig, output
    assert "Traceback" not in output, output
    assert "interrupted" in output and TEARDOWN_CONFIRMED in output, output
    assert emulator.inventory()["pods"] == []
    reports = sorted(Path.cwd().glob(f"reports/{STACK}/*/report.*"))
    assert len(reports) == 2, output
    for text in [output, *(path.read_text() for path in reports)]:
        assert not [c for c in canaries if c in text], "a canary secret was printed or reported"
