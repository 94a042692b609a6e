"""`validate` and `up` prove RunPod's behaviour on the account before renting a GPU (issue 14).

The canary runs first on an account with no recent pass and is skipped on a second run within the
window; when an assumption is broken, nothing is rented and the broken assumption is named.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.emulator import Emulator, Faults
from infra.errors import CanaryFailed
from infra.lifecycle import Lifecycle
from infra.targets.runpod import canary

pytestmark = pytest.mark.engine
STACK = "flash-4xh200"


@pytest.fixture
def new_account(engine_env: dict[str, str], tmp_path: Path) -> Path:
    """The seeded pass of engine_env removed: this account has never run the canary."""
    records = tmp_path / "state" / "canary"
    for record in records.glob("*.json"):
        record.unlink()
    return records


def canary_pods(emulator: Emulator) -> list[dict[str, object]]:
    everything = emulator.inventory()["history"] + emulator.inventory()["pods"]
    return [p for p in everything if str(p.get("name", "")).startswith("v4i-canary-pod-")]


def test_validate_runs_the_canary_first_on_a_new_account_and_skips_it_within_the_window(
    emulator: Emulator, new_account: Path
) -> None:
    with Lifecycle(STACK) as life:
        report, json_path, _ = life.validate()
    assert [s.name for s in report.stages][:2] == ["canary", "up"], report.stages
    assert report.stages[0].passed and "canary passed" in report.stages[0].reason
    assert len(canary_pods(emulator)) == 1 and emulator.inventory()["pods"] == []
    assert [p.name for p in new_account.glob("*.json")], "a passing record was written"
    assert json.loads(json_path.read_text())["stages"][0]["name"] == "canary"

    with Lifecycle(STACK) as again:
        second, _, _ = again.validate()
    assert second.stages[0].name == "canary" and "not run again" in second.stages[0].reason
    assert len(canary_pods(emulator)) == 1, "the canary ran twice within its window"


def test_up_refuses_to_rent_when_an_assumption_broke_and_names_it(
    emulator: Emulator, new_account: Path
) -> None:
    emulator.set_faults(Faults(reject_pod_key=True))
    with Lifecycle(STACK) as life, pytest.raises(CanaryFailed) as caught:
        life.up()
    message = str(caught.value)
    assert canary.BY_KEY["self-terminate"].claim in message and "startCommand: plain" in message
    assert "nothing was rented" in message
    inventory = emulator.inventory()
    assert inventory["pods"] == [] and inventory["volumes"] == []
    assert not [p for p in inventory["history"] if p["kind"] == "gpu"], "a GPU pod was rented"


def test_skip_canary_rents_without_it_and_the_report_says_so(emulator: Emulator, new_account: Path) -> None:
    emulator.set_faults(Faults(reject_pod_key=True))
    with Lifecycle(STACK, skip_canary=True) as life:
        report, _, md_path = life.validate()
    assert report.stages[0].name == "canary" and "skipped (--skip-canary)" in report.stages[0].reason
    assert "--skip-canary" in md_path.read_text()
    assert canary_pods(emulator) == []
