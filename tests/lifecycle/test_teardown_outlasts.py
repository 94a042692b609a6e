"""Teardown outlasts the API: 429/5xx bursts are retried up to a deadline, and the report is always written.

Before, a burst of 502s longer than the client's own retries aborted `down`, and `validate` lost its
report from the `finally` block.
"""

from __future__ import annotations

import json
import os

import pytest
from lifecycle_env import STACK, Setup

from infra.emulator import Faults
from infra.lifecycle import Lifecycle


@pytest.fixture
def in_process(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> Setup:
    """`Lifecycle` in this process sees the same environment the subprocess tests give `v4infra`."""
    for name in set(os.environ) - set(setup.env):
        monkeypatch.delenv(name)
    for name, value in setup.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(setup.project)
    return setup


def test_down_outlasts_a_burst_of_502s_longer_than_the_clients_retries(in_process: Setup) -> None:
    stray = in_process.pod(in_process.name("pod", "abc123"))
    # The client gives up after 4 attempts; ten 502s in a row outlast it twice.
    in_process.emulator.set_faults(Faults(server_errors=10))
    with Lifecycle(STACK) as life:
        assert life.down() == []
    assert stray not in in_process.live_pods()
    assert in_process.emulator.faults.server_errors == 0, "the burst was not consumed"


def test_validate_writes_its_report_naming_what_is_live_when_the_api_stays_down(in_process: Setup) -> None:
    in_process.pod(in_process.name("pod", "abc123"))
    # RunPod answers 502 to everything for longer than the teardown deadline.
    in_process.emulator.set_faults(Faults(server_errors=100_000))
    with Lifecycle(STACK, teardown_deadline=3.0) as life:
        report, json_path, md_path = life.validate()
    assert report.teardown is not None and not report.teardown.ok
    data = json.loads(json_path.read_text())
    assert data["teardown"]["ok"] is False
    (left,) = data["teardown"]["leftover"]
    assert "RunPod could not be asked" in left, left
    assert "TEARDOWN INCOMPLETE" in md_path.read_text()
