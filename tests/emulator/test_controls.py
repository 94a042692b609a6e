"""The emulator's own API (/_emulator): the bill, terminate behind the client's back, reset."""

from __future__ import annotations

import httpx
import runpod
from recording_runtime import RecordingRuntime
from sdk_pods import H200, VOLUMES, h200_pod, volume_body
from v2_client import V2

from infra.emulator import Emulator


def test_terminate_behind_the_clients_back(emulator: Emulator) -> None:
    pod_id = h200_pod()["id"]
    assert httpx.post(f"{emulator.url}/_emulator/pods/{pod_id}/terminate").status_code == 200
    assert runpod.get_pod(pod_id) is None


def test_reset_forgets_everything(emulator: Emulator, runtimes: list[RecordingRuntime]) -> None:
    h200_pod()
    with V2(emulator) as v2:
        assert v2.post(VOLUMES, volume_body("w", 10, "EU-RO-1")).status_code == 201
    httpx.post(f"{emulator.url}/_emulator/reset").raise_for_status()
    inventory = emulator.inventory()
    assert inventory["pods"] == [] and inventory["volumes"] == [] and inventory["history"] == []
    assert inventory["stock"]["EU-RO-1"][H200] == 16
