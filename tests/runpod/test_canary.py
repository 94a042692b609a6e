"""The canary against the emulator: it passes when RunPod behaves as assumed, names each broken assumption
when the emulator is told to break it, and always leaves nothing billed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.emulator import Emulator, Faults, Timing
from infra.targets.runpod import canary
from infra.targets.runpod.client import RetryPolicy, RunPodClient, RunPodSettings

H200 = "NVIDIA H200"
KEY = "rpa_CANARYaccountKEY0123456789"


@pytest.fixture
def emulator() -> Emulator:
    emu = Emulator(
        api_key=KEY, time_scale=20.0, timing=Timing(start_seconds=2, load_seconds=2, restart_seconds=2)
    )
    emu.start()
    yield emu
    emu.stop()


def run(emulator: Emulator, faults: Faults | None = None) -> canary.CanaryReport:
    if faults is not None:
        emulator.set_faults(faults)
    client = RunPodClient(RunPodSettings.from_env(env=emulator.env()), retry=RetryPolicy(3, 0.01, 0.05))
    lines: list[str] = []
    report = canary.Canary(
        client,
        ["US-TX-3"],
        [H200],
        4,
        timeout_seconds=150,
        poll_seconds=0.3,
        start_grace_seconds=10,
        on_line=lines.append,
    ).run()
    inventory = emulator.inventory()
    assert inventory["pods"] == [] and inventory["volumes"] == [], "the canary left something billed"
    assert len(lines) == len(canary.ASSUMPTIONS)
    return report


def test_the_canary_passes_where_runpod_behaves_as_assumed_and_costs_under_five_cents(
    emulator: Emulator, tmp_path: Path
) -> None:
    report = run(emulator)
    assert report.passed, [c.line() for c in report.checks]
    assert report.usd < 0.05
    # It ends as validate does: what it made and removed at RunPod, what is left, and the bill RunPod keeps.
    assert report.cost_source == "RunPod billing API, hourly buckets"
    pod = next(c for c in report.created if c.startswith("CPU pod "))
    volume = next(c for c in report.created if c.startswith("network volume "))
    assert pod in " ".join(report.removed) and volume in report.removed and report.leftover == []
    line = report.inventory()
    assert "\n" not in line and line.startswith(f"at RunPod: created {volume}, {pod}; removed ")
    assert "; left: nothing; cost $" in line and line.endswith("(RunPod billing API, hourly buckets)")
    assert report.api_version == "v2" and KEY not in json.dumps(report.to_dict())
    path = canary.write_record(tmp_path, KEY, report)
    assert KEY not in path.read_text() and report.account in path.name
    assert canary.fresh_pass(tmp_path, KEY, 7) is not None
    later = datetime.now(UTC) + timedelta(days=8)
    assert canary.fresh_pass(tmp_path, KEY, 7, now=later) is None, "older than the window: run it again"
    assert canary.fresh_pass(tmp_path, "rpa_another_account", 7) is None


@pytest.mark.parametrize(
    ("faults", "broken", "fallback"),
    [
        (Faults(json_start_command="refuse"), "start-command", "startCommand: plain"),
        (Faults(json_start_command="ignore"), "start-command", "startCommand: plain"),
        (Faults(never_restart=True), "restart", None),
        (Faults(reject_pod_key=True), "self-terminate", "startCommand: plain"),
        (Faults(drop_pod_field="cost"), "shapes", None),
        (Faults(ignore_mount_path=True), "volume", None),
        (Faults(no_log_stream=True), "logs", None),
    ],
    ids=[
        "json-refused",
        "json-ignored",
        "never-restart",
        "pod-key-rejected",
        "field-dropped",
        "mount-path",
        "no-logs",
    ],
)
def test_each_broken_assumption_is_named_with_its_fallback(
    emulator: Emulator, faults: Faults, broken: str, fallback: str | None
) -> None:
    report = run(emulator, faults)
    assert not report.passed
    failed = {c.key for c in report.failed()}
    assert broken in failed, [c.line() for c in report.checks]
    summary = report.summary()
    if report.failed()[0].key == broken:
        assert canary.BY_KEY[broken].claim in summary
        assert (fallback in summary) if fallback else ("no documented fallback" in summary)
